"""The record of one turn: what was asked, planned, chosen, run and answered.

A turn is built from the engine's event stream and nothing else (`Turn.apply`), so every listener
that folds the stream (the engine itself, the store's recorder) holds the same record, and a turn
saved after any event is the turn up to that event. `to_dict` is the stored form and the `--json`
output; `from_dict` reads it back into the same type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.events import (AnswerToken, Event, ModelChosen, PlanReady, RunFinished, StageStarted, TaskDone, TaskFailed,
                         TurnStarted)
from core.executor import TaskResult
from core.selector import Selection

MEDIA_KEYS = ("image", "audio", "video")


def run_status(results: list[TaskResult]) -> str:
    """A finished run's status: "done" when every task ran, "partial" when some did not,
    "failed" when none produced anything (skipped tasks count as not run)."""
    ran = sum(result.status == "done" for result in results)
    if ran == len(results):
        return "done"
    return "partial" if ran else "failed"


@dataclass
class Turn:
    request: str
    files: dict[str, str] = field(default_factory=dict)  # name the planner sees -> absolute path
    attachments: list[str] = field(default_factory=list)  # absolute paths attached to this turn
    plan: list[dict] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    selections: list[Selection] = field(default_factory=list)
    results: list[TaskResult] = field(default_factory=list)  # in plan order
    answer: str = ""
    status: str = "running"  # "done" | "partial" | "failed" | "cancelled" | "interrupted"
    error: str = ""
    timings: dict[str, float] = field(default_factory=dict)  # stage -> seconds
    _stage: tuple[str, float] | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def started(cls, event: TurnStarted) -> "Turn":
        return cls(event.request, dict(event.files), list(event.attachments))

    # -- built from events -----------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        """Fold one event of this turn into the record."""
        if isinstance(event, StageStarted):
            self._close_stage(event.at)
            self._stage = (event.stage, event.at)
        elif isinstance(event, PlanReady):
            self.plan, self.repairs = list(event.plan), list(event.repairs)
        elif isinstance(event, ModelChosen):
            self.selections.append(Selection(event.task_id, event.task, event.model, event.reason,
                                             list(event.candidates)))
        elif isinstance(event, TaskDone):
            self._settle(TaskResult.from_dict(event.result))
        elif isinstance(event, TaskFailed):
            self._settle(TaskResult.from_dict(event.result) if event.result else self._failed(event))
        elif isinstance(event, AnswerToken):
            self.answer += event.text
        elif isinstance(event, RunFinished):
            self._close_stage(event.at)
            self.status, self.error = event.status, event.error
            self.answer = event.answer or self.answer

    def _close_stage(self, now: float) -> None:
        if self._stage is not None:
            name, since = self._stage
            self.timings[name] = max(0.0, now - since)
            self._stage = None

    def _settle(self, result: TaskResult) -> None:
        order = {task["id"]: position for position, task in enumerate(self.plan)}
        self.results = [r for r in self.results if r.task_id != result.task_id] + [result]
        self.results.sort(key=lambda r: order.get(r.task_id, len(order)))

    def _failed(self, event: TaskFailed) -> TaskResult:
        task = next((t for t in self.plan if t["id"] == event.task_id), {})
        model = next((s.model for s in self.selections if s.task_id == event.task_id), "")
        return TaskResult(event.task_id, task.get("task", ""), model,
                          "skipped" if event.skipped else "failed", error=event.error)

    # -- reading ---------------------------------------------------------------------------------

    def media(self) -> list[tuple[str, str]]:
        """(kind, absolute path) of every file the turn produced, in task order, that still exists."""
        found = []
        for result in self.results:
            for key in MEDIA_KEYS:
                value = result.outputs.get(key)
                if isinstance(value, str) and Path(value).is_file():
                    found.append((key, value))
        return found

    # -- stored form -----------------------------------------------------------------------------

    def to_dict(self) -> dict:
        return {
            "request": self.request, "files": self.files, "attachments": self.attachments,
            "plan": self.plan, "repairs": self.repairs,
            "selections": [s.to_dict() for s in self.selections],
            "results": [r.to_dict() for r in self.results],
            "answer": self.answer, "status": self.status, "error": self.error,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Turn":
        return cls(
            request=str(data.get("request", "")), files=dict(data.get("files") or {}),
            attachments=list(data.get("attachments") or []), plan=list(data.get("plan") or []),
            repairs=list(data.get("repairs") or []),
            selections=[Selection.from_dict(s) for s in data.get("selections") or []],
            results=[TaskResult.from_dict(r) for r in data.get("results") or []],
            answer=str(data.get("answer") or ""), status=str(data.get("status") or "failed"),
            error=str(data.get("error") or ""), timings=dict(data.get("timings") or {}))
