"""Prompt templates and the demo pool, kept as data files beside this module."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from string import Template

PROMPTS = Path(__file__).with_name("prompts")


@lru_cache(maxsize=None)
def template(name: str) -> Template:
    return Template((PROMPTS / f"{name}.txt").read_text(encoding="utf-8").strip())


@lru_cache(maxsize=None)
def demo_pool() -> tuple[dict, ...]:
    lines = (PROMPTS / "demos.jsonl").read_text(encoding="utf-8").splitlines()
    return tuple(json.loads(line) for line in lines if line.strip())


_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def pick_demos(request: str, k: int = 4) -> list[dict]:
    """The k demos whose wording overlaps the request most (Jaccard over words), best last.

    Best last because a small model copies the nearest example more faithfully.
    """
    words = _words(request)

    def score(demo: dict) -> float:
        other = _words(demo["request"])
        return len(words & other) / (len(words | other) or 1)

    ranked = sorted(demo_pool(), key=score, reverse=True)[:k]
    return list(reversed(ranked))
