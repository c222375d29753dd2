"""Stage 1, task planning: request + history -> validated TaskGraph.

The controller's output is constrained by a JSON schema built from the task catalogue (task type
enumerated per branch, argument names per type, file slots limited to known files or
`<GENERATED>-k`, every array and string bounded), so it always parses. What the grammar cannot
express (references to earlier tasks only, output kinds that fit) is checked by `validate`,
repaired where the intent is clear, and otherwise sent back to the controller once with the error.

A controller big enough to do it well first lists the request's steps (`list_steps`); the plan then
has one task per step, each offered only the task types nearest to the step's words.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from common.cancel import CancelToken, wait_unless_cancelled
from core.llm.controller import Controller, ControllerError
from core.plan import FILE_NAME, PlanError, TaskGraph, modality_of_path, parse_plan, validate
from core.planning.clauses import (checked_listing, clause_steps, voted_steps, with_clauses_for_attached,
                                   with_missing_clauses)
from core.planning.data_flow import bridged, joined_repeats, wired_input
from core.planning.draft import Draft, TaskStream
from core.planning.prompting import DemoPicker, Embed
from core.planning.repair import repair
from core.planning.step_filter import grounded_steps, telling_sentences
from core.planning.step_types import rank_step_types
from core.tasks import PLANNABLE_TASK_TYPES, TASK_TYPES, TEXT, TaskType, get_task_type
from core.templates import template

log = logging.getLogger(__name__)
# One thread choosing demos (embedding the request), so a turn can wait for it with Stop honoured.
_embedding = ThreadPoolExecutor(max_workers=1, thread_name_prefix="demos")

MAX_TASKS = 6
# Task types offered per listed step, nearest by meaning first. On the TaskBench dev file the
# nearest type alone beat the 0.5B controller's choice among the nearest 2-5.
TYPES_PER_STEP = 1
MAX_TEXT = 400
# A literal text: bounded, and not starting with "<", so "<GENERATED>-k" comes only from the
# enumerated references to earlier tasks. No escapes or control characters: one line of words.
TEXT_VALUE = r'^[^<"\\\n\r\t][^"\\\n\r\t]{0,%d}$' % (MAX_TEXT - 1)
# A task's `step`: the request's words for what the task does, written before its type.
MAX_STEP = 100
STEP_VALUE = r'^[^<"\\\n\r\t][^"\\\n\r\t]{0,%d}$' % (MAX_STEP - 1)


@dataclass
class PlanOutcome:
    graph: TaskGraph
    raw: str
    repairs: list[str] = field(default_factory=list)
    attempts: int = 1


def mentioned_files(text: str) -> list[str]:
    return list(dict.fromkeys(FILE_NAME.findall(text)))


def plan_schema(files: list[str], task_types: tuple[TaskType, ...] = TASK_TYPES,
                max_tasks: int = MAX_TASKS, fixed: list[dict] | tuple = (),
                steps: bool | list[str] = False, rankings: list[list[str]] | None = None,
                per_step: int = 1, data_flow: bool = False) -> dict:
    """The JSON schema of a plan, in which every position of the task list has a schema of its own.

    Task k is forced to id k, and its `dep` and `<GENERATED>-j` inputs may only name j < k, so a plan
    can only refer backwards; a file input offers only the given files of that kind. A task type
    that cannot run at the first position (an image task when no image was given) is left out
    there. Plans of n tasks are the n-item prefixes of the positions.

    With `steps`, each task starts with a `step`: the request's words for what it does, so a small
    controller walks through the request clause by clause and names each task type right after the
    words it serves. Given as a list, the steps are already known: task k's step is the k-th, and
    the plan has one task per step. `rankings[k]`, when given, ranks task types for position k,
    nearest first; the position offers the first `per_step` of them that can run there (and every
    type when none can).

    With `data_flow` and known steps, each task whose types so far are known takes the output of
    the task that feeds it by the types alone (core/planning/data_flow.py), unless its step names
    that input itself.

    `fixed` tasks are forced as the plan's first tasks. Their types are known, so the position after
    them only offers references to tasks whose output fits the input (an image input, an image
    output) and only task types that can be fed that way.
    """
    if isinstance(steps, list):
        max_tasks = len(steps)
    # The types of the positions so far, while each offers one type: then references offer only
    # fitting outputs, and with `data_flow` the wiring follows from the types.
    types: list[str] | None = [task["task"] for task in fixed]
    positions = [{"const": task} for task in fixed]
    for k in range(len(fixed), max_tasks):
        step = steps[k] if isinstance(steps, list) else steps
        position = _position_schema(k, files, task_types,
                                    [get_task_type(name).output for name in types] if types is not None else None,
                                    step, rankings[k] if rankings and k < len(rankings) else None, per_step)
        positions.append(position)
        if types is None or len(position["anyOf"]) != 1:
            types = None
            continue
        types.append(position["anyOf"][0]["properties"]["task"]["const"])
        if data_flow and isinstance(step, str):
            _follow_data_flow(position["anyOf"][0], types, step)
    if not fixed and not positions[0]["anyOf"]:
        raise PlanError("no task type can start without a file; attach one")
    lengths = [{"type": "array", "prefixItems": [{"$ref": f"#/$defs/task{k}"} for k in range(n)]}
               for n in range(max_tasks if isinstance(steps, list) else max(1, len(fixed)), max_tasks + 1)]
    return {
        "$defs": {f"task{k}": position for k, position in enumerate(positions)},
        "type": "object",
        "properties": {"tasks": {"anyOf": lengths}},
        "required": ["tasks"],
        "additionalProperties": False,
    }


def _position_schema(k: int, files: list[str], task_types: tuple[TaskType, ...],
                     outputs: list[str] | None = None, step: bool | str = False,
                     ranking: list[str] | None = None, per_step: int = 1) -> dict:
    """Task k's schema; `outputs` (what tasks 0..k-1 make), when known, limits references to fitting
    ones. `step`: True for a free step text first, or the step text itself."""

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
                    **({"step": {"const": step} if isinstance(step, str) else {"type": "string", "pattern": STEP_VALUE}}
                       if step else {}),
                    "id": {"const": k},
                    "task": {"const": task_type.name},
                    "dep": ({"type": "array", "items": {"enum": list(range(k))}, "maxItems": min(3, k)} if k
                            else {"const": []}),
                    "args": {"type": "object", "properties": properties,
                             "required": [s.name for s in task_type.inputs if s.required],
                             "additionalProperties": False},
                },
                "required": [*(["step"] if step else []), "id", "task", "dep", "args"],
                "additionalProperties": False,
            })
    if ranking:  # nearest first: offer the first `per_step` of them that can run here
        by_name = {b["properties"]["task"]["const"]: b for b in branches}
        offered = [by_name[name] for name in ranking if name in by_name][:per_step]
        branches = offered or branches
    return {"anyOf": branches}


def _follow_data_flow(branch: dict, types: list[str], step: str) -> None:
    """Force the last task's input from the earlier task that feeds it by the types alone
    (`wired_input`), unless its step gives that input itself."""
    wired = wired_input(types, len(types) - 1, step)
    if wired is None:
        return
    source, slot = wired
    properties = branch["properties"]
    properties["args"]["properties"][slot.name] = {"const": f"<GENERATED>-{source}"}
    properties["args"]["required"] = list(dict.fromkeys([*properties["args"]["required"], slot.name]))
    properties["dep"] = {"const": [source]}


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


# How a plan follows the request's steps: listed by the controller first (with the clauses it left
# out added), then one task per step; read from the request's clauses alone, then one task per
# step (no listing pass); written by the controller before each task; or not at all.
STEP_MODES = ("listed", "clauses", "inline", "off")
STEPS_SCHEMA = {
    "type": "object",
    "properties": {"steps": {"type": "array", "items": {"type": "string", "pattern": STEP_VALUE},
                             "minItems": 1, "maxItems": MAX_TASKS}},
    "required": ["steps"],
    "additionalProperties": False,
}
STEP_FIELD = '- "step": the words of the request that ask for this task, in a few words.\n'


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
    has a runner here; an evaluation restricts it to a benchmark's tool set). `data_flow`: wire
    each task to the step before it by the task types instead of by the controller's choice
    (core/planning/data_flow.py); by default with steps read from the clauses, the small
    controller's mode (README, Planning quality: on the dev file's folds the 135M's own wiring
    scored 14.9 link F1, the types' 26 to 30; the 0.5B's own 32.6, the types' 32.5).
    Whichever wires, references are offered only to earlier tasks whose output fits while
    every position's type is known."""

    def __init__(self, controller: Controller, n_demos: int = 2, max_attempts: int = 2,
                 task_types: tuple[TaskType, ...] = PLANNABLE_TASK_TYPES, embed: Embed | None = None,
                 steps: str = "listed", types_per_step: int = TYPES_PER_STEP,
                 data_flow: bool | None = None) -> None:
        if steps not in STEP_MODES:
            raise ValueError(f"unknown step mode {steps!r}; use one of {', '.join(STEP_MODES)}")
        self.controller = controller
        self.steps = steps
        self.data_flow = steps == "clauses" if data_flow is None else data_flow
        self.types_per_step = types_per_step
        self.n_demos = n_demos
        self.max_attempts = max_attempts
        self.task_types = task_types
        self.demos = DemoPicker(embed)

    def warm_up(self) -> None:
        """Load the embedder, embed the demo pool and fit the step-type classifier now (the
        window does it in the background at start-up), so the first request waits for none of it."""
        self.demos.warm_up()
        if self.steps in ("listed", "clauses") and self.demos.embed is not None:
            self._rankings(["warm up"], [])

    def messages(self, request: str, files: list[str], history: list[dict],
                 demos: list[dict] | None = None) -> list[dict]:
        files_line = ("Files the user has given: " + ", ".join(files)) if files else "The user has given no files."
        system = template("planning").substitute(task_list=_task_list(self.task_types), files=files_line,
                                                 step_field=STEP_FIELD if self.steps != "off" else "")
        messages = [{"role": "system", "content": system}]
        for demo in self._demos(request) if demos is None else demos:
            messages.append({"role": "user", "content": demo["request"]})
            messages.append({"role": "assistant", "content": _compact(self._demo_tasks(demo["tasks"]))})
        messages.append({"role": "user", "content": with_context(request, history)})
        return messages

    def _demos(self, request: str) -> list[dict]:
        return self.demos.pick(request, self.n_demos, {t.name for t in self.task_types})

    def _demos_unless_cancelled(self, request: str, cancel: CancelToken | None) -> list[dict]:
        """`_demos`, waited for with Stop honoured: the embedder's first use loads MiniLM (seconds,
        longer while the window's warm-up loads it too); the load goes on and is kept."""
        if cancel is None:
            return self._demos(request)
        cancel.raise_if_cancelled()
        return wait_unless_cancelled(_embedding.submit(self._demos, request), cancel)

    def step_messages(self, request: str, history: list[dict], demos: list[dict] | None = None) -> list[dict]:
        messages = [{"role": "system", "content": template("steps").template}]
        for demo in self._demos(request) if demos is None else demos:
            messages.append({"role": "user", "content": demo["request"]})
            steps = [task["step"] for task in self._demo_tasks(demo["tasks"])]
            messages.append({"role": "assistant", "content": json.dumps({"steps": steps}, ensure_ascii=False)})
        messages.append({"role": "user", "content": with_context(request, history)})
        return messages

    def list_steps(self, request: str, history: list[dict], cancel: CancelToken | None = None,
                   demos: list[dict] | None = None) -> list[str]:
        """The request's steps in its own words, one per task to plan."""
        result = self.controller.chat(self.step_messages(request, history, demos), schema=STEPS_SCHEMA,
                                      max_tokens=40 * MAX_TASKS, cancel=cancel, stage="steps")
        data = result.json()
        steps = data.get("steps") if isinstance(data, dict) else None
        if not isinstance(steps, list) or not steps or not all(isinstance(s, str) for s in steps):
            raise PlanError("the controller did not list the steps")
        return grounded_steps(steps, request, self._telling(request))[:MAX_TASKS]

    def _telling(self, request: str) -> list[set[str]]:
        """The request's sentences that ask for nothing (step_filter.telling_sentences); none
        without an embedder, so that no listed step is taken for the user's story then."""
        if self.demos.embed is None:
            return []
        try:
            return telling_sentences(self.demos.embed, request, {t.name for t in self.task_types})
        except Exception as error:  # noqa: BLE001 - any embedder failure: keep every grounded step
            log.warning("the request's story not told apart from its asks (%s)", error)
            return []

    def request_steps(self, request: str, history: list[dict], known_files: list[str],
                      cancel: CancelToken | None = None, demos: list[dict] | None = None,
                      attached: list[str] | tuple = ()) -> tuple[list[str], list[list[str]] | None]:
        """The steps to plan, one task each, with the task types each may be (`read_steps`), a
        step that says the one before again joined to it (data_flow.joined_repeats), and then
        what the graph says is missing: the request's clause that asks for an attached file no
        step uses (clauses.with_clauses_for_attached), and the task between a step and the
        result it points back at but cannot take (data_flow.bridged)."""
        steps, rankings = self.read_steps(request, history, known_files, cancel, demos)
        embed, allowed = self.demos.embed, {t.name for t in self.task_types}
        if embed is None or rankings is None:
            return steps, rankings
        try:
            checked = joined_repeats(embed, steps, allowed, known_files)
            added = with_clauses_for_attached(embed, checked, rankings if checked == steps else None,
                                              request, attached, allowed, known_files)
            if len(added) > MAX_TASKS:  # no room for the attached file's clauses: the joins stand
                added = checked
            if added != steps:
                ranked = self._rankings(added, known_files)
                if ranked is None:
                    return steps, rankings
                steps, rankings = added, ranked
            steps, rankings = bridged(embed, steps, rankings, allowed, limit=MAX_TASKS, attached=attached)
        except Exception as error:  # noqa: BLE001 - the steps as they were read
            log.warning("the steps not checked against the task graph (%s)", error)
        return steps, rankings

    def read_steps(self, request: str, history: list[dict], known_files: list[str],
                   cancel: CancelToken | None = None, demos: list[dict] | None = None
                   ) -> tuple[list[str], list[list[str]] | None]:
        """The steps to plan, one task each, with the task types each may be (`_rankings`): in
        "clauses" mode the request's clauses that ask for a task (the controller lists them only
        when none does); in "listed" mode the controller's listing, a step replaced by its clause
        where the clause reads as another task more surely (`voted_steps`), with the clauses it
        left out added (or the request's clauses when nothing listed comes from the request)."""
        allowed = {t.name for t in self.task_types}
        embed = self.demos.embed
        if self.steps == "clauses" and embed is not None:
            try:
                steps = clause_steps(embed, request, allowed)[:MAX_TASKS]
            except Exception as error:  # noqa: BLE001 - any embedder failure: let the controller list them
                log.warning("steps not read from the clauses (%s)", error)
                steps = []
            if steps:
                return steps, self._rankings(steps, known_files)
        listed = self.list_steps(request, history, cancel, demos)
        if embed is None:
            return listed, self._rankings(listed, known_files)
        try:
            checked, still_listed = checked_listing(embed, listed, request, allowed)
        except Exception as error:  # noqa: BLE001 - the listing as it is
            log.warning("clauses not checked against the listed steps (%s)", error)
            return listed, self._rankings(listed, known_files)
        if not still_listed:
            return checked[:MAX_TASKS], self._rankings(checked[:MAX_TASKS], known_files)
        listed = checked[:MAX_TASKS]
        rankings = self._rankings(listed, known_files)
        try:
            if rankings is not None:
                voted = voted_steps(embed, listed, rankings, request, allowed)
                if voted != listed:
                    listed, rankings = voted, self._rankings(voted, known_files)
            steps = with_missing_clauses(embed, listed, request, allowed, known_files,
                                         rankings=rankings)[:MAX_TASKS]
        except Exception as error:  # noqa: BLE001 - the listing as it is
            log.warning("clauses not checked against the listed steps (%s)", error)
            return listed, rankings
        # ranked again only when clauses were added: the chain search weighs every step
        return steps, rankings if steps == listed else self._rankings(steps, known_files)

    def _rankings(self, steps: list[str], files: list[str]) -> list[list[str]] | None:
        """The task types each step may be planned as, best first, or None (any) without embeddings."""
        if self.demos.embed is None:
            return None
        try:
            return rank_step_types(self.demos.embed, steps, {t.name for t in self.task_types}, files)
        except Exception as error:  # noqa: BLE001 - any embedder failure: plan without rankings
            log.warning("step rankings unavailable (%s)", error)
            return None

    def _demo_tasks(self, tasks: list[dict]) -> list[dict]:
        if self.steps != "off":
            return [{"step": task.get("step") or task["task"].replace("-", " "), **task} for task in tasks]
        return [{key: value for key, value in task.items() if key != "step"} for task in tasks]

    def plan(self, request: str, files: list[str], history: list[dict] | None = None,
             cancel: CancelToken | None = None, on_draft: Draft | None = None,
             attached: list[str] | None = None) -> PlanOutcome:
        """With listed steps, list the request's steps, then decode a plan under the schema, one
        task per step, each the nearest task type to its step that can run there. A plan that fails
        validation is decoded again from its first task that cannot run, keeping the tasks before
        it and offering at that position only what fits them; when that cannot help, the plan is
        decoded once more without the listed steps, and then a reply that is not a plan at all is
        sent back with the error, up to `max_attempts` times.

        `on_draft` is given the listed steps, then the tasks complete so far as the controller
        writes each plan: a preview, not the plan (that is the returned outcome). `attached`: the
        files the user attached to this request, when `files` holds the conversation's others too
        (by default `files` are the attachments)."""
        history = history or []
        known_files = list(dict.fromkeys([*files, *mentioned_files(request)]))
        demos = self._demos_unless_cancelled(request, cancel)  # chosen once for both prompts
        messages = self.messages(request, known_files, history, demos)
        steps: bool | list[str] = self.steps != "off"  # "inline": a free step text per task
        rankings = None
        if self.steps in ("listed", "clauses"):
            try:
                steps, rankings = self.request_steps(request, history, known_files, cancel, demos,
                                                     files if attached is None else attached)
                if on_draft is not None:
                    on_draft([{"id": k, "step": step} for k, step in enumerate(steps)])
            except (ValueError, ControllerError) as problem:
                log.info("steps not listed (%s); planning with free steps", problem)
        fixed: list[dict] = []
        notes: list[str] = []
        error: Exception | None = None
        attempts = retries = 0
        while retries < self.max_attempts and attempts < self.max_attempts + MAX_TASKS + 1:
            attempts += 1
            drafts = TaskStream(on_draft) if on_draft is not None else None
            result = self.controller.chat(messages, schema=plan_schema(known_files, self.task_types, fixed=fixed,
                                                                             steps=steps, rankings=rankings,
                                                                             per_step=self.types_per_step,
                                                                             data_flow=self.data_flow),
                                          max_tokens=160 * MAX_TASKS, cancel=cancel, stage="planning",
                                          on_token=drafts.feed if drafts is not None else None)
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
                if isinstance(steps, list):  # the listed steps do not make a plan: let the controller choose
                    steps, rankings, fixed = True, None, []
                    notes.append(f"planned without the listed steps ({problem})")
                    continue
                retries += 1
                messages = messages + [
                    {"role": "assistant", "content": result.text},
                    {"role": "user", "content": f"That plan cannot run: {problem}. Reply with a corrected plan."},
                ]
        raise PlanError(f"the controller could not make a valid plan: {error}")
