"""The plan's tasks as the controller writes them, so the window can show each task the moment
its JSON object is complete instead of waiting for the whole plan.

The reply is `{"tasks": [{...}, {...}]}` under the plan grammar; a task is complete when an
object directly inside the tasks array closes. Braces inside strings (a quoted text argument) do not count.
Written here rather than taken from an incremental JSON parser because only this one shape is
needed and a wrong guess only delays a preview; the finished plan is parsed and validated as
before.
"""

from __future__ import annotations

import json
from typing import Callable

Draft = Callable[[list[dict]], None]


class TaskStream:
    """Feed it the reply's text piece by piece; `on_draft` gets the tasks complete so far each
    time one more is."""

    def __init__(self, on_draft: Draft) -> None:
        self.on_draft = on_draft
        self.tasks: list[dict] = []
        self._text: list[str] = []
        self._depth = 0
        self._in_string = False
        self._escaped = False
        self._start = -1  # offset of the open task object in the reply
        self._length = 0

    def feed(self, piece: str) -> None:
        for char in piece:
            offset = self._length
            self._length += 1
            self._text.append(char)
            if self._in_string:
                if self._escaped:
                    self._escaped = False
                elif char == "\\":
                    self._escaped = True
                elif char == '"':
                    self._in_string = False
            elif char == '"':
                self._in_string = True
            elif char in "{[":
                self._depth += 1
                if char == "{" and self._depth == 3:  # {"tasks": [ {  <- a task opens at depth 3
                    self._start = offset
            elif char in "}]":
                if char == "}" and self._depth == 3 and self._start >= 0:
                    self._complete("".join(self._text[self._start:offset + 1]))
                    self._start = -1
                self._depth -= 1

    def _complete(self, text: str) -> None:
        try:
            task = json.loads(text)
        except ValueError:
            return  # not a task after all; the finished plan is parsed on its own
        if isinstance(task, dict):
            self.tasks.append(task)
            self.on_draft(list(self.tasks))


def preview(tasks: list[dict]) -> list[dict]:
    """Drafted tasks (or listed steps) in the shape the graph draws: an id, a type or a dash,
    dependencies on earlier drafted tasks only."""
    shown, ids = [], set()
    for index, task in enumerate(tasks):
        task_id = task.get("id") if isinstance(task.get("id"), int) else index
        dep = task.get("dep") if isinstance(task.get("dep"), list) else []
        shown.append({"id": task_id, "task": str(task.get("task") or "-"),
                      "dep": [d for d in dep if d in ids], "step": str(task.get("step") or "")})
        ids.add(task_id)
    return shown
