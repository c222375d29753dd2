"""The headless command line. Each command lives in `app/commands/<name>.py` with an
`add_parser(subparsers)` that registers it and sets `handler`; modules there are found by name."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from core.history.store import StorageError
from core.llm.controller import ControllerError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input on the command line; printed as one line, exit status 2."""


class CommandFailed(Exception):
    """The input was fine but the work failed (a damaged file, the network, the disk); printed as
    one line, exit status 1."""


def build_parser() -> argparse.ArgumentParser:
    import importlib
    import pkgutil

    import app.commands

    parser = argparse.ArgumentParser(prog="main.py", description="Local, offline HuggingGPT.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command")
    for module in sorted(m.name for m in pkgutil.iter_modules(app.commands.__path__)):
        importlib.import_module(f"app.commands.{module}").add_parser(commands)
    return parser


# Arguments that are free text, not names: bytes in them that are not UTF-8 (a Latin-1 terminal, a
# script's binary data) become U+FFFD here, since the database, JSON and the models need text.
TEXT_ARGUMENTS = ("request", "text")


def readable(value: str) -> str:
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def check_file_name(option: str, path: str) -> None:
    """A file name that is not UTF-8 cannot be stored in the record; say so before any work."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{option} {ascii(path)}: the file name is not valid UTF-8; rename the file") from None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    for name in TEXT_ARGUMENTS:
        value = getattr(args, name, None)
        if isinstance(value, str):
            setattr(args, name, readable(value))
        elif isinstance(value, list):
            setattr(args, name, [readable(v) if isinstance(v, str) else v for v in value])
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return args.handler(args)
    except (UsageError, ControllerError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except (CommandFailed, StorageError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # the reader went away (`| head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
