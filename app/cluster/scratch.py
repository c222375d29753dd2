"""A node's scratch folder: each request's inputs and outputs while its task runs.

Every replica on a node shares the node's data folder, so a run's folder carries the host and pid
of the replica process that made it (`run-<host>-<pid>-...`): a replica starting up removes the
folders of this host's replicas that are gone (killed mid-task, or the node restarted), never
those of a live one, nor any made on another host (a data folder on a shared disk, where a pid
says nothing).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

import psutil

log = logging.getLogger(__name__)


def _host() -> str:
    """This host's name as a folder name can hold it (letters, digits, dots)."""
    return re.sub(r"[^A-Za-z0-9.]", ".", socket.gethostname()) or "host"


def new_run_folder(scratch: Path) -> Path:
    """A fresh folder for one request's files, named after this host and process (OSError if
    unwritable)."""
    scratch.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"run-{_host()}-{os.getpid()}-", dir=scratch))


def sweep_stale_runs(scratch: Path) -> int:
    """Remove this host's run folders whose replica process no longer runs; how many were
    removed. Any other entry is left alone."""
    removed = 0
    try:
        entries = list(scratch.iterdir())
    except OSError:  # no scratch folder yet, or unreadable: nothing of ours to remove
        return 0
    mine = re.compile(rf"^run-{re.escape(_host())}-(\d+)-[^-]+$")
    for entry in entries:
        match = mine.match(entry.name)
        if match and entry.is_dir() and not entry.is_symlink() and not psutil.pid_exists(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed += not entry.exists()
    if removed:
        log.info("removed %d run folder(s) left by replicas that are gone", removed)
    return removed
