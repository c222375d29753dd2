"""`main.py experts serve` as a child process on a free loopback port: for the benchmark's
cluster row and the tests, which need a real service they can start, kill and start again."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ServiceProcess:
    def __init__(self, env: dict | None = None, port: int | None = None, args: list[str] | tuple = ()) -> None:
        self.env = {**os.environ, **(env or {})}
        self.args = list(args)  # more `experts serve` options: --address, --replicas
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}/experts"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 240) -> "ServiceProcess":
        """Start it and wait until it answers /health (Ray and Serve take tens of seconds)."""
        self.process = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "experts", "serve", "--port",
                                         str(self.port), *self.args], env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("experts serve exited: " + (self.process.stderr.read() or "")[-1000:])
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=5) as reply:
                    if json.load(reply).get("ok"):
                        return self
            except OSError:
                time.sleep(1)
        self.stop()
        raise RuntimeError(f"experts serve did not answer within {timeout:.0f} s")

    def status(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/status", timeout=10) as reply:
            return json.load(reply)

    def stop(self, sig: int = signal.SIGINT) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)

    def __enter__(self) -> "ServiceProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
