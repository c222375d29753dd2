"""Background work for the GUI: the GUI thread never waits on models, disks or the engine.

`run_in_background(fn, on_done, on_error)` runs `fn` on Qt's thread pool and delivers its result
or exception back on the GUI thread through a queued signal.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

log = logging.getLogger(__name__)



def _expected(error: Exception) -> bool:
    """Errors the app raises on purpose, with a message for people, and faults of the disk;
    anything else is a bug and keeps its traceback in the Log. (Imported here, late: the window
    must not import the runners, and so torch, before it shows.)"""
    from core.llm.controller import ControllerError
    from models.errors import ModelManagerError
    from models.formats import FormatError
    from models.hubclient import HubError
    from models.runners.base import ExpertError

    return isinstance(error, (OSError, ControllerError, ModelManagerError, FormatError, HubError, ExpertError))


class _Signals(QObject):
    done = Signal(object)
    failed = Signal(object)


class _Job(QRunnable):
    def __init__(self, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.fn = fn
        self.signals = _Signals()

    def run(self) -> None:
        try:
            result = self.fn()
        except Exception as error:  # delivered to the GUI, which shows it in plain words
            if _expected(error):  # a refusal or a fault of the input: a message, not a bug
                log.warning("%s", error)
            else:
                log.exception("background job failed")
            self.signals.failed.emit(error)
        else:
            self.signals.done.emit(result)


_alive: set[_Job] = set()  # keep jobs (and their signal objects) alive until they report


def run_in_background(fn: Callable[[], Any], on_done: Callable[[Any], None] | None = None,
                      on_error: Callable[[Exception], None] | None = None, owner: QObject | None = None) -> None:
    """`owner`: the widget the callbacks update; a result that arrives after it was closed and
    deleted is dropped instead of touching a dead widget."""
    import shiboken6

    job = _Job(fn)
    job.setAutoDelete(False)
    _alive.add(job)

    def finish(callback, value):
        _alive.discard(job)
        if owner is not None and not shiboken6.isValid(owner):
            return
        if callback is not None:
            callback(value)

    job.signals.done.connect(lambda value: finish(on_done, value))
    job.signals.failed.connect(lambda error: finish(on_error, error))
    QThreadPool.globalInstance().start(job)
