"""The Hugging Face cache (`$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`)
as a source of models, whichever tool downloaded them.

Layout: `models--{ns}--{name}/blobs/{etag}` holds the bytes (etag = sha256 for LFS files, the git
sha1 otherwise), `snapshots/{commit}/{path}` links to the blobs, `refs/{branch}` names a commit.
Our downloader also keeps a manifest per repo in the data folder (`hub-manifests/`), so a download
cut short is listed as incomplete rather than guessed at:

    {"id", "task", "description", "endpoint",
     "snapshots": {commit: {"revision", "files": {path: {"size", "sha256", "etag"}}}},   # verified
     "pending": {"commit", "revision", "files": {path: {"size", "etag", "sha256", "git_sha1"}}} | null,
     "latest": the commit fetched last}
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from models.catalogue import load_catalogue
from models.formats import infer_task, weight_format
from models.record import CONTROLLER_TASK, UNKNOWN_TASK, ModelRecord

log = logging.getLogger(__name__)

MANIFESTS = "hub-manifests"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")
SPLIT_GGUF = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$")


def hub_cache_dir() -> Path:
    """Read at call time (not import time) so a changed environment is honoured."""
    explicit = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if explicit:
        return Path(os.path.expandvars(explicit)).expanduser()
    home = os.environ.get("HF_HOME")
    if not home:
        home = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface")
    return Path(os.path.expandvars(home)).expanduser() / "hub"


def repo_folder_name(repo_id: str) -> str:
    return "models--" + repo_id.replace("/", "--")


# -- our manifests ------------------------------------------------------------------------------

def manifest_path(data_dir: Path, repo_id: str) -> Path:
    return Path(data_dir) / MANIFESTS / f"{repo_folder_name(repo_id)}.json"


def read_manifest(data_dir: Path, repo_id: str) -> dict | None:
    return _load(manifest_path(data_dir, repo_id))


def write_manifest(data_dir: Path, repo_id: str, manifest: dict) -> None:
    path = manifest_path(data_dir, repo_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    temp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    os.replace(temp, path)


def _load(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        log.warning("ignoring unreadable manifest %s (%s)", path, error)
        return None
    return value if isinstance(value, dict) and value.get("id") else None


def all_manifests(data_dir: Path) -> list[dict]:
    folder = Path(data_dir) / MANIFESTS
    if not folder.is_dir():
        return []
    return [m for m in (_load(p) for p in sorted(folder.glob("*.json"))) if m]


# -- listing ------------------------------------------------------------------------------------

def hub_records(cache_dir: Path, data_dir: Path) -> list[ModelRecord]:
    records: list[ModelRecord] = []
    cache_dir = Path(cache_dir)
    if cache_dir.is_dir():
        from huggingface_hub import scan_cache_dir

        try:
            info = scan_cache_dir(cache_dir)
        except (OSError, ValueError) as error:
            log.warning("cannot read the Hugging Face cache %s: %s", cache_dir, error)
            info = None
        if info is not None:
            for warning in info.warnings:  # a half-written repo folder, not worth more than a debug line
                log.debug("Hugging Face cache: %s", warning)
            for repo in sorted(info.repos, key=lambda r: r.repo_id):
                if repo.repo_type == "model":
                    manifest = read_manifest(data_dir, repo.repo_id)
                    revision = _pick_revision(repo, manifest)
                    if revision is not None:
                        records.extend(_revision_records(repo, revision, manifest))
    listed = {r.id for r in records if r.complete}
    for manifest in all_manifests(data_dir):
        records.extend(r for r in _pending_records(cache_dir, manifest) if r.id not in listed)
    return records


def _pick_revision(repo, manifest: dict | None):
    revisions = sorted(repo.revisions, key=lambda r: r.last_modified, reverse=True)
    if manifest:
        ours = [r for r in revisions if r.commit_hash in (manifest.get("snapshots") or {}) and r.files]
        ours.sort(key=lambda r: r.commit_hash != manifest.get("latest"))  # the last one we fetched first
        if ours:
            return ours[0]
    with_main = [r for r in revisions if "main" in r.refs and r.files]
    return (with_main or [r for r in revisions if r.files] or [None])[0]


def _revision_records(repo, revision, manifest: dict | None) -> list[ModelRecord]:
    snapshot = Path(revision.snapshot_path)
    files = {Path(f.file_path).relative_to(snapshot).as_posix(): f for f in revision.files}
    ours = manifest is not None and revision.commit_hash in (manifest.get("snapshots") or {})
    pending_download = (manifest or {}).get("pending") or {}
    pending = set(pending_download.get("files") or {}) if pending_download.get("commit") == revision.commit_hash else set()
    if is_gguf_repo(files):
        return [_gguf_record(repo.repo_id, rel, files, pending, revision.commit_hash)
                for rel in sorted(files) if _is_first_gguf_part(rel)]
    if ours:
        complete = not pending
    else:  # our own staging files are not another tool's download in progress
        staged = {e["etag"] for e in (pending_download.get("files") or {}).values()}
        complete = snapshot_looks_complete(snapshot, Path(repo.repo_path), ignore_etags=staged)
    return [ModelRecord(
        repo.repo_id, _task_for(repo.repo_id, snapshot, manifest), weight_format(snapshot) or "unknown",
        str(snapshot), revision.size_on_disk, _description_for(repo.repo_id, manifest), "hf-cache",
        complete, revision.commit_hash)]


def is_gguf_repo(rel_paths) -> bool:
    names = set(rel_paths)
    return any(n.endswith(".gguf") for n in names) and not ({"config.json", "model_index.json"} & names)


def _is_first_gguf_part(rel: str) -> bool:
    if not rel.endswith(".gguf"):
        return False
    split = SPLIT_GGUF.search(rel)
    return split is None or int(split.group(1)) == 1


def gguf_parts(rel: str) -> list[str]:
    """A split GGUF's part names (`x-00001-of-00003.gguf`...), or just `rel`."""
    split = SPLIT_GGUF.search(rel)
    if split is None:
        return [rel]
    stem, total = rel[:split.start()], int(split.group(2))
    return [f"{stem}-{i:05d}-of-{total:05d}.gguf" for i in range(1, total + 1)]


