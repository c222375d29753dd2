"""Which earlier task feeds each task of a chain whose task types are known: the tool graph's
reading of a request's steps.

A request's steps usually pass their results on ("describe it, translate that, read it aloud"),
and what can pass to what is in the catalogue (each type's output kind and input kinds). So
when every step's type is known before the plan is decoded, the plan's wiring follows from the
types: a task takes the output of the nearest earlier task it can take it from, a text only
from the task just before it (a text made further back is seldom what a later step means), and
never into a parameter such as a question or a target language (`Slot.parameter`: "caption the
photo, then tell me what colour the car is" must not ask the caption as its question). The
project's own demos are wired that way for 78 of their 86 later tasks; the others are branches
("... and also ...") and results used as a question or an instruction, which the controller
wires itself. A step that gives its own input (a file of that kind, quoted text, or for a
prompt such as what to draw, a description that does not point back with "it" or "that") is
left to the controller too.

A step that points back at an earlier result its type cannot take asks for a task between them
that the request leaves unsaid: "create an image of a robot, then say what it shows out loud"
reads the image as text before speaking it (`bridged`).
"""

from __future__ import annotations

import re
from typing import Sequence

from core.plan import FILE_NAME, modality_of_path
from core.planning.repair import QUOTED
from core.planning.prompting import Embed
from core.planning.step_types import type_scores
from core.tasks import TASK_TYPES, TEXT, Slot, get_task_type


def fed_slot(task_type: str, modality: str) -> Slot | None:
    """The input of a task type that an earlier result of this kind goes to: the first of that
    kind that is not a parameter (a question, labels, a language, an instruction)."""
    return next((slot for slot in get_task_type(task_type).inputs
                 if slot.modality == modality and not slot.parameter), None)


def feeding_task(types: Sequence[str], k: int) -> int | None:
    """The earlier task whose output task k takes, by the types alone, or None."""
    for j in range(k - 1, -1, -1):
        made = get_task_type(types[j]).output
        if fed_slot(types[k], made) is not None and (made != TEXT or j == k - 1):
            return j
    return None


def data_flow_links(types: Sequence[str]) -> list[tuple[int, int]]:
    """(source, task) for every task that an earlier one feeds."""
    return [(j, k) for k in range(len(types)) if (j := feeding_task(types, k)) is not None]


# Pronouns and demonstratives: a step that points back at an earlier result ("draw it").
_POINTS_BACK = re.compile(r"\b(?:it|its|this|that|these|those|them|they|their)\b", re.I)


def names_own_input(step: str, slot: Slot) -> bool:
    """Whether the step's words give this input themselves: a file of its kind; for a text,
    quoted words ("translate 'good morning'"); for a prompt, the step's own description unless
    it points back ("caption cat.png, then draw a dog": the dog, not the caption)."""
    if slot.modality == TEXT:
        return bool(QUOTED.search(step)) or (slot.prompt and not _POINTS_BACK.search(step))
    return any(modality_of_path(name) == slot.modality for name in FILE_NAME.findall(step))


def wired_input(types: Sequence[str], k: int, step: str) -> tuple[int, Slot] | None:
    """The earlier task that feeds task k and the input it goes to, unless task k's step gives
    that input itself (then the controller chooses)."""
    source = feeding_task(types, k)
    if source is None:
        return None
    slot = fed_slot(types[k], get_task_type(types[source]).output)
    return None if names_own_input(step, slot) else (source, slot)


def converters(before: str, task_type: str, step: str, allowed: set[str] | None = None) -> list[str]:
    """The task types that take what `before` makes and make what `task_type` takes, when its
    step points back at that result, cannot take it itself and names no input of its own; else
    none. A text is left alone: nearly every type that cannot take a text asks for a file."""
    made = get_task_type(before).output
    if made == TEXT or fed_slot(task_type, made) is not None or not _POINTS_BACK.search(step):
        return []
    wanted = {slot.modality for slot in get_task_type(task_type).inputs if slot.required and not slot.parameter}
    if any(modality_of_path(name) in wanted for name in FILE_NAME.findall(step)):
        return []
    return [t.name for t in TASK_TYPES if t.name != task_type and (allowed is None or t.name in allowed)
            and t.output in wanted and fed_slot(t.name, made) is not None]


def bridged(embed: Embed, steps: list[str], rankings: list[list[str]], allowed: set[str] | None = None
            ) -> tuple[list[str], list[list[str]]]:
    """The steps and their task-type rankings with a task inserted before each step that points
    back at the result just before it but cannot take it (`converters`); the step's own words
    rank the types that can go between ("say what it shows": image-to-text)."""
    out_steps: list[str] = []
    out_rankings: list[list[str]] = []
    for step, ranking in zip(steps, rankings):
        between = (converters(out_rankings[-1][0], ranking[0], step, allowed)
                   if out_rankings and out_rankings[-1] and ranking else [])
        if between:
            (scores,) = type_scores(embed, [step], set(between))
            out_steps.append(step)
            out_rankings.append(sorted(scores, key=scores.get, reverse=True))
        out_steps.append(step)
        out_rankings.append(ranking)
    return out_steps, out_rankings
