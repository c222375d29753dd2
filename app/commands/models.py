"""`main.py models ...`: list, catalogue, download, import, verify and remove models.

Module-level imports stay light: the command line imports every command module at start-up.
"""

from __future__ import annotations

import json
import sys

from app.cli import EXIT_OK, CommandFailed, UsageError


def add_parser(commands) -> None:
    models = commands.add_parser("models", help="the model manager: list, download, import, verify, remove")
    sub = models.add_subparsers(dest="models_command", metavar="ACTION")
    models.set_defaults(handler=lambda args: _usage(models))

    listing = sub.add_parser("list", help="installed models (and downloads not finished)")
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(handler=cmd_list)

    catalogue = sub.add_parser("catalogue", help="recommended models for each task and controller GGUFs")
    catalogue.add_argument("--task", metavar="TASK", help="only this task (or 'controller')")
    catalogue.add_argument("--json", action="store_true", help="print JSON")
    catalogue.set_defaults(handler=cmd_catalogue)

    download = sub.add_parser("download", help="download a model from the Hugging Face Hub (or a mirror)")
    download.add_argument("repo_id", metavar="REPO_ID", help="e.g. hustvl/yolos-tiny")
    download.add_argument("--revision", default="main", metavar="REV", help="branch, tag or commit (default main)")
    download.add_argument("--include", action="append", default=[], metavar="PATTERN",
                          help="only files matching this glob (repeatable), e.g. '*Q4_K_M.gguf'")
    download.add_argument("--task", metavar="TASK", help="the task the model does, if the Hub does not say")
    download.add_argument("--endpoint", metavar="URL", help="a Hub mirror (default $HF_ENDPOINT or huggingface.co)")
    download.add_argument("--use-hf-token", action="store_true",
                          help="send your Hugging Face token ($HF_TOKEN or `hf auth login`), for gated models")
    download.set_defaults(handler=cmd_download)

    importer = sub.add_parser("import", help="import a model folder or a .gguf file")
    importer.add_argument("path", metavar="PATH")
    importer.add_argument("--task", metavar="TASK", help="the task it does (default: read from its config)")
    importer.add_argument("--id", dest="model_id", metavar="ID", help="its name in the list (default: folder or file name)")
    importer.add_argument("--move", action="store_true", help="move the files instead of copying them")
    importer.set_defaults(handler=cmd_import)

    verify = sub.add_parser("verify", help="re-hash every file of a model against the recorded hashes")
    verify.add_argument("model_id", metavar="ID")
    verify.set_defaults(handler=cmd_verify)

    remove = sub.add_parser("remove", help="delete a model's files")
    remove.add_argument("model_id", metavar="ID")
    remove.set_defaults(handler=cmd_remove)


def _usage(parser) -> int:
    parser.print_help()
    return 2


def _store():
    from app.settings import Settings
    from models.store import LocalStore

    return LocalStore(Settings.load().data_path)


def _task(name: str | None) -> str | None:
    """Normalised, and known to the engine (or the controller)."""
    if name is None:
        return None
    from core.tasks import get_task_type, task_names
    from models.record import CONTROLLER_TASK

    if name.strip().lower() == CONTROLLER_TASK:
        return CONTROLLER_TASK
    task = get_task_type(name)
    if task is None:
        raise UsageError(f"--task {name}: unknown task; known tasks: {', '.join(task_names())}, controller")
    return task.name


def human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


# -- list / catalogue ----------------------------------------------------------------------------

def cmd_list(args) -> int:
    records = _store().list()
    if args.json:
        print(json.dumps([r.to_dict() for r in records], indent=2))
        return EXIT_OK
    if not records:
        print("no models installed")
    else:
        rows = [(r.id, r.task, r.format, human(r.size_bytes), "installed" if r.complete else "partial", r.source)
                for r in records]
        _table(("ID", "TASK", "FORMAT", "SIZE", "STATUS", "SOURCE"), rows)
    _print_memory_share()
    _print_builtin_and_unavailable()
    return EXIT_OK


def _print_memory_share() -> None:
    """The one memory budget and the controller's share of it (README, one memory budget)."""
    from app.memory_share import memory_share
    from app.settings import Settings

    print("\n" + memory_share(Settings.load()).describe(human))


def _print_builtin_and_unavailable() -> None:
    """The tasks that need no model, and those the app does not run, with the reason."""
    from core.tasks import UNAVAILABLE
    from models.runners import builtin_records

    builtins = builtin_records()
    if builtins:
        print("\nbuilt in (no model needed): " + ", ".join(f"{r.task} ({r.id})" for r in builtins))
    for name, reason in UNAVAILABLE.items():
        print(f"\n{name}: not available: {reason}")


def _table(header, rows) -> None:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    for row in (header, *rows):
        print("  ".join(str(x).ljust(w) for x, w in zip(row, widths)).rstrip())


