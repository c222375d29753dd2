"""Reading from a server that may never stop: whole answers and lines with a byte limit.

`http.client` reads a body or a line for as long as the server sends; a hostile or broken server
sending one endless line would fill memory. These read at most `limit` bytes and raise
`TooLarge` past it.
"""

from __future__ import annotations

from typing import BinaryIO, Iterator


class TooLarge(ValueError):
    """The server sent more than the limit; the message says how much was allowed."""


def read_bounded(stream: BinaryIO, limit: int, what: str = "the answer") -> bytes:
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise TooLarge(f"{what} is larger than {_size(limit)}")
    return data


def lines_bounded(stream: BinaryIO, limit: int, what: str = "a line") -> Iterator[bytes]:
    """The stream's lines, each at most `limit` bytes (its newline included)."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) > limit:
            raise TooLarge(f"{what} is longer than {_size(limit)}")
        yield line


def _size(limit: int) -> str:
    return f"{limit / 2**20:g} MiB" if limit >= 2**20 else f"{limit / 1024:g} KiB"
