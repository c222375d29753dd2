"""Import a model from a local folder or a .gguf file into the data folder.

Everything is checked before anything is registered: a folder needs config.json (or diffusers'
model_index.json) and safetensors weights whose headers match their file sizes, with every shard
an index names; a GGUF needs its magic and a header whose tensor table fits in the file. The files
are then copied (or moved) into a hidden staging folder, hashed on the way, and the folder is
renamed into place with its `jarvis-model.json` manifest: an import cut short leaves nothing that
the store would list.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from models.catalogue import load_catalogue
from models.errors import ModelManagerError
from models.formats import (PICKLE_SUFFIXES, FormatError, check_safetensors, hash_file, infer_task,
                            needed_for_inference, read_gguf)
from models.record import CONTROLLER_TASK, MANIFEST, ModelRecord, free_bytes
from models.store import LocalStore

log = logging.getLogger(__name__)

COPY_CHUNK = 4 << 20


@dataclass
class ImportPlan:
    files: list[tuple[Path, str]]  # (source file, path inside the model folder)
    format: str
    task: str | None
    default_id: str
    main_file: str = ""  # the GGUF inside the folder, for single-file models
    description: str = ""


def import_model(store: LocalStore, source: Path | str, task: str | None = None, model_id: str | None = None,
                 description: str = "", move: bool = False) -> ModelRecord:
    source = Path(source).expanduser()
    if not source.exists():
        raise ModelManagerError(f"{source}: no such file or folder")
    plan = plan_gguf(source) if source.is_file() else plan_folder(source)
    task = task or plan.task
    if not task:
        raise ModelManagerError(f"{source}: cannot tell which task this model does from its config; "
                                "say it with --task")
    model_id = model_id or plan.default_id
    if store.get(model_id, include_incomplete=True) is not None:
        raise ModelManagerError(f"a model '{model_id}' is already installed; remove it first or choose "
                                "another name with --id")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "--", model_id).strip(".-") or "model"
    dest = store.models_dir / slug
    if dest.exists():
        raise ModelManagerError(f"{dest} already exists; remove it or choose another name with --id")
    size = sum(src.stat().st_size for src, _ in plan.files)
    if not move and free_bytes(store.models_dir) < size:
        raise ModelManagerError(f"not enough disk space in {store.models_dir} to copy {size} bytes")
    staging = store.models_dir / f".{slug}.importing"
    shutil.rmtree(staging, ignore_errors=True)  # what a killed import left
    staging.mkdir(parents=True)
    moved: list[tuple[Path, Path]] = []
    try:
        recorded = {}
        for src, rel in plan.files:
            target = staging / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if move:
                shutil.move(src, target)
                moved.append((target, src))
            else:
                shutil.copyfile(src, target)
                os.chmod(target, src.stat().st_mode & 0o666)  # a private file stays private
            digest = hash_file(target)
            recorded[rel] = {"size": digest.size, "sha256": digest.sha256}
        entry = load_catalogue().expert(model_id)
        manifest = {"id": model_id, "task": task, "format": plan.format,
                    "description": description or plan.description or (entry.description if entry else ""),
                    "source": str(source.resolve()), "imported_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "files": recorded}
        if plan.main_file:
            manifest["file"] = plan.main_file
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        os.replace(staging, dest)
    except BaseException:
        for target, src in reversed(moved):  # put moved files back where they were
            shutil.move(target, src)
        shutil.rmtree(staging, ignore_errors=True)
        raise
    record = store.get(model_id)
    if record is None:  # pragma: no cover - the store lists what was just written
        raise ModelManagerError(f"{model_id} was imported to {dest} but the store does not list it")
    return record


def check_link(folder: Path, path: Path) -> None:
    """A file reached through a link must stay inside the folder, or be the blob of a snapshot in
    a Hugging Face cache (snapshots/<commit>/x links to ../../blobs/<hash>), so an import never copies
    a file from elsewhere that the link's author chose."""
    target = path.resolve()
    if target.is_relative_to(folder):
        return
    repo = folder.parent.parent
    if folder.parent.name == "snapshots" and target.parent == repo / "blobs":
        return
    raise ModelManagerError(f"{path}: a link to {target}, outside the folder being imported; "
                            "copy the file in instead")


def plan_gguf(path: Path) -> ImportPlan:
    try:
        info = read_gguf(path)
    except FormatError as error:
        hint = "" if path.suffix.lower() == ".gguf" else "; import a model folder or a .gguf file"
        raise ModelManagerError(f"{path}: {error}{hint}") from None
    except OSError as error:
        raise ModelManagerError(f"{path}: cannot be read ({error.strerror})") from None
    name = path.name if path.suffix.lower() == ".gguf" else f"{path.name}.gguf"
    described = " ".join(x for x in (info.name, info.architecture and f"({info.architecture})") if x)
    return ImportPlan([(path, name)], "gguf", CONTROLLER_TASK, name, main_file=name,
                      description=f"GGUF chat model {described}".strip())


def plan_folder(folder: Path) -> ImportPlan:
    folder = folder.resolve()
    if not (folder / "config.json").is_file() and not (folder / "model_index.json").is_file():
        raise ModelManagerError(f"{folder}: no config.json (nor a diffusers model_index.json): "
                                "not a Hugging Face model folder")
    files = [p for p in sorted(folder.rglob("*")) if p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    for path in files:
        check_link(folder, path)
    weights = [p for p in files if p.suffix == ".safetensors"]
    if not weights:
        pickles = [p.name for p in files if p.name.endswith(PICKLE_SUFFIXES)]
        if pickles:
            raise ModelManagerError(f"{folder}: only pickle weights ({', '.join(pickles[:3])}), which can run code "
                                    "when loaded; convert them to safetensors first")
        raise ModelManagerError(f"{folder}: no weights (*.safetensors) in the folder")
    for path in weights:
        try:
            check_safetensors(path)
        except FormatError as error:
            raise ModelManagerError(f"{folder}: {error}") from None
    for index in folder.rglob("*.safetensors.index.json"):
        try:
            shards = set(json.loads(index.read_text(encoding="utf-8")).get("weight_map", {}).values())
        except (OSError, ValueError) as error:
            raise ModelManagerError(f"{index}: unreadable ({error})") from None
        missing = sorted(s for s in shards if not (index.parent / s).is_file())
        if missing:
            raise ModelManagerError(f"{folder}: shard {missing[0]} named by {index.name} is missing")
    # Pickled copies of the same weights are left behind (not needed, and they can run code), as
    # are other frameworks' weights.
    kept = [p for p in files if not p.name.endswith(PICKLE_SUFFIXES)
            and needed_for_inference(p.relative_to(folder).as_posix())]
    return ImportPlan([(p, p.relative_to(folder).as_posix()) for p in kept], "safetensors",
                      infer_task(folder), folder.name)
