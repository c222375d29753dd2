"""Checks of settings values against this machine, beyond their types: the file a path names, the
form of a URL, a folder that can be written, a context the model was trained for. The settings
page shows them on each field as the person types and refuses to save while any stands; the
types and ranges themselves are checked by `Settings` (pydantic) on load and on save."""

from __future__ import annotations

import os
import tempfile
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from app.settings import Settings


def check(settings: Settings) -> dict[str, str]:
    """Field name -> what is wrong with it, for every field that has a problem."""
    problems = {}
    for field, checker in (("controller_path", _controller_path), ("controller_url", _controller_url),
                           ("experts_url", _experts_url),
                           ("data_dir", _data_dir), ("n_ctx", _n_ctx)):
        message = checker(settings)
        if message:
            problems[field] = message
    return problems


def _controller_path(settings: Settings) -> str:
    if not settings.controller_path:
        return ""
    from core.llm.controller import ControllerError, check_gguf

    try:
        check_gguf(Path(settings.controller_path).expanduser())
    except ControllerError as error:
        return str(error)
    return ""


def _server_url(url: str, example: str) -> str:
    """What is wrong with a server URL (empty: nothing, or no URL)."""
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        return f"a server URL looks like {example}"
    try:
        parts.port
    except ValueError:
        return f"the port in {url} is not a number from 1 to 65535"
    return ""


def _controller_url(settings: Settings) -> str:
    return _server_url(settings.controller_url, "http://host:port/v1")


def _experts_url(settings: Settings) -> str:
    return _server_url(settings.experts_url, "http://host:8000/experts")


def _data_dir(settings: Settings) -> str:
    """Writable means a file can be made there: probed in the nearest folder that exists, with a
    temporary folder removed at once (nothing is created where the person is still typing)."""
    if not settings.data_dir:
        return ""
    path = Path(settings.data_dir).expanduser()
    if not path.is_absolute():
        return "give the full path of the folder"
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    try:
        os.rmdir(tempfile.mkdtemp(dir=existing, prefix=".jarvis-probe-"))
    except OSError as error:
        return f"{existing} cannot be written ({error.strerror or error})"
    return ""


def _n_ctx(settings: Settings) -> str:
    """Not beyond what the controller was trained on: longer contexts cost memory and answer worse."""
    if settings.controller_url:
        return ""
    from app.wiring import controller_path
    from core.llm.controller import ControllerError

    try:
        path = controller_path(settings)
        trained = _trained_context(str(path), path.stat().st_mtime_ns)
    except (ControllerError, OSError):
        return ""  # the path's own check says what is wrong
    if trained and settings.n_ctx > trained:
        return f"{path.name} was trained on {trained} tokens; use at most that"
    return ""


@lru_cache(maxsize=8)
def _trained_context(path: str, _mtime_ns: int) -> int | None:
    """Cached per file version: the page checks on every keystroke."""
    from models.formats import FormatError, trained_context

    try:
        return trained_context(Path(path))
    except (FormatError, OSError):
        return None
