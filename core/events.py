"""One event stream for a run: every front end (CLI, window, store, tests) listens to it.

Events are plain frozen dataclasses, so a listener can match on type and a store can persist
`to_dict()`. Listeners are called on whatever thread emitted the event; the GUI bridge re-posts
them to the GUI thread.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from common.listeners import Listeners


@dataclass(frozen=True)
class Event:
    at: float = field(default_factory=time.time, kw_only=True)

    @property
    def kind(self) -> str:
        return type(self).__name__

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.kind, **asdict(self)}


@dataclass(frozen=True)
class TurnStarted(Event):
    """The first event of every turn: what the request is and which files it can use."""
    conversation_id: str
    request: str
    files: dict[str, str] = field(default_factory=dict)  # name the planner sees -> absolute path
    attachments: list[str] = field(default_factory=list)  # absolute paths attached to this turn


@dataclass(frozen=True)
class StageStarted(Event):
    stage: str  # "planning" | "selection" | "execution" | "response"


@dataclass(frozen=True)
class PlanDrafted(Event):
    """While planning: the listed steps or the tasks the controller has written so far (a
    preview; PlanReady carries the plan that runs). Not saved with the turn."""
    tasks: list[dict]


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
    result: dict = field(default_factory=dict)  # the TaskResult record: status, model, error


@dataclass(frozen=True)
class AnswerToken(Event):
    text: str


@dataclass(frozen=True)
class RunFinished(Event):
    status: str  # "done" | "partial" (some tasks did not run) | "failed" | "cancelled"
    answer: str = ""
    error: str = ""


Listener = Callable[[Event], None]


class EventBus(Listeners[Event]):
    """The engine's event stream: one per engine, one turn at a time on it."""
