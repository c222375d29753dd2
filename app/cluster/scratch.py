"""A node's scratch folder: each request's inputs and outputs while its task runs.

Every replica on a node shares the node's data folder, so a run's folder carries the pid of the
replica process that made it (`run-<pid>-...`): a replica starting up removes the folders of
replicas that are gone (killed mid-task, or the node restarted), never those of a live one.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from pathlib import Path

import psutil

log = logging.getLogger(__name__)
_RUN = re.compile(r"^run-(\d+)-")


def new_run_folder(scratch: Path) -> Path:
    """A fresh folder for one request's files, named after this process (OSError if unwritable)."""
    scratch.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=scratch))


def sweep_stale_runs(scratch: Path) -> int:
    """Remove the run folders whose replica process no longer runs; how many were removed. A
    folder of another name is left alone (the scratch folder holds only what this module made)."""
    removed = 0
    try:
        entries = list(scratch.iterdir())
    except OSError:  # no scratch folder yet, or unreadable: nothing of ours to remove
        return 0
    for entry in entries:
        match = _RUN.match(entry.name)
        if match and entry.is_dir() and not entry.is_symlink() and not psutil.pid_exists(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed += not entry.exists()
    if removed:
        log.info("removed %d run folder(s) left by replicas that are gone", removed)
    return removed
