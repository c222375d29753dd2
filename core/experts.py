"""The small interface between the engine and whatever runs expert models.

The engine never imports `models`: `main.py` hands it an object that satisfies `ExpertProvider`
(`models.runtime.ExpertRuntime` in the product; fakes in scheduling tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from common.cancel import CancelToken


class ExpertsUnavailable(RuntimeError):
    """The provider cannot be asked at all (a cluster that is down, slow or refuses); the message
    names it. Selection turns it into that task's failure, not the turn's."""


class ModelInfo(Protocol):
    id: str
    task: str
    description: str
    size_bytes: int


class Recommendation(Protocol):
    """A model to download for a task nothing installed can do (a catalogue entry)."""

    id: str
    description: str
    license: str
    download_bytes: int


class ExpertProvider(Protocol):
    def candidates(self, task: str) -> list[ModelInfo]:
        """Installed models able to do `task`, best first."""

    def run(self, model_id: str, task: str, inputs: dict[str, str], workdir: Path,
            cancel: CancelToken) -> dict[str, Any]:
        """Run one task; inputs are slot -> text or absolute file path.

        Returns outputs keyed by modality ("text", "image", "audio", "video") for what later
        tasks can consume, plus anything structured ("labels", "boxes", "score") and "device".
        Raises an exception with a plain message on failure.
        """

    # Optional: `recommend(task) -> Recommendation | None`; the engine asks it when a task has no
    # installed model, so the answer can say what to install.
