"""The planner's demo pool and step wordings (data files in `core/prompts/`), and the ranking of
demos for a request by meaning (`step_types` chooses each step's task type).

Demos are chosen per request: by sentence-embedding similarity when the planner is given an
embedding function (core does not know where embeddings come from; the app injects one), by word
overlap otherwise.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import weakref
from functools import lru_cache
from typing import Callable, Sequence

from core.plan import FILE_NAME, modality_of_path
from core.planning.repair import QUOTED
from core.tasks import TASK_TYPES
from core.templates import PROMPTS

log = logging.getLogger(__name__)

# texts -> one vector per text; vectors normalised, so a dot product is the cosine similarity.
Embed = Callable[[list[str]], Sequence[Sequence[float]]]


@lru_cache(maxsize=None)
def demo_pool() -> tuple[dict, ...]:
    lines = (PROMPTS / "demos.jsonl").read_text(encoding="utf-8").splitlines()
    return tuple(json.loads(line) for line in lines if line.strip())


def demo_types(demo: dict) -> set[str]:
    return {task["task"] for task in demo["tasks"]}


_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _usable(allowed: set[str] | None) -> list[dict]:
    """Demos using only allowed task types: a demo of a type the plan cannot use only misleads."""
    return [d for d in demo_pool() if allowed is None or demo_types(d) <= allowed]


def pick_demos(request: str, k: int = 4, allowed: set[str] | None = None) -> list[dict]:
    """The k demos whose wording overlaps the request most (Jaccard over words), best last.

    Best last because a small model copies the nearest example more faithfully.
    """
    words = _words(request)

    def score(demo: dict) -> float:
        other = _words(demo["request"])
        return len(words & other) / (len(words | other) or 1)

    ranked = sorted(_usable(allowed), key=score, reverse=True)[:k]
    return list(reversed(ranked))


# Vectors of fixed texts (the demo requests, the step wordings) per embedding function, so
# planners sharing an embedder embed each set once.
_vector_cache: "weakref.WeakKeyDictionary[Callable, dict]" = weakref.WeakKeyDictionary()
_cache_lock = threading.Lock()


def similarity(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two normalised vectors."""
    return sum(x * y for x, y in zip(a, b))


def cached_vectors(embed: Embed, name: str, texts: Callable[[], list[str]]) -> list[Sequence[float]]:
    with _cache_lock:
        per_embed = _vector_cache.setdefault(embed, {})
        if name not in per_embed:
            per_embed[name] = [list(v) for v in embed(texts())]
        return per_embed[name]


def pool_vectors(embed: Embed) -> list[Sequence[float]]:
    return cached_vectors(embed, "demo requests", lambda: [intent(d["request"]) for d in demo_pool()])


_FILE = re.compile(r"'?\b%s'?" % FILE_NAME.pattern, re.I)  # with the quotes around it, if any


def intent(text: str) -> str:
    """What a request asks for, without what it is about: 'How similar are 'A cat' and 'A dog'?'
    -> 'How similar are "..." and "..."?', 'Caption example.jpg' -> 'Caption the image'. Demos are
    near when they ask for the same thing, not when they share a file name or a quoted topic."""
    text = _FILE.sub(lambda m: f"the {modality_of_path(m.group(0).strip(chr(39))) or 'file'}", text)
    return QUOTED.sub('"..."', text)


class DemoPicker:
    """Chooses demos for a request: the nearest by embedding, or by word overlap without one.

    An embedder that fails is dropped with a warning, so planning goes on with word overlap.
    """

    def __init__(self, embed: Embed | None = None) -> None:
        self.embed = embed

    def warm_up(self) -> None:
        """Load the embedder and embed the demo pool now (the window does it in the background
        at start-up), so the first request neither waits for it nor sits where Stop cannot act."""
        if self.embed is not None:
            self.pick("warm up", 1)

    def pick(self, request: str, k: int, allowed: set[str] | None = None) -> list[dict]:
        if self.embed is not None:
            try:
                return self._nearest(request, k, allowed)
            except Exception as error:  # noqa: BLE001 - any embedder failure means: use words
                log.warning("demo embeddings unavailable (%s); choosing demos by word overlap", error)
                self.embed = None
        return pick_demos(request, k, allowed)

    def _nearest(self, request: str, k: int, allowed: set[str] | None) -> list[dict]:
        vectors = pool_vectors(self.embed)
        (query,) = self.embed([intent(request)])
        scored = [(similarity(query, vector), index)
                  for index, (demo, vector) in enumerate(zip(demo_pool(), vectors))
                  if allowed is None or demo_types(demo) <= allowed]
        best = sorted(scored, reverse=True)[:k]
        return [demo_pool()[index] for _, index in reversed(best)]


@lru_cache(maxsize=None)
def step_wordings() -> dict[str, list[str]]:
    """Task type -> typical wordings of a step of that type (prompts/step_wordings.json)."""
    data = json.loads((PROMPTS / "step_wordings.json").read_text(encoding="utf-8"))
    return {name: wordings for name, wordings in data.items() if not name.startswith("_")}


def not_step_wordings() -> list[str]:
    """What people write around a request that asks for no task (prompts/not_steps.json)."""
    return json.loads((PROMPTS / "not_steps.json").read_text(encoding="utf-8"))["none"]


def step_examples() -> list[tuple[str, str]]:
    """(wording, task type) pairs: every demo task's step, every typical wording, and every task
    type's description."""
    pairs = [(task["step"], task["task"]) for demo in demo_pool() for task in demo["tasks"] if task.get("step")]
    pairs += [(wording, name) for name, wordings in step_wordings().items() for wording in wordings]
    return pairs + [(task_type.description, task_type.name) for task_type in TASK_TYPES]
