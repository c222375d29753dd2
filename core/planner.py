"""Stage 1, task planning: request + history -> validated TaskGraph.

The controller's output is constrained by a JSON schema built from the task catalogue (task type
enumerated per branch, argument names per type, file slots limited to known files or
`<GENERATED>-k`, every array and string bounded), so it always parses. What the grammar cannot
express (references to earlier tasks only, output kinds that fit) is checked by `validate`,
repaired where the intent is clear, and otherwise sent back to the controller once with the error.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field

from core.cancel import CancelToken
from core.controller import Controller, ControllerError
from core.plan import PlanError, TaskGraph, modality_of_path, parse_plan, validate
from core.prompting import pick_demos, template
from core.repair import repair
from core.tasks import TASK_TYPES, TEXT, TaskType

log = logging.getLogger(__name__)

MAX_TASKS = 6
MAX_TEXT = 400
FILE_NAME = re.compile(r"[\w\-.]+\.(?:png|jpe?g|gif|bmp|webp|tiff?|wav|mp3|flac|ogg|m4a|mp4|avi|mov|webm)\b", re.I)


@dataclass
class PlanOutcome:
    graph: TaskGraph
    raw: str
    repairs: list[str] = field(default_factory=list)
    attempts: int = 1


def mentioned_files(text: str) -> list[str]:
    return list(dict.fromkeys(FILE_NAME.findall(text)))


def plan_schema(files: list[str], task_types: tuple[TaskType, ...] = TASK_TYPES) -> dict:
    generated = [f"<GENERATED>-{k}" for k in range(MAX_TASKS)]

    def slot_schema(modality: str) -> dict:
        if modality == TEXT:
            return {"type": "string", "maxLength": MAX_TEXT}
        own = [name for name in files if modality_of_path(name) == modality]
        return {"enum": own + generated}

    def branch(task_type: TaskType) -> dict:
        properties = {slot.name: slot_schema(slot.modality) for slot in task_type.inputs}
        return {
            "type": "object",
            "properties": {
                "id": {"type": "integer", "minimum": 0, "maximum": MAX_TASKS - 1},
                "task": {"const": task_type.name},
                "dep": {"type": "array", "items": {"type": "integer", "minimum": 0, "maximum": MAX_TASKS - 1},
                        "maxItems": 3},
                "args": {"type": "object", "properties": properties,
                         "required": [s.name for s in task_type.inputs if s.required],
                         "additionalProperties": False},
            },
            "required": ["id", "task", "dep", "args"],
            "additionalProperties": False,
        }

    return {
        "type": "object",
        "properties": {"tasks": {"type": "array", "items": {"anyOf": [branch(t) for t in task_types]},
                                 "minItems": 1, "maxItems": MAX_TASKS}},
        "required": ["tasks"],
        "additionalProperties": False,
    }


def _task_list(task_types) -> str:
    return "\n".join(f"- {t.name}({', '.join(s.name for s in t.inputs)}): {t.description}" for t in task_types)


def _compact(tasks) -> str:
    return json.dumps({"tasks": tasks}, ensure_ascii=False)


MAX_HISTORY_TURNS = 3


def with_context(request: str, history: list[dict]) -> str:
    """The request, preceded by what earlier turns asked and got, so 'that' can be resolved.

    Inline context, not earlier chat turns: a small controller copies an earlier turn's plan
    instead of planning the new request when it sees the old plan as its own reply.
    """
    if not history:
        return request
    lines = ["Earlier in this conversation:"]
    for turn in history[-MAX_HISTORY_TURNS:]:
        lines.append(f"- I asked: {turn['request']}")
        if turn.get("summary"):
            lines.append(f"  Result: {turn['summary']}")
    lines.append(f"Now: {request}")
    return "\n".join(lines)


class Planner:
    def __init__(self, controller: Controller, n_demos: int = 4, max_attempts: int = 2) -> None:
        self.controller = controller
        self.n_demos = n_demos
        self.max_attempts = max_attempts

    def messages(self, request: str, files: list[str], history: list[dict]) -> list[dict]:
        files_line = ("Files the user has given: " + ", ".join(files)) if files else "The user has given no files."
        system = template("planning").substitute(task_list=_task_list(TASK_TYPES), files=files_line)
        messages = [{"role": "system", "content": system}]
        for demo in pick_demos(request, self.n_demos):
            messages.append({"role": "user", "content": demo["request"]})
            messages.append({"role": "assistant", "content": _compact(demo["tasks"])})
        messages.append({"role": "user", "content": with_context(request, history)})
        return messages

    def plan(self, request: str, files: list[str], history: list[dict] | None = None,
             cancel: CancelToken | None = None) -> PlanOutcome:
        history = history or []
        known_files = list(dict.fromkeys([*files, *mentioned_files(request)]))
        messages = self.messages(request, known_files, history)
        schema = plan_schema(known_files)
        error: Exception | None = None
        raw = ""
        for attempt in range(1, self.max_attempts + 1):
            result = self.controller.chat(messages, schema=schema, max_tokens=160 * MAX_TASKS, cancel=cancel,
                                          stage="planning")
            raw = result.text
            try:
                data = result.json()
                graph = parse_plan(data, set(known_files))
                repairs = repair(graph, request, known_files)
                validate(graph)
                return PlanOutcome(graph, raw, repairs, attempt)
            except (ValueError, ControllerError) as problem:  # PlanError and JSON errors are ValueErrors
                error = problem
                log.info("plan attempt %d rejected: %s", attempt, problem)
                messages = messages + [
                    {"role": "assistant", "content": raw},
                    {"role": "user", "content": f"That plan cannot run: {problem}. Reply with a corrected plan."},
                ]
        raise PlanError(f"the controller could not make a valid plan: {error}")
