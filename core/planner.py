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
from core.prompting import DemoPicker, Embed, template
from core.repair import repair
from core.tasks import PLANNABLE_TASK_TYPES, TASK_TYPES, TEXT, TaskType, get_task_type

log = logging.getLogger(__name__)

MAX_TASKS = 6
MAX_TEXT = 400
# A literal text: bounded, and not starting with "<", so "<GENERATED>-k" comes only from the
# enumerated references to earlier tasks. No escapes or control characters: one line of words.
TEXT_VALUE = r'^[^<"\\\n\r\t][^"\\\n\r\t]{0,%d}$' % (MAX_TEXT - 1)
FILE_NAME = re.compile(r"[\w\-.]+\.(?:png|jpe?g|gif|bmp|webp|tiff?|wav|mp3|flac|ogg|m4a|mp4|avi|mov|webm)\b", re.I)


@dataclass
class PlanOutcome:
    graph: TaskGraph
    raw: str
    repairs: list[str] = field(default_factory=list)
    attempts: int = 1


def mentioned_files(text: str) -> list[str]:
    return list(dict.fromkeys(FILE_NAME.findall(text)))


def plan_schema(files: list[str], task_types: tuple[TaskType, ...] = TASK_TYPES,
                max_tasks: int = MAX_TASKS, fixed: list[dict] | tuple = ()) -> dict:
    """The JSON schema of a plan, in which every position of the task list has a schema of its own.

    Task k is forced to id k, and its `dep` and `<GENERATED>-j` inputs may only name j < k, so a plan
    can only refer backwards; a file input offers only the given files of that kind. A task type
    that cannot run at the first position (an image task when no image was given) is left out
    there. Plans of n tasks are the n-item prefixes of the positions.

    `fixed` tasks are forced as the plan's first tasks. Their types are known, so the position after
    them only offers references to tasks whose output fits the input (an image input, an image
    output) and only task types that can be fed that way.
    """
    outputs = [get_task_type(task["task"]).output for task in fixed]
    positions = [{"const": task} for task in fixed]
    positions += [_position_schema(k, files, task_types, outputs if k == len(fixed) else None)
                  for k in range(len(fixed), max_tasks)]
    if not fixed and not positions[0]["anyOf"]:
        raise PlanError("no task type can start without a file; attach one")
    lengths = [{"type": "array", "prefixItems": [{"$ref": f"#/$defs/task{k}"} for k in range(n)]}
               for n in range(max(1, len(fixed)), max_tasks + 1)]
    return {
        "$defs": {f"task{k}": position for k, position in enumerate(positions)},
        "type": "object",
        "properties": {"tasks": {"anyOf": lengths}},
        "required": ["tasks"],
        "additionalProperties": False,
    }


def _position_schema(k: int, files: list[str], task_types: tuple[TaskType, ...],
                     outputs: list[str] | None = None) -> dict:
    """Task k's schema; `outputs` (what tasks 0..k-1 make), when known, limits references to fitting ones."""

    def earlier(modality: str) -> list[str]:
        return [f"<GENERATED>-{j}" for j in range(k) if outputs is None or outputs[j] == modality]

    branches = []
    for task_type in task_types:
        properties = {}
        for slot in task_type.inputs:
            if slot.modality == TEXT:  # words of the request, or an earlier task's output
                words = {"type": "string", "pattern": TEXT_VALUE}
                references = earlier(TEXT)
                properties[slot.name] = {"anyOf": [{"enum": references}, words]} if references else words
                continue
            options = [name for name in files if modality_of_path(name) == slot.modality] + earlier(slot.modality)
            if options:
                properties[slot.name] = {"enum": options}
            elif slot.required:
                break  # nothing can feed this input here
        else:
            branches.append({
                "type": "object",
                "properties": {
                    "id": {"const": k},
                    "task": {"const": task_type.name},
                    "dep": ({"type": "array", "items": {"enum": list(range(k))}, "maxItems": min(3, k)} if k
                            else {"const": []}),
                    "args": {"type": "object", "properties": properties,
                             "required": [s.name for s in task_type.inputs if s.required],
                             "additionalProperties": False},
                },
                "required": ["id", "task", "dep", "args"],
                "additionalProperties": False,
            })
    return {"anyOf": branches}


