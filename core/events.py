"""One event stream for a run: every front end (CLI, window, store, tests) listens to it.

Events are plain frozen dataclasses, so a listener can match on type and a store can persist
`to_dict()`. Listeners are called on whatever thread emitted the event; the GUI bridge re-posts
them to the GUI thread.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    at: float = field(default_factory=time.time, kw_only=True)

    @property
    def kind(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **asdict(self)}


@dataclass(frozen=True)
class StageStarted(Event):
    stage: str  # "planning" | "selection" | "execution" | "response"


@dataclass(frozen=True)
class PlanReady(Event):
    plan: list[dict]
    repairs: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ModelChosen(Event):
    task_id: int
    task: str
    model: str
    reason: str
    candidates: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TaskStarted(Event):
    task_id: int
    task: str
    model: str


@dataclass(frozen=True)
class TaskProgress(Event):
    task_id: int
    fraction: float
    message: str = ""


@dataclass(frozen=True)
class TaskDone(Event):
    task_id: int
    result: dict


@dataclass(frozen=True)
class TaskFailed(Event):
    task_id: int
    error: str
    skipped: bool = False  # True when it never ran because a task it needs failed


@dataclass(frozen=True)
class AnswerToken(Event):
    text: str


@dataclass(frozen=True)
class RunFinished(Event):
    status: str  # "done" | "failed" | "cancelled"
    answer: str = ""
    error: str = ""


Listener = Callable[[Event], None]


class EventBus:
    """Fan-out of events to listeners; a failing listener is logged and never breaks the run."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def emit(self, event: Event) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a broken front end must not stop the engine
                log.exception("event listener failed on %s", getattr(event, "kind", type(event).__name__))
