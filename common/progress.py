"""Progress of the work running in this thread (a denoising step, a generated token).

Whoever does the work calls `report`; whoever wants to know listens with `reporting` around the
call. Neither knows the other: runners (models/) report, the executor (core/) turns reports into
TaskProgress events, and an unobserved report costs one attribute lookup.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

Sink = Callable[[float, str], None]  # (fraction done 0..1, a few words such as "step 3/20")

_local = threading.local()
MIN_INTERVAL_S = 0.1  # a generation reports every token; a window repaints at most ten times a second


@contextmanager
def reporting(sink: Sink, min_interval: float = MIN_INTERVAL_S) -> Iterator[None]:
    """Send this thread's reports to `sink` while the block runs: the first, the last (fraction 1)
    and at most one per `min_interval` seconds between them."""
    previous = getattr(_local, "sink", None)
    _local.sink = _Throttled(sink, min_interval)
    try:
        yield
    finally:
        _local.sink = previous


def report(done: int, total: int, message: str) -> None:
    """`done` of `total` units of the current work are finished; `message` says it in words."""
    sink = getattr(_local, "sink", None)
    if sink is not None and total > 0:
        sink(min(max(done / total, 0.0), 1.0), message)


class _Throttled:
    def __init__(self, sink: Sink, min_interval: float) -> None:
        self.sink, self.min_interval, self.last = sink, min_interval, None

    def __call__(self, fraction: float, message: str) -> None:
        now = time.monotonic()
        if self.last is not None and fraction < 1.0 and now - self.last < self.min_interval:
            return
        self.last = now
        self.sink(fraction, message)
