"""Cancellation shared by every stage: one token per run, checked between steps."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from typing import Callable, TypeVar

T = TypeVar("T")


class Cancelled(Exception):
    """The person stopped the run."""


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def cancel(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until cancelled or `timeout` passes; True when cancelled."""
        return self._event.wait(timeout)

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise Cancelled("cancelled")

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call `callback` once when cancelled (at once if it already is)."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()


def wait_unless_cancelled(future: "Future[T]", cancel: CancelToken) -> T:
    """The future's result, or Cancelled as soon as `cancel` fires, whichever comes first. Work
    that cannot be interrupted (a model load, a grammar compile) runs on elsewhere and is kept
    for the next caller; only the wait is cut short."""
    settled = threading.Event()
    future.add_done_callback(lambda _future: settled.set())
    cancel.on_cancel(settled.set)
    settled.wait()
    if not future.done():
        raise Cancelled("cancelled")
    return future.result()
