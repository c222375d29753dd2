"""The four stages wired together: plan, select, execute, answer. One engine for every front end.

`Engine.ask` runs one turn of a conversation and returns its `Turn` record; everything that
happens along the way is emitted on `Engine.bus`.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from core.cancel import CancelToken, Cancelled
from core.controller import Controller, ControllerError
from core.conversation import Conversation
from core.events import (AnswerToken, EventBus, ModelChosen, PlanReady, RunFinished, StageStarted)
from core.executor import Executor, TaskResult
from core.experts import ExpertProvider
from core.llm_tasks import run_with_controller
from core.plan import PlanError, Task, parse_plan, validate
from core.planner import PlanOutcome, Planner
from core.responder import Responder
from core.selector import CONTROLLER_MODEL, Selection, Selector

log = logging.getLogger(__name__)

MAX_REQUEST_CHARS = 4000
MAX_ATTACHMENT_BYTES = 2 * 2**30  # larger files are refused before anything is copied


class InputError(ValueError):
    """The request or its attachments cannot be used; the message says why."""


@dataclass
class Turn:
    request: str
    files: dict[str, str] = field(default_factory=dict)  # name the planner sees -> absolute path
    attachments: list[str] = field(default_factory=list)  # absolute paths attached to this turn
    plan: list[dict] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    selections: list[Selection] = field(default_factory=list)
    results: list[TaskResult] = field(default_factory=list)
    answer: str = ""
    status: str = "running"  # "done" | "failed" | "cancelled"
    error: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "request": self.request, "files": self.files, "attachments": self.attachments,
            "plan": self.plan, "repairs": self.repairs,
            "selections": [s.to_dict() for s in self.selections],
            "results": [r.to_dict() for r in self.results],
            "answer": self.answer, "status": self.status, "error": self.error,
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
        }


class Engine:
    def __init__(self, controller: Controller, experts: ExpertProvider, max_workers: int = 4,
                 planner: Planner | None = None) -> None:
        self.controller = controller
        self.experts = experts
        self.bus = EventBus()
        self.planner = planner or Planner(controller)
        self.selector = Selector(controller, experts)
        self.responder = Responder(controller)
        self.executor = Executor(self.bus, max_workers=max_workers)

    # -- one turn ----------------------------------------------------------------------------

    def ask(self, request: str, conversation: Conversation, files: list[Path] | None = None,
            cancel: CancelToken | None = None, plan: list[dict] | None = None) -> Turn:
        """Run one turn. `plan` (a task list) skips planning: re-running a plan, scripts, benchmarks."""
        cancel = cancel or CancelToken()
        request = request.strip()
        if not request:
            raise InputError("the request is empty: say what you would like done")
        if len(request) > MAX_REQUEST_CHARS:
            raise InputError(f"the request is {len(request)} characters long; the limit is {MAX_REQUEST_CHARS}")
        turn = Turn(request)
        workdir = conversation.new_turn_dir()
        attached = self._attach(files or [], conversation)
        turn.files = {**conversation.known_files(), **attached}
        turn.attachments = list(attached.values())
        conversation.turns.append(turn)
        conversation.save(turn)  # saved as "running": a crash leaves a turn the next start can mark
        try:
            self._stages(turn, conversation, workdir, cancel, plan)
            turn.status = "done"
        except Cancelled:
            turn.status, turn.error = "cancelled", "stopped by the user"
        except (PlanError, ControllerError, InputError) as error:
            turn.status, turn.error = "failed", str(error)
        except Exception as error:  # last line: report in the chat, never lose the conversation
            log.exception("run failed")
            turn.status, turn.error = "failed", f"{type(error).__name__}: {error}"
        finally:
            conversation.save(turn)
        self.bus.emit(RunFinished(status=turn.status, answer=turn.answer, error=turn.error))
        return turn

    def _stages(self, turn: Turn, conversation: Conversation, workdir: Path, cancel: CancelToken,
                given_plan: list[dict] | None) -> None:
        clock = time.perf_counter

        self.bus.emit(StageStarted(stage="planning"))
        start = clock()
        if given_plan is None:
            outcome = self.planner.plan(turn.request, list(turn.files), conversation.history(exclude=turn), cancel)
        else:
            graph = parse_plan(given_plan, set(turn.files))
            validate(graph)
            outcome = PlanOutcome(graph, json.dumps(given_plan))
        turn.plan, turn.repairs = outcome.graph.to_list(), outcome.repairs
        turn.timings["planning"] = clock() - start
        self.bus.emit(PlanReady(plan=turn.plan, repairs=turn.repairs))

        self.bus.emit(StageStarted(stage="selection"))
        start = clock()
        for task in outcome.graph.tasks:
            selection = self.selector.select(task, turn.request, cancel)
            turn.selections.append(selection)
            self.bus.emit(ModelChosen(task_id=task.id, task=task.type, model=selection.model,
                                      reason=selection.reason, candidates=selection.candidates))
        turn.timings["selection"] = clock() - start

        self.bus.emit(StageStarted(stage="execution"))
        start = clock()
        chosen = {s.task_id: s for s in turn.selections}
        self._prefetch_later_models(outcome.graph, chosen)

        def run_task(task: Task, inputs: dict[str, str], token: CancelToken) -> dict:
            return self._run_task(chosen[task.id], inputs, workdir, token)

        results = self.executor.run(outcome.graph, run_task, {k: s.model for k, s in chosen.items()},
                                    {name: Path(p) for name, p in turn.files.items()}, cancel)
        turn.results = [results[t.id] for t in outcome.graph.tasks]
        turn.timings["execution"] = clock() - start
        cancel.raise_if_cancelled()

        self.bus.emit(StageStarted(stage="response"))
        start = clock()
        turn.answer = self.responder.answer(turn.request, turn.results,
                                            lambda text: self.bus.emit(AnswerToken(text=text)), cancel)
        turn.timings["response"] = clock() - start

    def _prefetch_later_models(self, graph, chosen: dict[int, Selection]) -> None:
        """Load the models of tasks that must wait for others while those others run (overlap)."""
        prefetch = getattr(self.experts, "prefetch", None)
        waiting = [(chosen[t.id].model, t.type) for t in graph.tasks
                   if t.dep and chosen[t.id].model not in ("", CONTROLLER_MODEL)]
        if prefetch is None or not waiting:
            return

        def load_in_order() -> None:
            for model, task in waiting:
                try:
                    prefetch(model, task)
                except Exception as error:  # the task itself will report it when it runs
                    log.info("prefetch of %s failed: %s", model, error)

        threading.Thread(target=load_in_order, name="prefetch", daemon=True).start()

    def _run_task(self, selection: Selection, inputs: dict[str, str], workdir: Path,
                  cancel: CancelToken) -> dict:
        if not selection.model:
            raise RuntimeError(selection.reason)
        if selection.model == CONTROLLER_MODEL:
            return run_with_controller(self.controller, selection.task, inputs, cancel)
        return self.experts.run(selection.model, selection.task, inputs, workdir, cancel)

    # -- attachments ---------------------------------------------------------------------------

    def _attach(self, files: list[Path], conversation: Conversation) -> dict[str, str]:
        """Copy attachments into the conversation's folder so the record never points elsewhere."""
        attached = {}
        for path in files:
            path = Path(path)
            check_attachment(path)
            target = _free_name(conversation.files_dir(), path.name, path)
            if target.resolve() != path.resolve():
                shutil.copyfile(path, target)
            attached[target.name] = str(target.resolve())
        return attached


def check_attachment(path: Path) -> None:
    """Raise InputError unless `path` is a readable file within the size limit."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as error:
        raise InputError(f"{path}: cannot be read ({error.strerror})") from error
    size = path.stat().st_size
    if size > MAX_ATTACHMENT_BYTES:
        raise InputError(f"{path.name} is {size / 2**30:.1f} GiB; attachments are limited to "
                         f"{MAX_ATTACHMENT_BYTES / 2**30:.0f} GiB")


def _free_name(folder: Path, name: str, source: Path) -> Path:
    """`folder/name`, or `name-2`, `name-3`... when another file already has that name.

    Only the base name of an attachment is used, so no path from outside can escape the folder.
    """
    name = Path(name).name
    candidate = folder / name
    counter = 2
    while candidate.exists() and not _same_file(candidate, source):
        candidate = folder / f"{Path(name).stem}-{counter}{Path(name).suffix}"
        counter += 1
    return candidate


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()
