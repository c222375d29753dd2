"""Runners: one class per family of tasks, each loading a model folder and running it.

A runner declares the tasks it serves. `load` returns whatever it needs to keep warm; `run`
takes the loaded object, the resolved inputs (slot -> text or absolute path), the folder for
artifacts and the cancel token, and returns outputs keyed by modality plus structured extras.
"""

from __future__ import annotations

from models.runners.base import Runner
from models.runners.text import SentenceSimilarityRunner

RUNNERS: tuple[type[Runner], ...] = (SentenceSimilarityRunner,)


def runner_for(task: str) -> type[Runner] | None:
    return next((r for r in RUNNERS if task in r.tasks), None)
