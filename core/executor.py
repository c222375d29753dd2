"""Runs a task graph: every task whose inputs are ready starts at once, independent ones together.

Event-driven: a finishing task's completion callback submits the dependents it unblocked, and the
caller waits on one threading.Event. There is no polling loop and no sleep anywhere.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from common.cancel import Cancelled, CancelToken
from common.progress import reporting
from core.events import EventBus, TaskDone, TaskFailed, TaskProgress, TaskStarted
from core.plan import Task, TaskGraph

# A task runner gets the task and its resolved inputs (slot -> text or absolute path).
TaskRunner = Callable[[Task, dict[str, str], CancelToken], dict[str, Any]]


@dataclass
class TaskResult:
    task_id: int
    task: str
    model: str
    status: str  # "done" | "failed" | "skipped" | "cancelled"
    inputs: dict[str, str] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    started: float = 0.0
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"id": self.task_id, "task": self.task, "model": self.model, "status": self.status,
                "inputs": self.inputs, "outputs": self.outputs, "error": self.error,
                "seconds": round(self.seconds, 4)}

    @classmethod
    def from_dict(cls, data: dict) -> "TaskResult":
        return cls(data["id"], data.get("task", ""), data.get("model", ""), data.get("status", ""),
                   dict(data.get("inputs") or {}), dict(data.get("outputs") or {}), data.get("error", ""),
                   seconds=float(data.get("seconds") or 0.0))


class Executor:
    def __init__(self, bus: EventBus, max_workers: int = 4) -> None:
        self._bus = bus
        self._max_workers = max_workers

    def run(self, graph: TaskGraph, run_task: TaskRunner, models: dict[int, str],
            files: dict[str, Path], cancel: CancelToken) -> dict[int, TaskResult]:
        return _Run(self, graph, run_task, models, files, cancel).wait()


class _Run:
    """The state of one execution; all mutable state is guarded by `lock`."""

    def __init__(self, executor: Executor, graph: TaskGraph, run_task: TaskRunner,
                 models: dict[int, str], files: dict[str, Path], cancel: CancelToken) -> None:
        self.executor = executor
        self.run_task = run_task
        self.graph = graph
        self.tasks = graph.by_id()
        self.models = models
        self.files = files
        self.cancel = cancel
        self.results: dict[int, TaskResult] = {}
        self.waiting_on = {task.id: set(task.dep) for task in graph.tasks}
        self.dependents = graph.dependents()
        self.lock = threading.Lock()
        self.finished = threading.Event()
        self.pool = ThreadPoolExecutor(max_workers=executor._max_workers, thread_name_prefix="task")

    def wait(self) -> dict[int, TaskResult]:
        self.cancel.on_cancel(self._on_cancel)
        with self.lock:
            ready = [tid for tid, pending in self.waiting_on.items() if not pending]
        for task_id in ready:
            self._submit(task_id)
        self.finished.wait()
        # Running tasks that ignore cancellation finish in the background; their results are dropped.
        self.pool.shutdown(wait=not self.cancel.cancelled, cancel_futures=True)
        return {tid: self.results[tid] for tid in self.tasks}

    # -- transitions -------------------------------------------------------------------------

    def _submit(self, task_id: int) -> None:
        try:
            future = self.pool.submit(self._execute, task_id)
        except RuntimeError:  # pool shut down by cancellation
            return
        future.add_done_callback(lambda f, tid=task_id: self._after(tid, f))

    def _execute(self, task_id: int) -> TaskResult:
        task = self.tasks[task_id]
        model = self.models.get(task_id, "")
        result = TaskResult(task_id, task.type, model, "running", started=time.time())
        self.cancel.raise_if_cancelled()
        result.inputs = self._resolve(task)
        self.executor._bus.emit(TaskStarted(task_id=task_id, task=task.type, model=model))
        start = time.perf_counter()
        try:
            def progress(fraction: float, message: str) -> None:
                if not self.cancel.cancelled:  # a stopped task is settled; a late report would revive it
                    self.executor._bus.emit(TaskProgress(task_id=task_id, fraction=fraction, message=message))

            with reporting(progress):  # what the runner reports as it goes (steps, tokens)
                result.outputs = self.run_task(task, result.inputs, self.cancel)
        finally:
            result.seconds = time.perf_counter() - start
        result.status = "done"
        return result

    def _after(self, task_id: int, future: Future) -> None:
        task = self.tasks[task_id]
        error = future.exception() if not future.cancelled() else Cancelled("cancelled")
        if error is None:
            result = future.result()
            event = TaskDone(task_id=task_id, result=result.to_dict())
        else:
            status = "cancelled" if isinstance(error, Cancelled) else "failed"
            message = str(error) or type(error).__name__
            result = TaskResult(task_id, task.type, self.models.get(task_id, ""), status, error=message)
            event = TaskFailed(task_id=task_id, error=message, result=result.to_dict())
        newly_ready, skipped = [], []
        with self.lock:
            if task_id in self.results:  # already settled by cancellation
                return
            self.results[task_id] = result
            for child in self.dependents.get(task_id, []):
                if result.status == "done":
                    self.waiting_on[child].discard(task_id)
                    if not self.waiting_on[child] and child not in self.results:
                        newly_ready.append(child)
                else:
                    skipped.extend(self._skip_descendants(child, task_id, result.status))
            done = len(self.results) == len(self.tasks)
        self.executor._bus.emit(event)
        for skipped_event in skipped:
            self.executor._bus.emit(skipped_event)
        if not self.cancel.cancelled:
            for child in newly_ready:
                self._submit(child)
        if done:
            self.finished.set()

    def _skip_descendants(self, task_id: int, cause: int, cause_status: str) -> list[TaskFailed]:
        """Mark task_id and everything below it skipped; called with the lock held."""
        events = []
        stack = [(task_id, cause)]
        while stack:
            tid, because = stack.pop()
            if tid in self.results:
                continue
            # The status says "skipped"; the reason says only why, so no display repeats the word.
            happened = "was skipped" if cause_status == "skipped" else cause_status
            reason = f"its input, task {because} ({self.tasks[because].type}), {happened}"
            result = TaskResult(tid, self.tasks[tid].type, self.models.get(tid, ""), "skipped", error=reason)
            self.results[tid] = result
            events.append(TaskFailed(task_id=tid, error=reason, skipped=True, result=result.to_dict()))
            stack.extend((child, tid) for child in self.dependents.get(tid, []))
        return events

    def _on_cancel(self) -> None:
        events = []
        with self.lock:
            for tid, task in self.tasks.items():
                if tid not in self.results:
                    result = TaskResult(tid, task.type, self.models.get(tid, ""), "cancelled", error="cancelled")
                    self.results[tid] = result
                    events.append(TaskFailed(task_id=tid, error="cancelled", result=result.to_dict()))
        for event in events:
            self.executor._bus.emit(event)
        self.finished.set()

    # -- inputs --------------------------------------------------------------------------------

    def _resolve(self, task: Task) -> dict[str, str]:
        """Turn each argument into text or an absolute path for the runner."""
        resolved = {}
        for name, arg in task.args.items():
            slot = task.task_type.slot(name)
            modality = slot.modality if slot else "text"
            if arg.kind == "generated":
                with self.lock:
                    outputs = self.results[arg.source].outputs
                value = outputs.get(modality)
                if value is None:
                    raise RuntimeError(f"task {arg.source} produced no {modality} for '{name}'")
                resolved[name] = str(value)
            elif arg.kind == "file":
                path = self.files.get(arg.value)
                if path is None:
                    raise FileNotFoundError(f"'{arg.value}' is not an attached file or an earlier result")
                resolved[name] = str(path)
            else:
                resolved[name] = arg.value
        return resolved
