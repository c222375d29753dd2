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

Two more readings of a request's steps follow from the same kinds. A step that points back at
an earlier result its type cannot take asks for a task between them that the request leaves
unsaid: "create an image of a robot, then say what it shows out loud" reads the image as text
before speaking it (`bridged`). And a step of the same type as the step before, which cannot
take that type's result and gives no input of its own, says the same task again: "listen to
call.wav, write down what is said" is one transcription (`joined_repeats`).
"""

from __future__ import annotations

import re
from typing import Sequence

from core.plan import FILE_NAME, modality_of_path
from core.planning.repair import QUOTED
from core.planning.prompting import Embed
from core.planning.step_types import type_scores
from core.tasks import PLANNABLE_TASK_TYPES, TEXT, Slot, get_task_type


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
# Only a personal pronoun asks for a task in between: a demonstrative as often introduces the
# user's own input ("convert this text into speech") or a relative clause ("a poem that rhymes").
_REFERS_TO_A_RESULT = re.compile(r"\b(?:it|its|them|they|their)\b", re.I)


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


def _main_input(task_type: str) -> Slot | None:
    """The first input a task of this type must be given that is not a parameter."""
    return next((slot for slot in get_task_type(task_type).inputs if slot.required and not slot.parameter), None)


def converters(before: str, task_type: str, step: str, allowed: set[str] | None = None) -> list[str]:
    """The task types that take what `before` makes and make what `task_type` takes, when its
    step refers back to that result with a personal pronoun, cannot take it itself and gives no input of its own; else
    none. A text is left alone: nearly every type that cannot take a text asks for a file."""
    return _converters_from(get_task_type(before).output, task_type, step, allowed)


def _converters_from(made: str, task_type: str, step: str, allowed: set[str] | None,
                     pointed: bool = False) -> list[str]:
    """`converters` from an output kind; `pointed`: the step is known to mean that result."""
    wanted = _main_input(task_type)
    if (made == TEXT or wanted is None or fed_slot(task_type, made) is not None
            or not (pointed or _REFERS_TO_A_RESULT.search(step)) or names_own_input(step, wanted)):
        return []
    return [t.name for t in PLANNABLE_TASK_TYPES if t.name != task_type and (allowed is None or t.name in allowed)
            and t.output == wanted.modality and fed_slot(t.name, made) is not None]


def bridged(embed: Embed, steps: list[str], rankings: list[list[str]], allowed: set[str] | None = None,
            limit: int | None = None, attached: Sequence[str] = ()) -> tuple[list[str], list[list[str]]]:
    """The steps and their task-type rankings with a task inserted before each step that points
    back at the result just before it but cannot take it (`converters`), while there are fewer
    than `limit` steps; the step's own words rank the types that can go between ("say what it
    shows": image-to-text). Before the first step stands an `attached` file that no step's type
    takes, when there is one: the user attached it to be used, so the first step means it, with
    or without a pronoun ("My grandmother sent me this letter. Could you read it out loud?" with
    letter.png reads the letter before speaking it)."""
    taken = {slot.modality for ranking in rankings if ranking for slot in get_task_type(ranking[0]).inputs}
    unused = [kind for kind in dict.fromkeys(modality_of_path(name) for name in attached) if kind not in taken]
    out_steps: list[str] = []
    out_rankings: list[list[str]] = []
    for k, (step, ranking) in enumerate(zip(steps, rankings)):
        room = limit is None or len(out_steps) + len(steps) - k < limit
        if k == 0:  # what stands before the first step: the one kind of attached file no step takes
            made = unused[0] if len(unused) == 1 else None
        else:
            made = get_task_type(out_rankings[-1][0]).output if out_rankings[-1] else None
        between = (_converters_from(made, ranking[0], step, allowed, pointed=k == 0)
                   if room and made and ranking else [])
        if between:
            (scores,) = type_scores(embed, [step], set(between))
            out_steps.append(step)
            out_rankings.append(sorted(scores, key=scores.get, reverse=True))
        out_steps.append(step)
        out_rankings.append(ranking)
    return out_steps, out_rankings


def repeats(before: str, task_type: str, step: str, files: Sequence[str] = ()) -> bool:
    """Whether a step of `task_type` after one of `before` says the same task again: the same
    type, which cannot take its own result, on a step that gives no input of its own, with at
    most one file of the kind it takes ("describe the first photo, describe the second photo"
    with two photos are two tasks)."""
    main = _main_input(task_type)
    return (before == task_type and main is not None and get_task_type(before).output not in
            get_task_type(task_type).input_modalities and not names_own_input(step, main)
            and sum(modality_of_path(name) == main.modality for name in files) < 2)


def joined_repeats(embed: Embed, steps: list[str], allowed: set[str] | None = None,
                   files: Sequence[str] = ()) -> list[str]:
    """The steps with each one that says the step before it again (`repeats`, each step typed
    by the classifier alone) joined to it."""
    if len(steps) < 2:
        return steps
    types = [max(scores, key=scores.get) if scores else "" for scores in type_scores(embed, steps, allowed)]
    joined = [steps[0]]
    for k in range(1, len(steps)):
        if types[k] and repeats(types[k - 1], types[k], steps[k], files):
            joined[-1] += ", " + steps[k]
        else:
            joined.append(steps[k])
    return joined
