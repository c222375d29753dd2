"""Verify and remove installed models.

Verify re-hashes every file against the hash recorded when it arrived: the import manifest, our
download manifest, the Hugging Face cache's blob names (a blob is named by its sha256 for LFS
files, by its git sha1 otherwise) or, for the packaged defaults, pip's RECORD of the wheel.
"""

from __future__ import annotations

import base64
import importlib.metadata
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from common.cancel import CancelToken
from models.errors import ModelManagerError
from models.formats import FormatError, check_safetensors, hash_file, read_gguf
from models.hubcache import gguf_parts, manifest_path, read_manifest, repo_folder_name, write_manifest
from models.record import MANIFEST, ModelRecord, folder_size
from models.store import PACKAGED, LocalStore, read_model_manifest

log = logging.getLogger(__name__)

SHA256_NAME = re.compile(r"[0-9a-f]{64}")
SHA1_NAME = re.compile(r"[0-9a-f]{40}")


@dataclass
class VerifyReport:
    id: str
    checked: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # no recorded hash: only the structure was checked
    bytes_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Expected:
    size: int | None
    sha256: str | None = None
    git_sha1: str | None = None


def find(store: LocalStore, model_id: str) -> ModelRecord:
    record = store.get(model_id, include_incomplete=True)
    if record is None:
        raise ModelManagerError(f"no installed model '{model_id}' (see `models list`)")
    return record


# -- verify --------------------------------------------------------------------------------------

def verify(store: LocalStore, model_id: str, on_file: Callable[[str, int, int], None] | None = None,
           cancel: CancelToken | None = None) -> VerifyReport:
    """`on_file(name, index, count)` is called before each file is hashed."""
    record = find(store, model_id)
    report = VerifyReport(record.id)
    if not record.complete:
        report.problems.append("the download is not finished: run `models download` again to complete it")
        return report
    expected = _expected_files(store, record)
    for index, (path, want) in enumerate(sorted(expected.items())):
        name = _display(path, record)
        if on_file is not None:
            on_file(name, index, len(expected))
        if not path.is_file():
            report.problems.append(f"{name}: missing")
            continue
        if want is None:
            _check_structure(path, name, report)
            continue
        got = hash_file(path, cancel)
        report.bytes_checked += got.size
        if want.size is not None and got.size != want.size:
            report.problems.append(f"{name}: {got.size} bytes, {want.size} expected")
        elif want.sha256 and got.sha256 != want.sha256:
            report.problems.append(f"{name}: sha256 differs from the one recorded")
        elif want.git_sha1 and got.git_sha1 != want.git_sha1:
            report.problems.append(f"{name}: git sha1 differs from the one recorded")
        else:
            report.checked.append(name)
    return report


def _display(path: Path, record: ModelRecord) -> str:
    root = Path(record.path)
    root = root.parent if root.is_file() else root
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _check_structure(path: Path, name: str, report: VerifyReport) -> None:
    try:
        if path.suffix == ".gguf":
            read_gguf(path)
        elif path.suffix == ".safetensors":
            check_safetensors(path)
        report.unchecked.append(name)
    except FormatError as error:
        report.problems.append(str(error))


def _expected_files(store: LocalStore, record: ModelRecord) -> dict[Path, Expected | None]:
    if record.source == "package":
        return _package_expected(record)
    if record.source == "hf-cache":
        return _hub_expected(store, record)
    path = Path(record.path)
    folder = path.parent if path.is_file() else path
    meta = read_model_manifest(folder)
    if meta is None:  # a GGUF dropped into <data>/gguf/: nothing was recorded
        return {path: None}
    return {folder / rel: Expected(info.get("size"), info.get("sha256")) for rel, info in meta.get("files", {}).items()}


def _package_expected(record: ModelRecord) -> dict[Path, Expected | None]:
    root = Path(record.path)
    try:
        dist = importlib.metadata.distribution(PACKAGED[record.id])
    except (KeyError, importlib.metadata.PackageNotFoundError):
        return {p: None for p in ([root] if root.is_file() else sorted(root.rglob("*"))) if p.is_file()}
    expected: dict[Path, Expected | None] = {}
    for entry in dist.files or []:
        path = Path(dist.locate_file(entry)).resolve()
        if path != root.resolve() and root.resolve() not in path.parents:
            continue
        if entry.hash and entry.hash.mode == "sha256":
            digest = base64.urlsafe_b64decode(entry.hash.value + "=" * (-len(entry.hash.value) % 4)).hex()
            expected[path] = Expected(entry.size, digest)
        else:
            expected[path] = None
    return expected


def _hub_expected(store: LocalStore, record: ModelRecord) -> dict[Path, Expected | None]:
    repo_id, snapshot, rels = _hub_location(store, record)
    manifest = read_manifest(store.data_dir, repo_id) or {}
    recorded = ((manifest.get("snapshots") or {}).get(record.revision) or {}).get("files") or {}
    expected: dict[Path, Expected | None] = {}
    for rel in rels:
        link = snapshot / rel
        if rel in recorded:
            expected[link] = Expected(recorded[rel].get("size"), recorded[rel].get("sha256"))
            continue
        blob = link.resolve().name if link.is_symlink() else ""
        if SHA256_NAME.fullmatch(blob):
            expected[link] = Expected(None, sha256=blob)
        elif SHA1_NAME.fullmatch(blob):
            expected[link] = Expected(None, git_sha1=blob)
        else:
            expected[link] = None
    return expected


