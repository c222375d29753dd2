"""The thin bridge between the engine and the widgets.

The engine runs a turn on a worker thread and emits events from whatever thread it is on; the
bridge re-emits them as Qt signals, which Qt queues onto the GUI thread. Widgets never call the
engine directly and the engine never touches a widget.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from common.cancel import CancelToken
from core.engine import Engine, InputError
from core.history.conversation import Conversation

log = logging.getLogger(__name__)


class RunBridge(QObject):
    event = Signal(object)  # core.events.Event, delivered on the GUI thread
    finished = Signal(object)  # core.engine.Turn
    refused = Signal(str)  # bad input: nothing ran
    busy_changed = Signal(bool)
    warmed = Signal()  # the controller and the planner's demo embedder are loaded

    def __init__(self, engine: Engine, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.engine = engine
        self._unsubscribe = engine.bus.subscribe(self.event.emit)
        self._cancel: CancelToken | None = None
        self._thread: threading.Thread | None = None
        self.warm = threading.Event()  # set when warm_up is done
        self._warm_stopped = False  # the window closed: the warm-up's remaining steps are skipped

    @property
    def busy(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def ask(self, request: str, conversation: Conversation, files: list[Path], plan: list[dict] | None = None) -> bool:
        """Run a turn; `plan` runs that task list instead of planning (Run again)."""
        if self.busy:
            return False
        self._cancel = CancelToken()
        self._thread = threading.Thread(target=self._work, args=(request, conversation, files, self._cancel, plan),
                                        name="engine-turn", daemon=True)
        self.busy_changed.emit(True)
        self._thread.start()
        return True

    def wait(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for a running turn to end; whether none is running."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.busy()

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.cancel()

    def _work(self, request, conversation, files, cancel, plan=None) -> None:
        try:
            turn = self.engine.ask(request, conversation, files, cancel, plan=plan)
        except InputError as error:
            self.refused.emit(str(error))
        except Exception as error:  # the engine reports failures in the turn; this is a last resort
            log.exception("turn crashed")
            self.refused.emit(f"{type(error).__name__}: {error}")
        else:
            self.finished.emit(turn)
        finally:
            self.busy_changed.emit(False)

    def warm_up(self) -> None:
        """Load the controller and the planner's embedder in the background so the first request
        pays for neither."""
        steps = [getattr(self.engine.controller, "load", None),
                 getattr(self.engine.planner, "warm_up", None)]
        # Not a daemon: the interpreter waits for it at exit, since killing a thread inside torch's
        # or llama.cpp's native code aborts the process ("terminate called ...").
        threading.Thread(target=self._warm, args=([s for s in steps if s is not None],), name="warm-up").start()

    def stop_warm_up(self) -> None:
        """The window is closing: finish the step in progress (it cannot be cut in native code),
        skip the rest, so the process can exit soon."""
        self._warm_stopped = True

    def _warm(self, steps) -> None:
        for step in steps:
            if self._warm_stopped:
                break
            try:
                step()
            except Exception as error:  # the first request will say it plainly
                log.warning("warming up failed: %s", error)
        self.warm.set()
        try:
            self.warmed.emit()
        except RuntimeError:  # the window closed meanwhile
            pass

    def detach(self) -> None:
        self._unsubscribe()
