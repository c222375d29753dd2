"""Model downloads from the Hugging Face Hub (or a mirror) into the Hugging Face cache.

The one place in the app that goes online, and only while a download the person started runs
(see `models.hubclient` for why the HTTP calls are our own and how the offline guard is opened).

- Only the files a model needs: safetensors over PyTorch pickles, no TensorFlow/Flax/ONNX/...
  weights, one GGUF out of a repo of quantisations.
- Resume, within a run and across restarts: each file is fetched into
  `blobs/{etag}.incomplete` in the repo's cache folder (huggingface_hub's own naming, so the cache
  stays one cache) and a later run asks for the rest with `Range: bytes=N-`. Finished blobs are
  named by their hash, so they are never fetched again. A manifest in the data folder lists the
  pending files, so the store shows the model as incomplete until every file is in.
- Every file is checked against the Hub's size and sha256 (LFS) or git sha1 (other files) before
  it becomes a blob; a mismatch deletes it. Snapshot links are made only when all files passed.
- Free disk space is checked before a single byte is written.
- The token is sent only when one is given, and only to the endpoint itself.
"""

from __future__ import annotations

import errno
import fnmatch
import logging
import os
import posixpath
import shutil
import urllib.error
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, ContextManager

from common.cancel import CancelToken
from models.catalogue import load_catalogue
from models.errors import ModelManagerError
from models.formats import FileHash, hash_file, needed_for_inference
from models.hubcache import gguf_parts, is_gguf_repo, read_manifest, repo_folder_name, write_manifest
from models.hubclient import (DEFAULT_ENDPOINT, HubClient, HubError, HubFile, TransientError, check_repo_id,
                              check_revision)
from models.progress import DownloadProgress
from models.record import ModelRecord, free_bytes
from models.store import LocalStore

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
SPACE_MARGIN = 64 * 2**20  # never fill the disk to the last byte
PICKLE_WEIGHTS = (".bin", ".pt", ".pth")
VARIANTS = ("fp16", "bf16", "non_ema", "ema", "fp32")


class DownloadError(ModelManagerError):
    """A download failed; the message says why in plain words."""


class DownloadCancelled(DownloadError):
    pass


class IntegrityError(DownloadError):
    pass


class NotEnoughSpace(DownloadError):
    pass


