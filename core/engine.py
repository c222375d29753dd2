"""The four stages wired together: plan, select, execute, answer. One engine for every front end.

`Engine.ask` runs one turn of a conversation and returns its `Turn` record. Everything that
happens along the way is emitted on `Engine.bus`, and the turn itself is built from those events
(`Turn.apply`), so the record and what every listener saw cannot disagree.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
from pathlib import Path

from common.cancel import Cancelled, CancelToken
from core.answering.responder import Responder
from core.events import AnswerToken, EventBus, ModelChosen, PlanDrafted, PlanReady, RunFinished, StageStarted, TurnStarted
from core.executor import Executor
from core.experts import ExpertProvider
from core.history.conversation import Conversation
from core.llm.controller import Controller, ControllerError
from core.llm_tasks import run_with_controller
from core.plan import PlanError, Task, parse_plan, validate
from core.planning.planner import Planner, PlanOutcome
from core.planning.context import planning_context
from core.selector import CONTROLLER_MODEL, Selection, Selector
from core.turn import Turn, run_status

log = logging.getLogger(__name__)

MAX_REQUEST_CHARS = 4000
MAX_ATTACHMENT_BYTES = 2 * 2**30  # larger files are refused before anything is copied


class InputError(ValueError):
    """The request or its attachments cannot be used; the message says why."""


class Engine:
    def __init__(self, controller: Controller, experts: ExpertProvider, max_workers: int = 4,
                 planner: Planner | None = None) -> None:
        self.controller = controller
        self.experts = experts
        self.bus = EventBus()
        self.planner = planner or Planner(controller)
        self.selector = Selector(controller, experts)
        self.responder = Responder(controller, recommend=getattr(experts, "recommend", None))
        self.executor = Executor(self.bus, max_workers=max_workers)
        # One turn at a time: listeners read the stream as one turn's story.
        self._one_turn = threading.Lock()

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
        with self._one_turn:
            attached = self._attach(files or [], conversation)
            started = TurnStarted(conversation_id=conversation.id, request=request,
                                  files={**conversation.known_files(), **attached},
                                  attachments=list(attached.values()))
            turn = Turn.started(started)
            stop_folding = self.bus.subscribe(turn.apply)
            try:
                conversation.turns.append(turn)
                self.bus.emit(started)
                self._finish(turn, conversation, cancel, plan)
            finally:
                stop_folding()
        return turn

    def _finish(self, turn: Turn, conversation: Conversation, cancel: CancelToken,
                plan: list[dict] | None) -> None:
        status, error, answer = "done", "", ""
        try:
            answer = self._stages(turn, conversation, conversation.new_turn_dir(), cancel, plan)
            status = run_status(turn.results)
            if status != "done":
                error = _failures(turn)
                log.warning("request %r %s: %s", turn.request[:60], status, error)  # the window's Log page
        except Cancelled:
            status, error = "cancelled", "stopped by the user"
        except (PlanError, ControllerError, InputError) as problem:
            status, error = "failed", str(problem)
        except Exception as problem:  # last line: report in the chat, never lose the conversation
            log.exception("run failed")
            status, error = "failed", f"{type(problem).__name__}: {problem}"
        # The responder's whole text; when a stage failed, whatever answer had streamed so far.
        self.bus.emit(RunFinished(status=status, answer=answer or turn.answer, error=error))

    def _stages(self, turn: Turn, conversation: Conversation, workdir: Path, cancel: CancelToken,
                given_plan: list[dict] | None) -> str:
        """Emit the stages' events; returns the answer."""
        self.bus.emit(StageStarted(stage="planning"))
        if given_plan is None:
            attached = {name: path for name, path in turn.files.items() if path in turn.attachments}
            files, history = planning_context(turn.request, attached, turn.files, conversation.history(exclude=turn))
            outcome = self.planner.plan(turn.request, list(files), history, cancel,
                                        on_draft=lambda tasks: self.bus.emit(PlanDrafted(tasks=tasks)),
                                        attached=list(attached))
        else:
            graph = parse_plan(given_plan, set(turn.files))
            validate(graph)
            outcome = PlanOutcome(graph, json.dumps(given_plan))
        self.bus.emit(PlanReady(plan=outcome.graph.to_list(), repairs=outcome.repairs))

        self.bus.emit(StageStarted(stage="selection"))
        chosen: dict[int, Selection] = {}
        for task in outcome.graph.tasks:
            selection = self.selector.select(task, turn.request, cancel)
            chosen[task.id] = selection
            self.bus.emit(ModelChosen(task_id=task.id, task=task.type, model=selection.model,
                                      reason=selection.reason, candidates=selection.candidates))

        self.bus.emit(StageStarted(stage="execution"))
        self._prefetch_later_models(outcome.graph, chosen)

        def run_task(task: Task, inputs: dict[str, str], token: CancelToken) -> dict:
            return self._run_task(chosen[task.id], inputs, workdir, token)

        results = self.executor.run(outcome.graph, run_task, {k: s.model for k, s in chosen.items()},
                                    {name: Path(p) for name, p in turn.files.items()}, cancel)
        cancel.raise_if_cancelled()

        self.bus.emit(StageStarted(stage="response"))
        return self.responder.answer(turn.request, [results[t.id] for t in outcome.graph.tasks],
                                     lambda text: self.bus.emit(AnswerToken(text=text)), cancel)

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


def _failures(turn: Turn) -> str:
    """One line naming the tasks that did not run, for the status line and `--json`'s error."""
    failed = [r for r in turn.results if r.status != "done"]
    return "; ".join(f"task {r.task_id} ({r.task}) {r.status}" + (f": {r.error}" if r.status == "failed" else "")
                     for r in failed)


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
