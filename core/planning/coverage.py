"""Clauses of a request that none of the controller's listed steps speaks for.

A small controller often lists the first thing a request asks for and stops ("Write a poem about
autumn and read it aloud." -> ["write a poem about autumn"]). A listed step is mostly the
request's own words, so what the steps leave out is visible in the request itself: a run of
words, within one sentence and between punctuation, none of which any step uses. Such a run with
enough words of its own becomes a step, in its place in the request's order. Quoted texts and
file names are a step's material, not its words, so they neither cover nor count.
"""

from __future__ import annotations

import re

from core.plan import FILE_NAME
from core.planning.repair import QUOTED
from core.planning.step_filter import _FILLER, _NARRATION, narrated

_TOKEN = re.compile(r"[A-Za-z0-9']+|[.,;:?!]")
_BREAK = set(".,;:?!")
# A run needs this many words of its own (not filler) to be a step. Measured on the TaskBench dev
# file's folds (README, Planning quality): 1 adds steps from stray words, 3 misses "read it aloud".
MIN_WORDS = 2


def _words(text: str) -> set[str]:
    return {w.lower() for w in re.findall(r"[a-z0-9]+", FILE_NAME.sub(" ", text), re.I)}


def uncovered_clauses(steps: list[str], request: str, min_words: int = MIN_WORDS) -> list[tuple[int, str]]:
    """(position in the request, clause) for each run of the request's words that no step uses."""
    masked = QUOTED.sub(lambda m: " " * len(m.group(0)), FILE_NAME.sub(lambda m: " " * len(m.group(0)), request))
    covered = set().union(*(_words(step) for step in steps)) if steps else set()
    clauses, run = [], []

    def close() -> None:
        content = [m for m in run if m.group(0).lower() not in _FILLER]
        if len(content) >= max(min_words, 1):
            start = content[0].start()  # "and read it aloud" -> "read it aloud"
            clauses.append((start, request[start:run[-1].end()]))
        run.clear()

    for match in _TOKEN.finditer(masked):
        word = match.group(0).lower()
        if word in _BREAK or (word not in _FILLER and word in covered):
            close()
        else:
            run.append(match)
    close()
    return [(position, clause) for position, clause in clauses
            if not _NARRATION.match(clause) and not narrated(clause, request)]


def _position(step: str, request: str) -> int:
    """Where in the request a step's words first appear (the request's end when they do not)."""
    lowered = request.lower()
    places = [lowered.find(w) for w in _words(step) - _FILLER if lowered.find(w) >= 0]
    return min(places) if places else len(request)


def with_uncovered_clauses(steps: list[str], request: str, limit: int, min_words: int = MIN_WORDS) -> list[str]:
    """The steps, with the request's uncovered clauses added in request order, at most `limit`."""
    extra = uncovered_clauses(steps, request, min_words)
    if not extra:
        return steps
    ordered = sorted([(_position(step, request), k, step) for k, step in enumerate(steps)] +
                     [(position, len(steps) + k, clause) for k, (position, clause) in enumerate(extra)])
    return [step for _, _, step in ordered][:limit]