def _gguf_record(repo_id: str, rel: str, files: dict, pending: set, commit: str) -> ModelRecord:
    parts = gguf_parts(rel)
    present = [files[p] for p in parts if p in files]
    complete = len(present) == len(parts) and not pending.intersection(parts)
    entry = load_catalogue().controller(f"{repo_id}/{rel}")
    return ModelRecord(
        f"{repo_id}/{rel}", CONTROLLER_TASK, "gguf", str(files[rel].file_path),
        sum(f.size_on_disk for f in present), entry.description if entry else "GGUF chat model",
        "hf-cache", complete, commit)


def _task_for(repo_id: str, snapshot: Path | None, manifest: dict | None) -> str:
    if manifest and manifest.get("task"):
        return manifest["task"]
    entry = load_catalogue().expert(repo_id)
    if entry is not None:
        return entry.task
    return (infer_task(snapshot) if snapshot is not None else None) or UNKNOWN_TASK


def _description_for(repo_id: str, manifest: dict | None) -> str:
    if manifest and manifest.get("description"):
        return manifest["description"]
    entry = load_catalogue().expert(repo_id)
    return entry.description if entry else ""


def _has_weights(folder: Path) -> bool:
    return any(p.name.endswith(WEIGHT_SUFFIXES) for p in folder.iterdir() if p.is_file())


def snapshot_looks_complete(snapshot: Path, repo_path: Path, ignore_etags: set = frozenset()) -> bool:
    """For snapshots written by other tools, which record nothing: weights present, every shard an
    index names present, every diffusers component present, and no download in progress."""
    if any(p.name[:-len(".incomplete")] not in ignore_etags for p in (repo_path / "blobs").glob("*.incomplete")):
        return False
    if weight_format(snapshot) is None:
        return False
    for index in snapshot.rglob("*.index.json"):
        weight_map = (_json(index).get("weight_map") or {}).values()
        if any(not (index.parent / name).is_file() for name in set(weight_map)):
            return False
    model_index = _json(snapshot / "model_index.json")
    if model_index:
        for name, value in model_index.items():
            if name.startswith("_") or not isinstance(value, list) or not value or value[0] is None:
                continue
            folder = snapshot / name
            if not folder.is_dir():
                return False
            if (folder / "config.json").is_file() and not _has_weights(folder):
                return False
    elif (snapshot / "config.json").is_file() and not _has_weights(snapshot):
        return False
    return True


def _json(path: Path) -> dict:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _pending_records(cache_dir: Path, manifest: dict) -> list[ModelRecord]:
    """A download that has not finished: listed so it can be resumed or removed, never as installed."""
    download = manifest.get("pending") or {}
    pending = download.get("files") or {}
    if not pending:
        return []
    repo_id = manifest["id"]
    blobs = cache_dir / repo_folder_name(repo_id) / "blobs"

    def on_disk(entry: dict) -> int:
        for name in (entry["etag"], entry["etag"] + ".incomplete"):
            try:
                return (blobs / name).stat().st_size
            except OSError:
                continue
        return 0

    if is_gguf_repo(pending):
        return [ModelRecord(f"{repo_id}/{rel}", CONTROLLER_TASK, "gguf", str(blobs.parent),
                            sum(on_disk(pending[p]) for p in gguf_parts(rel) if p in pending),
                            "download not finished", "hf-cache", False, download.get("commit", ""))
                for rel in sorted(pending) if _is_first_gguf_part(rel)]
    names = [rel.lower() for rel in pending]
    fmt = ("safetensors" if any(n.endswith(".safetensors") for n in names)
           else "pickle" if any(n.endswith((".bin", ".pt", ".pth")) for n in names) else "unknown")
    return [ModelRecord(repo_id, _task_for(repo_id, None, manifest), fmt, str(blobs.parent),
                        sum(on_disk(e) for e in pending.values()), "download not finished", "hf-cache", False,
                        download.get("commit", ""))]