def runnable_prefix(tasks: list, request: str, files: list[str]) -> int:
    """How many leading tasks of a controller plan can run as written (after repair)."""
    for n in range(1, len(tasks) + 1):
        try:
            graph = parse_plan({"tasks": tasks[:n]}, set(files))
            repair(graph, request, files)
            validate(graph)
        except PlanError:
            return n - 1
    return len(tasks)


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
    """`embed` (texts -> normalised vectors) chooses the demos nearest to each request; without it
    demos are chosen by word overlap. `task_types` is what plans may use (by default every type that
    has a runner here; an evaluation restricts it to a benchmark's tool set)."""

    def __init__(self, controller: Controller, n_demos: int = 2, max_attempts: int = 2,
                 task_types: tuple[TaskType, ...] = PLANNABLE_TASK_TYPES, embed: Embed | None = None) -> None:
        self.controller = controller
        self.n_demos = n_demos
        self.max_attempts = max_attempts
        self.task_types = task_types
        self.demos = DemoPicker(embed)

    def messages(self, request: str, files: list[str], history: list[dict]) -> list[dict]:
        files_line = ("Files the user has given: " + ", ".join(files)) if files else "The user has given no files."
        system = template("planning").substitute(task_list=_task_list(self.task_types), files=files_line)
        messages = [{"role": "system", "content": system}]
        for demo in self.demos.pick(request, self.n_demos, {t.name for t in self.task_types}):
            messages.append({"role": "user", "content": demo["request"]})
            messages.append({"role": "assistant", "content": _compact(demo["tasks"])})
        messages.append({"role": "user", "content": with_context(request, history)})
        return messages

    def plan(self, request: str, files: list[str], history: list[dict] | None = None,
             cancel: CancelToken | None = None) -> PlanOutcome:
        """Decode a plan under the schema. A plan that fails validation is decoded again from its
        first task that cannot run, keeping the tasks before it and offering at that position only
        what fits them; a reply that is not a plan at all is sent back with the error, up to
        `max_attempts` times."""
        history = history or []
        known_files = list(dict.fromkeys([*files, *mentioned_files(request)]))
        messages = self.messages(request, known_files, history)
        fixed: list[dict] = []
        notes: list[str] = []
        error: Exception | None = None
        attempts = retries = 0
        while retries < self.max_attempts and attempts < self.max_attempts + MAX_TASKS:
            attempts += 1
            result = self.controller.chat(messages, schema=plan_schema(known_files, self.task_types, fixed=fixed),
                                          max_tokens=160 * MAX_TASKS, cancel=cancel, stage="planning")
            data = None
            try:
                data = result.json()
                graph = parse_plan(data, set(known_files))
                repairs = repair(graph, request, known_files)
                validate(graph)
                return PlanOutcome(graph, result.text, notes + repairs, attempts)
            except (ValueError, ControllerError) as problem:  # PlanError and JSON errors are ValueErrors
                error = problem
                log.info("plan attempt %d rejected: %s", attempts, problem)
                tasks = data.get("tasks") if isinstance(problem, PlanError) and isinstance(data, dict) else None
                good = runnable_prefix(tasks, request, known_files) if isinstance(tasks, list) else 0
                if good > len(fixed):  # progress: keep what runs, decode the rest again
                    fixed = tasks[:good]
                    notes.append(f"task {good} planned again with inputs that fit ({problem})")
                    continue
                retries += 1
                messages = messages + [
                    {"role": "assistant", "content": result.text},
                    {"role": "user", "content": f"That plan cannot run: {problem}. Reply with a corrected plan."},
                ]
        raise PlanError(f"the controller could not make a valid plan: {error}")
