"""The prompts, kept as data files in `core/prompts/`, and the loader every stage uses."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from string import Template

PROMPTS = Path(__file__).with_name("prompts")


@lru_cache(maxsize=None)
def template(name: str) -> Template:
    return Template((PROMPTS / f"{name}.txt").read_text(encoding="utf-8").strip())
