"""Plan types: a task graph whose arguments are literals, attached files or earlier outputs.

A plan arrives from the controller as JSON; `parse_plan` turns it into a `TaskGraph` and
`validate` checks it against the task catalogue. Validation errors name the task and the problem
in words a person can act on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from core.tasks import AUDIO, IMAGE, TEXT, VIDEO, TaskType, get_task_type

GENERATED = re.compile(r"<GENERATED>-(\d+)")

_EXTENSIONS = {
    IMAGE: {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"},
    AUDIO: {".wav", ".mp3", ".flac", ".ogg", ".m4a"},
    VIDEO: {".mp4", ".avi", ".mov", ".webm", ".gif"},
}
# A media file's name as it appears in a request: "photo.jpg", "talk-2.wav".
FILE_NAME = re.compile(r"[\w\-.]+\.(?:%s)\b" % "|".join(
    sorted({ext[1:] for exts in _EXTENSIONS.values() for ext in exts}, key=lambda e: (-len(e), e))), re.I)


class PlanError(ValueError):
    """The plan cannot run as written."""


def modality_of_path(name: str) -> str | None:
    suffix = Path(name).suffix.lower()
    for modality, extensions in _EXTENSIONS.items():
        if suffix in extensions:
            return modality
    return None


@dataclass(frozen=True)
class Arg:
    """One argument value: a literal text, a file, or the output of an earlier task."""

    kind: str  # "literal" | "file" | "generated"
    value: str  # the text, the file name, or "" for generated
    source: int | None = None  # producing task id for "generated"

    @classmethod
    def from_raw(cls, raw: str, files: set[str]) -> "Arg":
        match = GENERATED.fullmatch(raw.strip())
        if match:
            digits = match.group(1)
            if len(digits) > 18:  # no plan has that many tasks; int() would refuse past 4300 digits
                raise PlanError(f"'<GENERATED>-{digits[:12]}...' refers to no task")
            return cls("generated", "", int(digits))
        if raw.strip() in files or modality_of_path(raw.strip()):
            return cls("file", raw.strip())
        return cls("literal", raw)

    def to_raw(self) -> str:
        return f"<GENERATED>-{self.source}" if self.kind == "generated" else self.value


@dataclass
class Task:
    id: int
    type: str
    args: dict[str, Arg]
    dep: list[int] = field(default_factory=list)
    step: str = ""  # the request's words for what this task does, when the planner wrote them

    @property
    def task_type(self) -> TaskType:
        task_type = get_task_type(self.type)
        if task_type is None:
            raise PlanError(f"task {self.id}: unknown task type '{self.type}'")
        return task_type

    def to_dict(self) -> dict:
        data = {"id": self.id, "task": self.type, "dep": list(self.dep),
                "args": {name: arg.to_raw() for name, arg in self.args.items()}}
        return {"step": self.step, **data} if self.step else data


@dataclass
class TaskGraph:
    tasks: list[Task]

    def by_id(self) -> dict[int, Task]:
        return {task.id: task for task in self.tasks}

    def to_list(self) -> list[dict]:
        return [task.to_dict() for task in self.tasks]

    def dependents(self) -> dict[int, list[int]]:
        result: dict[int, list[int]] = {task.id: [] for task in self.tasks}
        for task in self.tasks:
            for parent in task.dep:
                result.setdefault(parent, []).append(task.id)
        return result


def parse_plan(data, files: set[str] | None = None) -> TaskGraph:
    """Build a TaskGraph from decoded JSON: {"tasks": [...]} or a bare list of tasks.

    Dependencies named by `<GENERATED>-k` arguments are added to `dep` even when the controller
    forgot them, since the argument cannot be resolved without that task.
    """
    files = files or set()
    if isinstance(data, dict):
        data = data.get("tasks")
    if not isinstance(data, list):
        raise PlanError("the plan is not a list of tasks")
    tasks = []
    for position, raw in enumerate(data):
        if not isinstance(raw, dict):
            raise PlanError(f"task #{position + 1} is not an object")
        task_id = raw.get("id", position)
        if not isinstance(task_id, int) or isinstance(task_id, bool):
            raise PlanError(f"task #{position + 1}: id must be an integer, got {task_id!r}")
        name = raw.get("task")
        if not isinstance(name, str) or not name.strip():
            raise PlanError(f"task {task_id}: missing task type")
        raw_args = raw.get("args")
        raw_args = {} if raw_args is None else raw_args
        if not isinstance(raw_args, dict):
            raise PlanError(f"task {task_id}: args must be an object")
        try:
            args = {str(k): Arg.from_raw(str(v), files) for k, v in raw_args.items() if v is not None}
        except PlanError as error:
            raise PlanError(f"task {task_id}: {error}") from None
        dep = raw.get("dep") or []
        if not isinstance(dep, list) or not all(isinstance(d, int) for d in dep):
            raise PlanError(f"task {task_id}: dep must be a list of task ids")
        dep = [d for d in dep if d >= 0]  # HuggingGPT writes -1 for "no dependency"
        for arg in args.values():
            if arg.kind == "generated" and arg.source not in dep:
                dep.append(arg.source)
        task_type = get_task_type(name)
        step = raw.get("step")
        tasks.append(Task(task_id, task_type.name if task_type else name, args, sorted(set(dep)),
                          step.strip() if isinstance(step, str) else ""))
    return TaskGraph(tasks)


def validate(graph: TaskGraph) -> None:
    """Raise PlanError with the first problem found; return None for a runnable plan."""
    if not graph.tasks:
        raise PlanError("the plan has no tasks")
    seen: dict[int, Task] = {}
    for task in graph.tasks:
        if task.id in seen:
            raise PlanError(f"task id {task.id} is used twice")
        task_type = task.task_type
        for parent in task.dep:
            if parent == task.id:
                raise PlanError(f"task {task.id} depends on itself")
            if parent not in seen:
                known = parent in {t.id for t in graph.tasks}
                raise PlanError(
                    f"task {task.id} depends on task {parent}, which "
                    + ("comes later (a cycle or wrong order)" if known else "does not exist"))
        for slot in task_type.inputs:
            if slot.required and slot.name not in task.args:
                raise PlanError(f"task {task.id} ({task.type}): missing argument '{slot.name}'")
        for name, arg in task.args.items():
            slot = task_type.slot(name)
            if slot is None:
                raise PlanError(f"task {task.id} ({task.type}): unexpected argument '{name}'")
            _check_kind(task, slot.name, slot.modality, arg, seen)
        seen[task.id] = task


def _check_kind(task: Task, name: str, modality: str, arg: Arg, earlier: dict[int, Task]) -> None:
    where = f"task {task.id} ({task.type}) argument '{name}'"
    if arg.kind == "generated":
        producer = earlier.get(arg.source)
        if producer is None:
            raise PlanError(f"{where} uses the output of task {arg.source}, which does not run before it")
        produced = producer.task_type.output
        if produced != modality:
            raise PlanError(f"{where} needs {modality}, but task {arg.source} ({producer.type}) makes {produced}")
        return
    if modality == TEXT:
        return
    if arg.kind != "file":
        raise PlanError(f"{where} needs {modality} (a file or <GENERATED>-k), got text '{arg.value[:40]}'")
    actual = modality_of_path(arg.value)
    if actual is not None and actual != modality:
        raise PlanError(f"{where} needs {modality}, but '{arg.value}' looks like {actual}")