def cmd_catalogue(args) -> int:
    from dataclasses import asdict

    from models.catalogue import load_catalogue
    from models.record import CONTROLLER_TASK

    catalogue = load_catalogue()
    task = _task(args.task)
    installed = {r.id for r in _store().list() if r.complete}
    experts = [e for e in catalogue.experts if task in (None, e.task)]
    controllers = list(catalogue.controllers) if task in (None, CONTROLLER_TASK) else []
    if args.json:
        from core.tasks import UNAVAILABLE

        print(json.dumps({"experts": [{**asdict(e), "installed": e.id in installed} for e in experts],
                          "controllers": [{**asdict(c), "id": c.id, "installed": c.id in installed} for c in controllers],
                          "task_notes": {t: n for t, n in catalogue.task_notes.items() if task in (None, t)},
                          "unavailable": {t: r for t, r in UNAVAILABLE.items() if task in (None, t)}},
                         indent=2))
        return EXIT_OK
    if experts:
        _table(("TASK", "MODEL", "DOWNLOAD", "MEMORY", "SAFETENSORS", "LICENSE", ""),
               [(e.task, e.id, human(e.download_bytes), human(e.memory_bytes), "yes" if e.safetensors else "NO",
                 e.license, "installed" if e.id in installed else "") for e in experts])
    for name, note in catalogue.task_notes.items():
        if task in (None, name):
            print(f"\n{name}: {note}")
    if controllers:
        print("\ncontroller GGUFs (models download REPO --include FILE):")
        _table(("REPO", "FILE", "QUANT", "SIZE", "MEMORY", "LICENSE", ""),
               [(c.repo, c.file, c.quantization, human(c.size_bytes), human(c.memory_bytes), c.license,
                 "installed" if c.id in installed else "") for c in controllers])
    return EXIT_OK


# -- download ------------------------------------------------------------------------------------

class TerminalProgress:
    """Prints download progress: one rewritten line on a terminal, a line per file otherwise."""

    def __init__(self, out=sys.stderr) -> None:
        self.out = out
        self.tty = out.isatty()
        self.files_done = -1

    def __call__(self, event) -> None:
        if event.phase not in ("downloading", "verifying"):
            return
        if self.tty:
            eta = f"ETA {event.eta_s:.0f}s" if event.eta_s is not None else "ETA --"
            line = (f"\r{event.file[:40]:40}  {human(event.done_bytes)} / {human(event.total_bytes)}  "
                    f"{event.fraction:4.0%}  {human(event.speed_bps)}/s  {eta}  ({event.phase})")
            self.out.write(line.ljust(110))
            self.out.flush()
        elif event.files_done != self.files_done:
            self.files_done = event.files_done
            self.out.write(f"{event.files_done}/{event.files_total} files, {human(event.done_bytes)} of "
                           f"{human(event.total_bytes)}\n")

    def close(self) -> None:
        if self.tty:
            self.out.write("\n")


def cmd_download(args) -> int:
    from core.offline import netguard
    from models.downloads import Downloader
    from models.errors import ModelManagerError
    from models.hubclient import HubError, check_repo_id, check_revision, saved_token
    from models.progress import DownloadProgress

    token = None
    if args.use_hf_token:
        token = saved_token()
        if token is None:
            raise UsageError("--use-hf-token: no token found (set HF_TOKEN or run `hf auth login`)")
    try:  # bad input (exit 2) before anything is fetched; what fails later is the download's (exit 1)
        check_repo_id(args.repo_id)
        check_revision(args.revision)
    except HubError as error:
        raise UsageError(str(error)) from None
    downloader = Downloader(_store(), endpoint=args.endpoint, token=token, network_window=netguard.allowing)
    progress = DownloadProgress()
    printer = TerminalProgress()
    progress.subscribe(printer)
    print(f"downloading {args.repo_id}@{args.revision} from {downloader.endpoint}", file=sys.stderr)
    try:
        records = downloader.download(args.repo_id, args.revision, args.include, _task(args.task), progress)
    except ModelManagerError as error:
        printer.close()
        raise CommandFailed(str(error)) from None
    except KeyboardInterrupt:
        printer.close()
        print("interrupted: the partial files are kept; run the same command again to resume", file=sys.stderr)
        return 130
    printer.close()
    for record in records:
        print(f"installed {record.id} ({record.task}, {record.format}, {human(record.size_bytes)}) at {record.path}")
    return EXIT_OK


# -- import / verify / remove --------------------------------------------------------------------

def cmd_import(args) -> int:
    from models.errors import ModelManagerError
    from models.importer import import_model

    try:
        record = import_model(_store(), args.path, task=_task(args.task), model_id=args.model_id, move=args.move)
    except ModelManagerError as error:
        raise UsageError(str(error)) from None
    print(f"imported {record.id} ({record.task}, {record.format}, {human(record.size_bytes)}) at {record.path}")
    return EXIT_OK


def cmd_verify(args) -> int:
    from models.errors import ModelManagerError
    from models.maintenance import verify

    def on_file(name: str, index: int, count: int) -> None:  # on a terminal only: hashing GBs takes a while
        sys.stderr.write(f"\rchecking {index + 1}/{count} {name[:60]}".ljust(80))
        sys.stderr.flush()

    try:
        report = verify(_store(), args.model_id, on_file=on_file if sys.stderr.isatty() else None)
    except ModelManagerError as error:
        raise UsageError(str(error)) from None
    if sys.stderr.isatty():
        sys.stderr.write("\n")
    for name in report.unchecked:
        print(f"  {name}: no recorded hash; its header is consistent")
    if report.ok:
        print(f"{report.id}: OK, {len(report.checked)} files ({human(report.bytes_checked)}) match their recorded hashes")
        return EXIT_OK
    raise CommandFailed(f"{report.id} is damaged: " + "; ".join(report.problems)
                     + " (remove it and download or import it again)")


def cmd_remove(args) -> int:
    from models.errors import ModelManagerError
    from models.maintenance import remove

    try:
        removed = remove(_store(), args.model_id)
    except ModelManagerError as error:
        raise UsageError(str(error)) from None
    print(f"removed {removed.id}: {human(removed.bytes_freed)} freed")
    return EXIT_OK
