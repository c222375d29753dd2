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
"""

from __future__ import annotations

import re
from typing import Sequence

from core.plan import FILE_NAME, modality_of_path
from core.planning.repair import QUOTED
from core.tasks import TEXT, Slot, get_task_type


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
