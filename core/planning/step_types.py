"""Each listed step's task type: a classifier over sentence embeddings, and a search over the whole
chain of steps.

The classifier (logistic regression on MiniLM vectors) is fitted on data the project writes:
every demo's steps, the typical wordings per type (`prompts/step_wordings.json`) and each type's
description, all labelled with their type. It replaced nearest-wording with hand-set bonuses
(stated products, question cues, the request's weight), which showed no gain under
cross-validation on the TaskBench dev file (README, Planning quality).

The chain search then picks one type per step jointly: a step's type must be able to run where
it stands (an image task needs an image file or an earlier image output), and a step of another
type than the step before it that takes what that step makes (a ControlNet annotator's map: only
its own drawer) scores FEED_BONUS more, because
consecutive steps of a request usually pass their result on and seldom repeat a type (1 of the
demos' 86 consecutive pairs does). This is the training-free graph search of GNN4TaskPlan, over
the catalogue's own input and output kinds.
"""

from __future__ import annotations

import threading
import weakref
from typing import Sequence

from sklearn.linear_model import LogisticRegression

from core.plan import modality_of_path
from core.planning.prompting import Embed, not_step_wordings, step_examples
from core.tasks import TASK_TYPES, TEXT, get_task_type

# Both chosen by 5-fold cross-validation on the demos' own steps (train on four fifths of the
# demos plus the wordings, score the held-out demos' steps and chains), never on benchmark data:
# C 4 against 1 and 16 (step accuracy 85.6% against 81.0% and 86.1% without the search);
# FEED_BONUS 1 gives 87.5% and 108 of 130 whole chains against 104 without (0.5 and 2 are
# within one step). `benchmarks/bench_step_types.py demos`, with every type's wordings (stop 35).
C = 4.0
FEED_BONUS = 1.0
BEAM = 20
# The class of what asks for no task (prompts/not_steps.json); never a plan's task type.
NOT_A_STEP = "none"
# The ControlNet annotators, each drawn from by one drawer (core/tasks.py, TaskType.follows).
_ANNOTATORS = frozenset(t.follows for t in TASK_TYPES if t.follows)

_classifiers: "weakref.WeakKeyDictionary[Embed, LogisticRegression]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def fit_classifier(embed: Embed, examples: list[tuple[str, str]] | None = None) -> LogisticRegression:
    """The step-type classifier for an embedder, fitted on `examples` (by default the project's
    labelled wordings; fitted once per embedder, about a second)."""
    if examples is None:
        examples = step_examples() + [(text, NOT_A_STEP) for text in not_step_wordings()]
    model = LogisticRegression(C=C, max_iter=3000)
    model.fit([list(v) for v in embed([text for text, _ in examples])], [name for _, name in examples])
    return model


def classifier(embed: Embed) -> LogisticRegression:
    with _lock:
        if embed not in _classifiers:
            _classifiers[embed] = fit_classifier(embed)
        return _classifiers[embed]


def type_scores(embed: Embed, steps: list[str], allowed: set[str] | None = None) -> list[dict[str, float]]:
    """Per step, each allowed task type's log-probability under the classifier."""
    model = classifier(embed)
    rows = model.predict_log_proba([list(v) for v in embed(list(steps))])
    return [{str(name): float(p) for name, p in zip(model.classes_, row)
             if name != NOT_A_STEP and (allowed is None or name in allowed)} for row in rows]


def clause_types(embed: Embed, texts: list[str], allowed: set[str] | None = None) -> list[tuple[str, float]]:
    """Per text, its most likely class among the allowed task types and NOT_A_STEP, with its
    probability."""
    if not texts:
        return []
    model = classifier(embed)
    rows = model.predict_proba([list(v) for v in embed(list(texts))])
    best = []
    for row in rows:
        scored = {str(name): float(p) for name, p in zip(model.classes_, row)
                  if name == NOT_A_STEP or allowed is None or name in allowed}
        name = max(scored, key=scored.get)
        best.append((name, scored[name]))
    return best


def can_run(task_type: str, files: Sequence[str], earlier_outputs: Sequence[str]) -> bool:
    """Whether every required non-text input can be fed by a given file or an earlier output."""
    kinds = {modality_of_path(name) for name in files} | set(earlier_outputs)
    return all(slot.modality == TEXT or slot.modality in kinds or not slot.required
               for slot in get_task_type(task_type).inputs)


def takes_result(before: str, task_type: str) -> bool:
    """Whether a task of `task_type` is made to take what a task of `before` outputs: an input of
    its kind, and for a ControlNet annotator's map, only the drawer that follows that annotator
    (`TaskType.follows`)."""
    if get_task_type(before).output not in get_task_type(task_type).input_modalities:
        return False
    return before not in _ANNOTATORS or get_task_type(task_type).follows == before


def best_chain(scores: list[dict[str, float]], files: Sequence[str]) -> list[str]:
    """One task type per step, the chain with the highest total score among those that can run
    (beam search); a step no type can run at is skipped in the search and left to the scores."""
    beams: list[tuple[tuple[str, ...], float]] = [((), 0.0)]
    for step_scores in scores:
        grown = []
        for chain, total in beams:
            outputs = [get_task_type(name).output for name in chain]
            for name, score in step_scores.items():
                if not can_run(name, files, outputs):
                    continue
                # a step that passes its result to a task of another type; the same type again
                # is a repeated step more often than a task run on its own output
                feeds = bool(chain) and chain[-1] != name and takes_result(chain[-1], name)
                grown.append((chain + (name,), total + score + (FEED_BONUS if feeds else 0.0)))
        if grown:
            beams = sorted(grown, key=lambda beam: -beam[1])[:BEAM]
        else:  # nothing can run here: keep the chain and the step's own best guess
            best = max(step_scores, key=step_scores.get)
            beams = [(chain + (best,), total) for chain, total in beams]
    return list(beams[0][0])


def rank_step_types(embed: Embed, steps: list[str], allowed: set[str] | None = None,
                    files: Sequence[str] = ()) -> list[list[str]]:
    """For each step, the allowed task types best first: the best chain's type, then the rest by
    the classifier's score (the planner falls back on them where the chain's type cannot run)."""
    scores = type_scores(embed, steps, allowed)
    if not scores or not scores[0]:
        return [[] for _ in steps]
    chain = best_chain(scores, files)
    return [[first] + sorted((n for n in step_scores if n != first), key=step_scores.get, reverse=True)
            for first, step_scores in zip(chain, scores)]