def resolve_endpoint(endpoint: str | None = None) -> str:
    """An explicit endpoint, else $HF_ENDPOINT (internal mirrors), else the Hub."""
    return (endpoint or os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


# -- which files ---------------------------------------------------------------------------------

def select_files(repo_id: str, files: list[HubFile], include: list[str] | tuple[str, ...] = ()) -> list[HubFile]:
    """The files a model needs. `include` (glob patterns on the path or the file name) overrides."""
    if include:
        matched = {f.path for f in files if any(fnmatch.fnmatch(f.path, p) or fnmatch.fnmatch(posixpath.basename(f.path), p)
                                                for p in include)}
        matched |= {part for path in matched if path.endswith(".gguf") for part in gguf_parts(path)}  # whole split GGUFs
        return [f for f in files if f.path in matched]
    if is_gguf_repo(f.path for f in files):
        return _choose_gguf(repo_id, files)
    kept = [f for f in files if needed_for_inference(f.path)]
    if any(f.path == "model_index.json" for f in kept):  # diffusers: components only, no single-file checkpoints
        kept = [f for f in kept if "/" in f.path or not f.path.endswith((".safetensors",) + PICKLE_WEIGHTS)]
    by_dir: dict[str, list[str]] = {}
    for f in kept:
        by_dir.setdefault(posixpath.dirname(f.path), []).append(posixpath.basename(f.path))
    chosen = []
    for f in kept:
        folder, name = posixpath.dirname(f.path), posixpath.basename(f.path)
        siblings = by_dir[folder]
        if name.endswith(PICKLE_WEIGHTS) and any(s.endswith(".safetensors") for s in siblings):
            continue  # the same weights in a format that cannot run code
        if _variant_of(name) in siblings:
            continue  # model.fp16.safetensors next to model.safetensors
        if name.endswith(".gguf"):
            continue
        chosen.append(f)
    weights = [f for f in chosen if f.path.endswith((".safetensors",) + PICKLE_WEIGHTS)]
    if not weights:
        names = ", ".join(sorted(f.path for f in files)[:12])
        raise DownloadError(f"{repo_id} has no safetensors or PyTorch weights this app can load "
                            f"(files: {names}); choose files with --include if you know better")
    return chosen


def _variant_of(name: str) -> str | None:
    """'model.fp16.safetensors' -> 'model.safetensors' (the plain file it is a variant of)."""
    pieces = name.split(".")
    if len(pieces) >= 3 and pieces[-2] in VARIANTS:
        return ".".join(pieces[:-2] + pieces[-1:])
    return None


def _choose_gguf(repo_id: str, files: list[HubFile]) -> list[HubFile]:
    by_path = {f.path: f for f in files}
    firsts = [f.path for f in files if f.path.endswith(".gguf") and gguf_parts(f.path)[0] == f.path]
    recommended = [c.file for c in load_catalogue().controllers_in(repo_id) if c.file in by_path]
    if recommended:
        choice = recommended[0]
    elif len(firsts) == 1:
        choice = firsts[0]
    else:
        listing = ", ".join(sorted(firsts)[:20])
        raise DownloadError(f"{repo_id} holds {len(firsts)} GGUF files; choose one with --include, "
                            f"for example --include '*Q4_K_M.gguf' (files: {listing})")
    missing = [p for p in gguf_parts(choice) if p not in by_path]
    if missing:
        raise DownloadError(f"{repo_id}: {choice} is split, but part {missing[0]} is missing from the repository")
    return [by_path[p] for p in gguf_parts(choice)]


# -- the downloader ------------------------------------------------------------------------------

@contextmanager
def _exclusive(lock_path: Path, what: str):
    """An advisory lock shared with huggingface_hub's (same files under `.locks/`), so two
    processes never append to the same partial file."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        try:
            import fcntl
        except ImportError:  # not on POSIX: no lock, as huggingface_hub without filelock
            yield
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno in (errno.EAGAIN, errno.EACCES):
                raise DownloadError(f"{what} is being downloaded by another process right now") from None
            raise
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Downloader:
    def __init__(self, store: LocalStore, endpoint: str | None = None, token: str | None = None,
                 network_window: Callable[[str], ContextManager] | None = None, retries: int = 5,
                 backoff_s: float = 1.0, timeout_s: float = 30.0) -> None:
        self.store = store
        self.endpoint = resolve_endpoint(endpoint)
        self.token = token or None
        self.network_window = network_window
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s

    def download(self, repo_id: str, revision: str = "main", include: list[str] | tuple[str, ...] = (),
                 task: str | None = None, progress: DownloadProgress | None = None,
                 cancel: CancelToken | None = None) -> list[ModelRecord]:
        """Fetch a model into the cache and return its records (one per GGUF for GGUF repos).
        Raises DownloadError (DownloadCancelled, IntegrityError, NotEnoughSpace) with a plain message."""
        progress = progress or DownloadProgress()
        cancel = cancel or CancelToken()
        progress.repo_id = repo_id
        progress.set_phase("resolving", "")
        try:
            check_repo_id(repo_id)
            check_revision(revision)
            with HubClient(self.endpoint, self.token, self.timeout_s, self.network_window) as client:
                records = self._download(client, repo_id, revision, list(include), task, progress, cancel)
        except DownloadCancelled:
            progress.set_phase("cancelled", message="cancelled: the partial files are kept for a later resume")
            raise
        except DownloadError as error:
            progress.set_phase("failed", message=str(error))
            raise
        except HubError as error:
            progress.set_phase("failed", message=str(error))
            raise DownloadError(str(error)) from None
        progress.set_phase("done")
        return records

    def _retrying(self, action: Callable[[], object], what: str, cancel: CancelToken):
        attempt = 0
        while True:
            try:
                return action()
            except TransientError as error:
                attempt += 1
                if attempt > self.retries:
                    raise DownloadError(f"{what}: {error} (gave up after {attempt} attempts; "
                                        "run the download again to resume)") from None
                delay = min(self.backoff_s * 2 ** (attempt - 1), 30.0)
                log.info("%s: %s; retrying in %.1fs", what, error, delay)
                self._sleep(delay, cancel)

    @staticmethod
    def _sleep(seconds: float, cancel: CancelToken) -> None:
        """Back off, waking at once on cancel (no polling: wait on the token's own event)."""
        if cancel.wait(seconds):
            raise DownloadCancelled("download cancelled")

    def _download(self, client: HubClient, repo_id: str, revision: str, include: list[str], task: str | None,
                  progress: DownloadProgress, cancel: CancelToken) -> list[ModelRecord]:
        info = self._retrying(lambda: client.revision_info(repo_id, revision), repo_id, cancel)
        repo_id = info.get("id") or repo_id  # the Hub's canonical name ("gpt2" -> "openai-community/gpt2")
        commit = info["sha"]
        files = self._retrying(lambda: client.list_files(repo_id, commit), repo_id, cancel)
        chosen = select_files(repo_id, files, include)
        if not chosen:
            raise DownloadError(f"nothing in {repo_id} matches {' '.join(include)}")
        cache = self.store.hub_cache
        repo_dir = cache / repo_folder_name(repo_id)
        blobs = repo_dir / "blobs"

        def on_disk(f: HubFile) -> int:
            if _size(blobs / f.etag) == f.size:
                return f.size
            return min(_size(blobs / f"{f.etag}.incomplete") or 0, f.size)

        have = sum(on_disk(f) for f in chosen)
        total = sum(f.size for f in chosen)
        needed = total - have
        free = free_bytes(cache)
        if needed and free < needed + SPACE_MARGIN:  # before any byte is written
            raise NotEnoughSpace(f"not enough disk space in {cache}: {repo_id} needs {_human(needed)} more "
                                 f"(plus {_human(SPACE_MARGIN)} to spare), {_human(free)} is free")
        locks = cache / ".locks" / repo_folder_name(repo_id)
        with _exclusive(locks / "jarvis-download.lock", repo_id):
            blobs.mkdir(parents=True, exist_ok=True)
            (repo_dir / "snapshots").mkdir(exist_ok=True)
            manifest = read_manifest(self.store.data_dir, repo_id) or {"id": repo_id, "snapshots": {}}
            manifest.update(endpoint=self.endpoint, task=task or manifest.get("task") or _task_hint(repo_id, info),
                            description=manifest.get("description") or _description_hint(repo_id, info))
            manifest["pending"] = {"commit": commit, "revision": revision, "files": {
                f.path: {"size": f.size, "etag": f.etag, "sha256": f.sha256, "git_sha1": f.git_sha1} for f in chosen}}
            write_manifest(self.store.data_dir, repo_id, manifest)
            progress.begin(repo_id, total, have, len(chosen))
            hashes: dict[str, FileHash] = {}
            for f in chosen:
                with _exclusive(locks / f"{f.etag}.lock", f"{repo_id}/{f.path}"):
                    hashes[f.path] = self._fetch(client, repo_id, commit, f, blobs, progress, cancel)
                progress.file_done()
            _link_snapshot(repo_dir, commit, revision, chosen)
            verified = manifest["snapshots"].setdefault(commit, {"revision": revision, "files": {}})
            verified["files"].update({f.path: {"size": f.size, "sha256": hashes[f.path].sha256, "etag": f.etag}
                                      for f in chosen})
            manifest["pending"] = None
            manifest["latest"] = commit
            write_manifest(self.store.data_dir, repo_id, manifest)
        wanted = {repo_id} | {f"{repo_id}/{f.path}" for f in chosen}
        return [r for r in self.store.list() if r.id in wanted and r.revision == commit]

    def _fetch(self, client: HubClient, repo_id: str, commit: str, f: HubFile, blobs: Path,
               progress: DownloadProgress, cancel: CancelToken) -> FileHash:
        final, part = blobs / f.etag, blobs / f"{f.etag}.incomplete"
        progress.set_phase("downloading", f.path)
        if _size(final) == f.size:
            # Already here (an earlier run, another repo revision, another tool): LFS blobs are
            # named by their sha256; other (small) files are re-hashed for the manifest.
            return FileHash(f.size, f.sha256, f.git_sha1 or "") if f.sha256 else hash_file(final)
        url = client.file_url(repo_id, commit, f.path)
        for clean_retry in (False, True):
            resumed_from = _size(part) or 0
            if resumed_from > f.size:
                part.unlink()
                progress.rewind(resumed_from)
                resumed_from = 0
            self._retrying_stream(client, url, f, part, progress, cancel)
            progress.set_phase("verifying", f.path)
            try:
                digest = hash_file(part, cancel)
            except InterruptedError:
                raise DownloadCancelled("download cancelled") from None
            if digest.size == f.size and ((f.sha256 and digest.sha256 == f.sha256)
                                          or (not f.sha256 and digest.git_sha1 == f.git_sha1)):
                os.replace(part, final)
                progress.set_phase("downloading", f.path)
                return digest
            part.unlink()
            progress.rewind(digest.size)
            if resumed_from == 0 or clean_retry:
                expected = f"sha256 {f.sha256}" if f.sha256 else f"git sha1 {f.git_sha1}"
                raise IntegrityError(f"{repo_id}/{f.path}: the downloaded bytes do not match the Hub's "
                                     f"{expected}; the file was deleted and nothing was installed")
            log.warning("%s: a resumed file failed its hash; fetching it again from the start", f.path)
            progress.set_phase("downloading", f.path)
        raise AssertionError("unreachable")

    def _retrying_stream(self, client, url, f: HubFile, part: Path, progress: DownloadProgress,
                         cancel: CancelToken) -> None:
        attempt = 0
        while (_size(part) or 0) < f.size or not part.exists():
            before = _size(part) or 0
            try:
                self._stream(client, url, f, part, progress, cancel)
            except TransientError as error:
                if (_size(part) or 0) > before:
                    attempt = 0  # it moved forward: a flaky link, not a dead one
                attempt += 1
                if attempt > self.retries:
                    raise DownloadError(f"{f.path}: {error} (gave up after {attempt} attempts; the "
                                        "partial file is kept: run the download again to resume)") from None
                delay = min(self.backoff_s * 2 ** (attempt - 1), 30.0)
                log.info("%s: %s; resuming in %.1fs", f.path, error, delay)
                self._sleep(delay, cancel)

    def _stream(self, client: HubClient, url: str, f: HubFile, part: Path, progress: DownloadProgress,
                cancel: CancelToken) -> None:
        have = _size(part) or 0
        if cancel.cancelled:
            raise DownloadCancelled("download cancelled")
        headers = {"Range": f"bytes={have}-"} if have else {}
        try:
            response = client.open(url, headers, f.path)
        except urllib.error.HTTPError as error:  # 416: our partial file does not fit the server's
            part.unlink(missing_ok=True)
            progress.rewind(have)
            raise TransientError(f"the server refused to resume ({error.code}); starting the file again") from None
        with response, open(part, "r+b" if part.exists() else "wb") as out:
            start = 0
            if response.status == 206:
                start = _range_start(response.headers.get("Content-Range", ""))
                if start is None or start > have:
                    raise TransientError(f"unexpected Content-Range {response.headers.get('Content-Range')!r}")
            if start < have:  # the server ignored Range (200) or answered from earlier on
                progress.rewind(have - start)
            out.seek(start)
            out.truncate()
            received = start
            while True:
                if cancel.cancelled:
                    raise DownloadCancelled("download cancelled")
                try:
                    chunk = response.read1(CHUNK)
                except (OSError, ValueError) as error:
                    raise TransientError(f"connection lost after {_human(received)} of {f.path}") from error
                except Exception as error:  # http.client.IncompleteRead and friends
                    raise TransientError(f"connection lost after {_human(received)} of {f.path}: {error}") from error
                if not chunk:
                    break
                if received + len(chunk) > f.size:
                    raise IntegrityError(f"{f.path}: the server sent more than the {f.size} bytes the Hub lists")
                out.write(chunk)
                received += len(chunk)
                progress.advance(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        if received < f.size:
            raise TransientError(f"connection closed after {_human(received)} of {f.path} ({_human(f.size)})")


def _link_snapshot(repo_dir: Path, commit: str, revision: str, files: list[HubFile]) -> None:
    snapshot = _inside(repo_dir, repo_dir / "snapshots" / commit)
    for f in files:
        link = _inside(snapshot, snapshot / f.path)
        link.parent.mkdir(parents=True, exist_ok=True)
        blob = _inside(repo_dir, repo_dir / "blobs" / f.etag)
        if link.is_symlink() or link.exists():
            link.unlink()
        try:
            link.symlink_to(os.path.relpath(blob, link.parent))
        except OSError:  # file systems without symlinks: a copy, as huggingface_hub does
            shutil.copyfile(blob, link)
    if revision != commit:
        ref = _inside(repo_dir, repo_dir / "refs" / revision)
        ref.parent.mkdir(parents=True, exist_ok=True)
        ref.write_text(commit, encoding="utf-8")


def _inside(root: Path, path: Path) -> Path:
    """`path`, after checking again, just before it is written or replaced, that it stays in `root`
    (the ids were validated where they entered; this guards the next change that forgets to)."""
    # Lexically (abspath, not resolve): a snapshot entry is itself a symlink into blobs/.
    where, top = Path(os.path.abspath(path)), Path(os.path.abspath(root))
    if where == top or not where.is_relative_to(top):
        raise DownloadError(f"refused to write {path}: it is outside {root}")
    return path


def _task_hint(repo_id: str, info: dict) -> str | None:
    entry = load_catalogue().expert(repo_id)
    if entry is not None:
        return entry.task
    tag = info.get("pipeline_tag")
    if tag == "feature-extraction" and (info.get("library_name") == "sentence-transformers"
                                        or "sentence-transformers" in (info.get("tags") or [])):
        return "sentence-similarity"
    return tag or None


def _description_hint(repo_id: str, info: dict) -> str:
    entry = load_catalogue().expert(repo_id)
    return entry.description if entry else ""


def _range_start(header: str) -> int | None:
    try:  # "bytes 100-199/200"
        return int(header.split()[1].split("-")[0])
    except (IndexError, ValueError):
        return None


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(size) < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"
