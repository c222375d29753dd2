"""Which diffusers pipeline a model folder holds, checked before loading it for a task.

Pipelines share component names: a plain Stable Diffusion folder would load as an InstructPix2Pix
pipeline and fail only mid-generation with a shape error. Reading `model_index.json` first turns
that into a plain "made for another task".
"""

from __future__ import annotations

import json
from pathlib import Path

from models.runners.base import WrongTaskError


def expect_pipeline(folder: Path, wanted: str, hint: str = "") -> None:
    """Raise WrongTaskError unless `folder` holds a diffusers pipeline of class `wanted`."""
    folder = Path(folder)
    index = _read(folder / "model_index.json")
    if index is None:
        alone = (_read(folder / "config.json") or {}).get("_class_name")
        what = f"a {alone} alone" if alone else "not a diffusers pipeline"
        raise WrongTaskError(f"it is {what}, not a {wanted}{'; ' + hint if hint else ''}")
    found = index.get("_class_name")
    if found != wanted:
        raise WrongTaskError(f"it is a {found or 'unnamed'} pipeline, not a {wanted}{'; ' + hint if hint else ''}")


def _read(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
