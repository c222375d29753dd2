"""One installed (or partly downloaded) model, as every part of the model manager describes it."""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

MANIFEST = "jarvis-model.json"
CONTROLLER_TASK = "controller"
UNKNOWN_TASK = "unknown"


@dataclass
class ModelRecord:
    id: str
    task: str
    format: str  # "safetensors" | "gguf" | "pickle" | "unknown"
    path: str
    size_bytes: int
    description: str = ""
    source: str = "imported"  # "package" | "imported" | "hf-cache"
    complete: bool = True
    revision: str = ""  # the Hub commit, for models in the Hugging Face cache

    def to_dict(self) -> dict:
        return asdict(self)


def folder_size(path: Path) -> int:
    """Bytes on disk; symlinks (the Hugging Face cache's snapshots) count as their targets."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def free_bytes(path: Path) -> int:
    """Free space on the file system that holds `path` (or would, once created)."""
    path = Path(path)
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free
