"""The request's own clauses as steps, typed by the step-type classifier.

A request is split where one thing asked for ends and the next begins (sentence ends, commas,
"and then"); each clause is typed by the classifier, whose "none" class (prompts/not_steps.json)
recognises a clause that only tells (what the user has, did or will do). That gives steps without
a controller pass, and it finds the steps a small controller's listing leaves out: "Write a poem
and read it aloud" listed as ["write a poem"] is missing its text-to-speech clause.

Both uses were measured on the TaskBench dev file and the product suite against the listing alone,
with the threshold chosen per fold on the other folds (README, Planning quality;
benchmarks/bench_step_types.py score).
"""

from __future__ import annotations

import math
import re
from typing import Sequence

from core.plan import modality_of_path
from core.planning.prompting import Embed
from core.planning.repair import QUOTED
from core.planning.step_filter import FILLER, grounded
from core.planning.step_types import NOT_A_STEP, clause_types, rank_step_types, type_scores
from core.tasks import PLANNABLE_TASK_TYPES, TaskType, get_task_type

# Quoted text (repair.QUOTED: "I've" and "don't" open no quote) is a task's input ("Translate
# 'Where is it?' to French"): held out of the split.
_HELD = re.compile(r"\x00(\d+)\x00")
# The words that join one step to the next: a clause starting with one is a new step.
_JOIN = r"(?:and then|and also|and finally|then|and|also|after that|afterwards|finally|next)"
_BOUNDARY = re.compile(rf"(?:[.?!;:]+\s+|,\s*|\s+){_JOIN}\s+|[.?!;:]+(?:\s+|$)|,\s*", re.I)
_LEADING_JOIN = re.compile(rf"^{_JOIN}\b[\s,]*", re.I)
# A piece that starts as a noun phrase continues a list ("a cat, a dog or a bird"), not a step.
_CONTINUES = re.compile(r"^(?:a|an|the|or|nor)\b", re.I)
_WORD = re.compile(r"[a-z0-9]+")

# A clause is taken as a step when its most likely class is a task type with at least this
# probability: as the only steps (the small default controller's mode), and as a step a bigger
# controller's listing left out. Each chosen per fold on the other folds of the dev file
# (benchmarks/bench_step_types.py score; README, Planning quality): for clauses alone 0.15 in
# four folds of five since every task type has typical wordings (0.2 before: more types share
# the probability); for added clauses with Qwen2.5-0.5B 0.4 or 0.5, which score alike.
CLAUSE_STEP_PROBABILITY = 0.15
MISSING_CLAUSE_PROBABILITY = 0.4


def request_clauses(request: str) -> list[str]:
    """The request's clauses in order; a clause that is only quoted text is left out (it is an input)."""
    held: list[str] = []

    def hold(match: re.Match) -> str:
        held.append(match.group(0))
        return f"\x00{len(held) - 1}\x00"

    clauses: list[str] = []
    for piece in _BOUNDARY.split(QUOTED.sub(hold, request)):
        piece = (piece or "").strip()
        if not QUOTED.sub("", _HELD.sub("", piece)).strip(" ,;:-"):
            continue
        if clauses and _CONTINUES.match(piece):
            clauses[-1] += ", " + piece
        else:
            clauses.append(_LEADING_JOIN.sub("", piece))
    return [_HELD.sub(lambda m: held[int(m.group(1))], clause) for clause in clauses if clause]


def asked_clauses(embed: Embed, request: str, allowed: set[str] | None = None,
                  min_probability: float = CLAUSE_STEP_PROBABILITY,
                  mask_quotes: bool = False) -> list[tuple[int, str, str]]:
    """(index, clause, task type) for each clause the classifier takes for a task; with
    `mask_quotes`, typed with quoted inputs masked, as the classifier's texts have them."""
    clauses = request_clauses(request)
    typed = [QUOTED.sub('"..."', clause) for clause in clauses] if mask_quotes else clauses
    asked = []
    for index, (clause, (name, probability)) in enumerate(zip(clauses, clause_types(embed, typed, allowed))):
        if name != NOT_A_STEP and probability >= min_probability:
            asked.append((index, clause, name))
    return asked


def clause_steps(embed: Embed, request: str, allowed: set[str] | None = None,
                 min_probability: float = CLAUSE_STEP_PROBABILITY) -> list[str]:
    """The request's steps read from its clauses alone, in order. Quoted inputs are masked for
    typing ("How similar are '...'" reads as a comparison, not as the quoted words): held-out
    folds 61.3 / 24.4 node / link F1 against 60.4 / 23.0 unmasked. The clauses added to a
    listing are typed as written (masked, 65.9 / 25.9 against 67.0 / 27.0 with the 0.5B)."""
    return [clause for _, clause, _ in asked_clauses(embed, request, allowed, min_probability, mask_quotes=True)]


