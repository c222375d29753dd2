"""A node's scratch folder (app/cluster/scratch.py): what a replica starting up removes."""

from __future__ import annotations

import os
import subprocess
import sys

from app.cluster.scratch import _host, new_run_folder, sweep_stale_runs


def test_a_replica_removes_only_the_run_folders_of_replicas_that_are_gone(tmp_path):
    scratch = tmp_path / "remote-runs"
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    left = scratch / f"run-{_host()}-{gone}-abc"
    (left / "inputs").mkdir(parents=True)
    (left / "inputs" / "photo.png").write_bytes(b"a user's picture")
    live = new_run_folder(scratch)
    assert live.name.startswith(f"run-{_host()}-{os.getpid()}-")
    other = scratch / "notes"
    other.mkdir()
    elsewhere = scratch / f"run-another.host-{gone}-abc"  # a shared disk: that pid is not ours to judge
    elsewhere.mkdir()

    assert sweep_stale_runs(scratch) == 1
    assert not left.exists() and live.is_dir() and other.is_dir() and elsewhere.is_dir()
    assert sweep_stale_runs(tmp_path / "missing") == 0  # nothing there yet
