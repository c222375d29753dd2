"""Repair of plans whose intent is clear but whose wiring is not.

Small controllers number tasks oddly, point `<GENERATED>-k` at the wrong task, or repeat a task.
Each repair here is one that a person reading the plan would make without asking; anything
ambiguous is left for `validate` to reject. Every repair made is described for the record.
"""

from __future__ import annotations

import difflib
import re

from core.plan import Arg, TaskGraph, modality_of_path
from core.tasks import TEXT, get_task_type

# Quoted spans: 'single', "double" or “curly”; an apostrophe inside a word does not open a quote.
QUOTED = re.compile(r"(?<![\w])'([^']+?)'(?![\w])|\"([^\"]+?)\"|“([^”]+?)”")
SNAP_RATIO = 0.75


def repair(graph: TaskGraph, request: str, files: list[str]) -> list[str]:
    notes: list[str] = []
    _renumber(graph, notes)
    _drop_duplicates(graph, notes)
    _rewire(graph, files, notes)
    _drop_reruns(graph, notes)
    _snap_literals(graph, request, notes)
    return notes


def quoted_spans(request: str) -> list[str]:
    return [next(g for g in match.groups() if g is not None) for match in QUOTED.finditer(request)]


def _snap_literals(graph: TaskGraph, request: str, notes: list[str]) -> None:
    """Small models paraphrase the text they should copy ('A cat' -> 'The cat') or clip it (the
    final full stop). When a literal is not itself a quoted span but nearly equals one, use the
    user's exact words."""
    spans = quoted_spans(request)
    if not spans:
        return
    for task in graph.tasks:
        for name, arg in list(task.args.items()):
            if arg.kind != "literal" or not arg.value.strip() or arg.value in spans:
                continue
            best = max(spans, key=lambda span: difflib.SequenceMatcher(None, arg.value, span).ratio())
            if difflib.SequenceMatcher(None, arg.value, best).ratio() >= SNAP_RATIO:
                task.args[name] = Arg("literal", best)
                notes.append(f"task {task.id}: '{name}' set to the request's own words '{best}'")


def _renumber(graph: TaskGraph, notes: list[str]) -> None:
    """Give tasks the ids 0..n-1 in plan order, rewriting references to the old ids."""
    old_ids = [task.id for task in graph.tasks]
    if old_ids == list(range(len(old_ids))):
        return
    mapping: dict[int, int] = {}
    for position, old in enumerate(old_ids):
        mapping.setdefault(old, position)  # a repeated id keeps its first holder
    for position, task in enumerate(graph.tasks):
        task.id = position
        # an id no task had stays as written, in `dep` as in the inputs, so the two never disagree
        # and `validate` judges the reference
        task.dep = sorted({mapping.get(d, d) for d in task.dep})
        for name, arg in task.args.items():
            if arg.kind == "generated" and arg.source in mapping:
                task.args[name] = Arg("generated", "", mapping[arg.source])
    notes.append(f"renumbered task ids {old_ids} to 0..{len(old_ids) - 1}")


def _drop_duplicates(graph: TaskGraph, notes: list[str]) -> None:
    seen: dict[tuple, int] = {}
    replaced: dict[int, int] = {}
    kept = []
    for task in graph.tasks:
        key = (task.type, tuple(sorted((n, a.to_raw()) for n, a in task.args.items())))
        if key in seen:
            replaced[task.id] = seen[key]
            notes.append(f"dropped task {task.id}: it repeats task {seen[key]}")
            continue
        seen[key] = task.id
        kept.append(task)
    if not replaced:
        return
    _replace_tasks(graph, kept, replaced, notes)


def _drop_reruns(graph: TaskGraph, notes: list[str]) -> None:
    """A task whose only input is the image or sound that a task of its own type made runs the same
    model on its own output (detection on the boxed picture, enhancement of the enhanced audio),
    which adds nothing: small controllers plan it when the request says one thing twice."""
    types = {task.id: task.type for task in graph.tasks}
    replaced: dict[int, int] = {}
    kept = []
    for task in graph.tasks:
        if _reruns_producer(task, types):
            (source,) = [arg.source for arg in task.args.values()]
            replaced[task.id] = replaced.get(source, source)
            notes.append(f"dropped task {task.id}: it runs task {source}'s {task.type} on its own output")
            continue
        kept.append(task)
    if replaced:
        _replace_tasks(graph, kept, replaced, notes)


def _reruns_producer(task, types: dict[int, str]) -> bool:
    if len(task.args) != 1:
        return False
    ((name, arg),) = task.args.items()
    task_type = get_task_type(task.type)
    slot = task_type.slot(name) if task_type else None
    # a task naming itself is not run on its own output: that is for `validate` to reject
    return (slot is not None and slot.modality != TEXT and arg.kind == "generated"
            and arg.source != task.id and types.get(arg.source) == task.type)


def _replace_tasks(graph: TaskGraph, kept: list, replaced: dict[int, int], notes: list[str]) -> None:
    """Keep only `kept`, pointing what used a dropped task at the task that replaces it."""
    for task in kept:
        task.dep = sorted({replaced.get(d, d) for d in task.dep})
        for name, arg in task.args.items():
            if arg.kind == "generated" and arg.source in replaced:
                task.args[name] = Arg("generated", "", replaced[arg.source])
    graph.tasks = kept
    _renumber(graph, notes)


def _rewire(graph: TaskGraph, files: list[str], notes: list[str]) -> None:
    """Point each input at something that can feed it, when exactly one reading makes sense."""
    earlier: list = []
    for task in graph.tasks:
        task_type = get_task_type(task.type)
        if task_type is None:
            earlier.append(task)
            continue
        for name, arg in list(task.args.items()):
            slot = task_type.slot(name)
            if slot is None:
                continue
            producers = [t for t in earlier if get_task_type(t.type) and get_task_type(t.type).output == slot.modality]
            if arg.kind == "generated":
                source = next((t for t in earlier if t.id == arg.source), None)
                fits = source is not None and get_task_type(source.type) and get_task_type(source.type).output == slot.modality
                if fits:
                    continue
                own_files = [f for f in files if modality_of_path(f) == slot.modality]
                if producers:
                    task.args[name] = Arg("generated", "", producers[-1].id)
                    notes.append(f"task {task.id}: '{name}' now uses task {producers[-1].id}, "
                                 f"the latest earlier task that makes {slot.modality}")
                elif len(own_files) == 1:
                    task.args[name] = Arg("file", own_files[0])
                    notes.append(f"task {task.id}: '{name}' now uses the file {own_files[0]}")
        # Dependencies: the earlier tasks whose output is used. Only a task that uses no earlier
        # output keeps explicit ones, and only those whose output one of its inputs could take;
        # the others only serialise branches that could run at once (small controllers list
        # every earlier task).
        used = {a.source for a in task.args.values() if a.kind == "generated"}
        if not used:
            used = {t.id for t in earlier if t.id in task.dep and _could_feed(t, task_type)}
        dep = sorted(used)
        if dep != task.dep:
            notes.append(f"task {task.id}: dependencies {task.dep} -> {dep}")
            task.dep = dep
        earlier.append(task)


def _could_feed(producer, task_type) -> bool:
    made = get_task_type(producer.type)
    return task_type is None or made is None or made.output in task_type.input_modalities