def checked_listing(embed: Embed, listed: list[str], request: str,
                    allowed: set[str] | None = None) -> tuple[list[str], bool]:
    """A controller's listing checked against the request, and whether it is still the
    listing: when no listed step has half its words from the request (a small model lists the
    earlier turns a follow-up quotes), the request's own clauses, if any asks for a task;
    otherwise the listing as it is."""
    if not any(grounded(step, request) for step in listed):
        steps = clause_steps(embed, request, allowed)
        if steps:
            return steps, False
    return listed, True


def _overlap(step: str, clause: str) -> int:
    return len((set(_WORD.findall(step.lower())) - FILLER) & set(_WORD.findall(clause.lower())))


def voted_steps(embed: Embed, steps: list[str], rankings: list[list[str]], request: str,
                allowed: set[str] | None = None, min_probability: float = MISSING_CLAUSE_PROBABILITY) -> list[str]:
    """`steps` (a listing) with a step replaced by the request's clause it stands at where the two
    readings disagree and the clause's is the likelier: the clause asks for a type no step has,
    at least `min_probability` likely (as sure as a clause the listing left out must be to be
    added), and more likely than the step's own type is for the step. A small model lists the
    follow-up "Now read that description aloud." as "read this conversation"."""
    parts = request_clauses(request)
    if not parts or not steps:
        return steps
    kinds = clause_types(embed, parts, allowed)
    own = type_scores(embed, steps, allowed)
    have = {ranked[0] for ranked in rankings if ranked}
    voted = list(steps)
    for k, (step, ranked) in enumerate(zip(steps, rankings)):
        place = max(range(len(parts)), key=lambda i: _overlap(step, parts[i]))
        name, probability = kinds[place]
        if (ranked and _overlap(step, parts[place]) and name != NOT_A_STEP and name not in have
                and probability >= min_probability and probability > math.exp(own[k][ranked[0]])):
            voted[k] = parts[place]
            have.add(name)
    return voted


def with_missing_clauses(embed: Embed, steps: list[str], request: str, allowed: set[str] | None = None,
                         files: Sequence[str] = (), min_probability: float = MISSING_CLAUSE_PROBABILITY,
                         rankings: list[list[str]] | None = None) -> list[str]:
    """`steps` (listed by the controller) with each clause that asks for a task type none of them
    has added where it stands in the request. Each step stands at the clause it shares most words
    with; an added clause goes after the steps of earlier clauses. `rankings`: the steps' own
    (rank_step_types), when the caller has them already."""
    asked = asked_clauses(embed, request, allowed, min_probability)
    if not asked:
        return steps
    clauses = request_clauses(request)
    if rankings is None:
        rankings = rank_step_types(embed, steps, allowed, files) if steps else []
    have = {ranked[0] for ranked in rankings if ranked}
    places = [max(range(len(clauses)), key=lambda i: _overlap(step, clauses[i])) for step in steps]
    items = [(place, order, step) for order, (place, step) in enumerate(zip(places, steps))]
    for index, clause, name in asked:
        if name not in have and index not in places:
            items.append((index, len(steps), clause))
            have.add(name)
    return [step for _, _, step in sorted(items)]


def with_clauses_for_attached(embed: Embed, steps: list[str], rankings: list[list[str]] | None, request: str,
                              attached: Sequence[str], allowed: set[str] | None = None,
                              files: Sequence[str] = ()) -> list[str]:
    """`steps` with, for each attached file of a kind no step's type takes, the request's clauses
    that ask (at least CLAUSE_STEP_PROBABILITY, the clause-step threshold) for a type that takes
    it, where they stand: a user who attaches a picture asks something of it ("What is in this
    picture? Read the answer aloud." listed as ["read the answer aloud"]). Attached files only: a
    file named in the text may be where to save a result."""
    if not attached:
        return steps
    if rankings is None or len(rankings) != len(steps):
        rankings = rank_step_types(embed, steps, allowed, files) if steps else []

    def takes(task_type: TaskType, kind: str) -> bool:
        return any(slot.modality == kind and slot.required for slot in task_type.inputs)

    used = [get_task_type(ranked[0]) for ranked in rankings if ranked]
    for kind in dict.fromkeys(modality_of_path(name) for name in attached):
        takers = {t.name for t in PLANNABLE_TASK_TYPES if (allowed is None or t.name in allowed) and takes(t, kind)}
        if takers and not any(takes(task_type, kind) for task_type in used):
            steps = with_missing_clauses(embed, steps, request, takers, files, CLAUSE_STEP_PROBABILITY)
    return steps
