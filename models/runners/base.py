from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from models.devices import Placement


def quiet_libraries() -> None:
    """No per-load progress bars on the terminal: the app reports progress itself."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


class Runner:
    tasks: ClassVar[tuple[str, ...]] = ()

    def __init__(self, path: Path, placement: Placement) -> None:
        self.path = path
        self.placement = placement

    def load(self) -> None:
        raise NotImplementedError

    def run(self, task: str, inputs: dict[str, str], workdir: Path, cancel) -> dict[str, Any]:
        raise NotImplementedError

    def unload(self) -> None:
        """Drop references so the memory can be freed."""
        self.__dict__.pop("model", None)