def _hub_location(store: LocalStore, record: ModelRecord) -> tuple[str, Path, list[str]]:
    """(repo id, snapshot folder, the record's files relative to it)."""
    path = Path(record.path)
    if record.format == "gguf" and record.complete:
        snapshot = next(p for p in path.parents if p.parent.name == "snapshots")
        rel = path.relative_to(snapshot).as_posix()
        return record.id[:-len(rel) - 1], snapshot, gguf_parts(rel)
    files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    return record.id, path, files


# -- remove --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Removed:
    id: str
    bytes_freed: int
    path: str


def remove(store: LocalStore, model_id: str) -> Removed:
    matches = [r for r in store.list() if r.id == model_id]
    if not matches:
        raise ModelManagerError(f"no installed model '{model_id}' (see `models list`)")
    removable = [r for r in matches if r.source != "package"]
    if not removable:
        raise ModelManagerError(
            f"'{model_id}' is a default model packaged with the app (pip package {PACKAGED.get(model_id, '?')}) "
            "and is not removed here; uninstall that package with pip if you really mean to")
    record = removable[0]
    if record.source == "hf-cache":
        freed = _remove_from_hub_cache(store, record)
    else:
        freed = _remove_imported(store, record)
    log.info("removed %s (%d bytes)", record.id, freed)
    return Removed(record.id, freed, record.path)


def _remove_imported(store: LocalStore, record: ModelRecord) -> int:
    path = Path(record.path)
    folder = path.parent if path.is_file() and (path.parent / MANIFEST).is_file() else path
    freed = folder_size(folder) if folder.exists() else 0
    if folder.is_dir():
        shutil.rmtree(folder)
    else:
        folder.unlink(missing_ok=True)
    return freed


def _remove_from_hub_cache(store: LocalStore, record: ModelRecord) -> int:
    from huggingface_hub import scan_cache_dir

    is_gguf_file = record.format == "gguf" and record.id.endswith(".gguf")
    repo_id = _gguf_repo_id(store, record) if is_gguf_file else record.id
    repo_dir = store.hub_cache / repo_folder_name(repo_id)
    manifest = read_manifest(store.data_dir, repo_id)
    freed = 0
    info = scan_cache_dir(store.hub_cache) if store.hub_cache.is_dir() else None
    repo = next((r for r in info.repos if r.repo_id == repo_id and r.repo_type == "model"), None) if info else None
    if is_gguf_file:
        rel = record.id[len(repo_id) + 1:]
        parts = set(gguf_parts(rel))
        if repo is not None:
            files = [f for rev in repo.revisions for f in rev.files
                     if Path(f.file_path).relative_to(rev.snapshot_path).as_posix() in parts]
            strategy = info.delete_files(*files)
            freed += strategy.expected_freed_size
            strategy.execute()
        freed += _drop_pending(repo_dir, manifest, parts)
        if manifest is not None:
            for snap in (manifest.get("snapshots") or {}).values():
                for name in parts:
                    snap.get("files", {}).pop(name, None)
            _save_or_drop_manifest(store, repo_id, manifest)
        return freed
    if repo is not None:
        strategy = info.delete_revisions(*(r.commit_hash for r in repo.revisions))
        freed += strategy.expected_freed_size
        freed += sum(p.stat().st_size for p in (repo_dir / "blobs").glob("*.incomplete"))
        strategy.execute()
    if repo_dir.exists():  # a download that never finished has no revision to delete
        freed += folder_size(repo_dir)
        shutil.rmtree(repo_dir)
    shutil.rmtree(store.hub_cache / ".locks" / repo_folder_name(repo_id), ignore_errors=True)
    manifest_path(store.data_dir, repo_id).unlink(missing_ok=True)
    return freed


def _gguf_repo_id(store: LocalStore, record: ModelRecord) -> str:
    """'ns/name/sub/file.gguf' -> 'ns/name', found from where the record lives in the cache."""
    path = Path(record.path)
    folder = next((p for p in [path, *path.parents] if p.name.startswith("models--")), None)
    if folder is None:
        raise ModelManagerError(f"cannot tell which repository {record.id} belongs to")
    return folder.name[len("models--"):].replace("--", "/")


def _drop_pending(repo_dir: Path, manifest: dict | None, names: set[str]) -> int:
    download = (manifest or {}).get("pending") or {}
    files = download.get("files") or {}
    freed = 0
    for name in names & set(files):
        part = repo_dir / "blobs" / f"{files[name]['etag']}.incomplete"
        if part.exists():
            freed += part.stat().st_size
            part.unlink()
        files.pop(name)
    if download and not files:
        manifest["pending"] = None
    return freed


def _save_or_drop_manifest(store: LocalStore, repo_id: str, manifest: dict) -> None:
    snapshots = {c: s for c, s in (manifest.get("snapshots") or {}).items() if s.get("files")}
    manifest["snapshots"] = snapshots
    if snapshots or manifest.get("pending"):
        write_manifest(store.data_dir, repo_id, manifest)
    else:
        manifest_path(store.data_dir, repo_id).unlink(missing_ok=True)
