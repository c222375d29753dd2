"""Progress of a long model operation (a download), as an object front ends observe.

The worker drives it; listeners receive immutable `ProgressEvent` snapshots, so a GUI can hand
them to its own thread and a terminal can print them. No Qt here.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Callable

from common.listeners import Listeners

SPEED_WINDOW_S = 5.0


@dataclass(frozen=True)
class ProgressEvent:
    repo_id: str
    phase: str  # "resolving" | "downloading" | "verifying" | "done" | "cancelled" | "failed"
    file: str
    done_bytes: int
    total_bytes: int
    speed_bps: float  # over the last few seconds, bytes actually received (not resumed ones)
    eta_s: float | None
    files_done: int
    files_total: int
    message: str = ""

    @property
    def fraction(self) -> float:
        return self.done_bytes / self.total_bytes if self.total_bytes else 0.0

    @property
    def finished(self) -> bool:
        return self.phase in ("done", "cancelled", "failed")


class DownloadProgress:
    def __init__(self, min_interval_s: float = 0.1, clock: Callable[[], float] = time.monotonic) -> None:
        # A broken observer is logged and never breaks the download.
        self._listeners: Listeners[ProgressEvent] = Listeners()
        self._clock = clock
        self._min_interval = min_interval_s
        self._last_emit = float("-inf")
        self._samples: deque[tuple[float, int]] = deque()
        self._received = 0
        self.repo_id = ""
        self.phase = "resolving"
        self.file = ""
        self.done_bytes = self.total_bytes = 0
        self.files_done = self.files_total = 0
        self.latest: ProgressEvent | None = None

    def subscribe(self, listener: Callable[[ProgressEvent], None]) -> Callable[[], None]:
        return self._listeners.subscribe(listener)

    # -- driven by the worker -------------------------------------------------------------------

    def begin(self, repo_id: str, total_bytes: int, done_bytes: int, files_total: int) -> None:
        self.repo_id, self.total_bytes, self.done_bytes = repo_id, total_bytes, done_bytes
        self.files_total, self.files_done = files_total, 0
        self.set_phase("downloading")

    def set_phase(self, phase: str, file: str | None = None, message: str = "") -> None:
        self.phase = phase
        if file is not None:
            self.file = file
        self._emit(force=True, message=message)

    def advance(self, received: int) -> None:
        self.done_bytes += received
        self._received += received
        self._emit(force=False)

    def rewind(self, discarded: int) -> None:
        """Bytes thrown away (a server that ignored Range, a file that failed its hash)."""
        self.done_bytes = max(0, self.done_bytes - discarded)
        self._emit(force=True)

    def file_done(self) -> None:
        self.files_done += 1
        self._emit(force=True)

    # -- internals ------------------------------------------------------------------------------

    def _speed(self, now: float) -> float:
        self._samples.append((now, self._received))
        while len(self._samples) > 2 and now - self._samples[0][0] > SPEED_WINDOW_S:
            self._samples.popleft()
        start, received = self._samples[0]
        return (self._received - received) / (now - start) if now > start else 0.0

    def _emit(self, force: bool, message: str = "") -> None:
        now = self._clock()
        speed = self._speed(now)
        if not force and now - self._last_emit < self._min_interval:
            return
        self._last_emit = now
        remaining = max(0, self.total_bytes - self.done_bytes)
        eta = remaining / speed if speed > 0 else (0.0 if remaining == 0 else None)
        event = ProgressEvent(self.repo_id, self.phase, self.file, self.done_bytes, self.total_bytes,
                              speed, eta, self.files_done, self.files_total, message)
        self.latest = event
        self._listeners.emit(event)
