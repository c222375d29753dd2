"""A small Hugging Face Hub on 127.0.0.1 for download tests.

It speaks the parts of the Hub's HTTP API that huggingface_hub and our downloader use: revision
info, the recursive tree listing (paginated, LFS files with their sha256), HEAD and GET on
`/{repo}/resolve/{rev}/{path}` with ETag / X-Repo-Commit / sizes, LFS files redirected to a "CDN"
on another host name (`localhost` instead of `127.0.0.1`), `Range: bytes=N-` answered with 206, and
404s with the Hub's X-Error-Code. Tests inject faults per file: drop the connection after N bytes,
serve corrupt bytes, fail with a status, go slowly. It counts the body bytes served per file.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import re
import shutil
import socket
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".h5", ".msgpack", ".onnx", ".ot")


def git_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class HubRepo:
    repo_id: str
    files: dict[str, bytes]
    commit: str
    refs: dict[str, str]
    pipeline_tag: str | None = None

    def is_lfs(self, path: str) -> bool:
        return path.endswith(LFS_SUFFIXES) or len(self.files[path]) >= 1_000_000

    def sha256(self, path: str) -> str:
        return hashlib.sha256(self.files[path]).hexdigest()

    def etag(self, path: str) -> str:
        return self.sha256(path) if self.is_lfs(path) else git_sha1(self.files[path])


@dataclass
class Faults:
    drop_after: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # next GETs: close after N bytes
    corrupt: set[tuple[str, str]] = field(default_factory=set)  # serve the right length, wrong bytes
    fail_status: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # next GETs: answer this status
    throttle_s: float = 0.0  # pause per 64 KiB sent
    ignore_range: bool = False


class HubServer:
    def __init__(self, lfs_host: str | None = "localhost", page_size: int = 1000) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.faults = Faults()
        self.lfs_host = lfs_host
        self.page_size = page_size
        self.served: dict[tuple[str, str], int] = defaultdict(int)  # body bytes per (repo, path)
        self.requests: list[tuple[str, str, dict]] = []  # (method, path, headers)
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "HubServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def add_repo(self, repo_id: str, files: dict[str, bytes], pipeline_tag: str | None = None,
                 branch: str = "main") -> str:
        digest = hashlib.sha1(repo_id.encode())
        for path in sorted(files):
            digest.update(path.encode() + hashlib.sha256(files[path]).digest())
        commit = digest.hexdigest()
        self.repos[repo_id] = HubRepo(repo_id, dict(files), commit, {branch: commit}, pipeline_tag)
        return commit

    def bytes_served(self, repo_id: str, path: str) -> int:
        with self._lock:
            return self.served[(repo_id, path)]

    def auth_headers_seen(self) -> list[tuple[str, str | None]]:
        return [(path, headers.get("authorization")) for _, path, headers in self.requests]

    def record(self, method: str, path: str, headers: dict) -> None:
        with self._lock:
            self.requests.append((method, path, headers))

    def count(self, key: tuple[str, str], sent: int) -> None:
        with self._lock:
            self.served[key] += sent


def _handler_for(hub: HubServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def log_message(self, *args) -> None:  # quiet test output
            pass

        # -- routing ----------------------------------------------------------------------------

        def do_HEAD(self) -> None:
            self._route(head=True)

        def do_GET(self) -> None:
            self._route(head=False)

        def _route(self, head: bool) -> None:
            hub.record(self.command, self.path, {k.lower(): v for k, v in self.headers.items()})
            parts = urlsplit(self.path)
            path = parts.path
            try:
                if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/revision/(.+)", path):
                    return self._revision(unquote(m[1]), unquote(m[2]))
                if m := re.fullmatch(r"/api/models/([^/]+/[^/]+)/tree/([^/]+)(/.*)?", path):
                    return self._tree(unquote(m[1]), unquote(m[2]), parse_qs(parts.query))
                if m := re.fullmatch(r"/([^/]+/[^/]+)/resolve/([^/]+)/(.+)", path):
                    return self._resolve(unquote(m[1]), unquote(m[2]), unquote(m[3]), head)
                if m := re.fullmatch(r"/cdn/([0-9a-f]{64})", path):
                    query = parse_qs(parts.query)
                    return self._serve_file(hub.repos[query["repo"][0]], query["path"][0], head, cdn=True)
            except (BrokenPipeError, ConnectionResetError):
                return
            self._error(404, "EntryNotFound", "not found")

        # -- answers ----------------------------------------------------------------------------

        def _error(self, status: int, code: str, message: str) -> None:
            body = json.dumps({"error": message}).encode()
            self.send_response(status)
            self.send_header("X-Error-Code", code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, value, headers: dict | None = None) -> None:
            body = json.dumps(value).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for key, val in (headers or {}).items():
                self.send_header(key, val)
            self.end_headers()
            self.wfile.write(body)

        def _repo_at(self, repo_id: str, rev: str) -> HubRepo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
                return None
            if rev != repo.commit and rev not in repo.refs:
                self._error(404, "RevisionNotFound", f"Revision {rev} not found")
                return None
            return repo

        def _revision(self, repo_id: str, rev: str) -> None:
            repo = self._repo_at(repo_id, rev)
            if repo is not None:
                self._json({"id": repo.repo_id, "modelId": repo.repo_id, "sha": repo.commit, "private": False,
                            "gated": False, "pipeline_tag": repo.pipeline_tag, "tags": [],
                            "siblings": [{"rfilename": p} for p in sorted(repo.files)]})

        def _tree(self, repo_id: str, rev: str, query: dict) -> None:
            repo = self._repo_at(repo_id, rev)
            if repo is None:
                return
            entries, folders = [], set()
            for path in sorted(repo.files):
                data = repo.files[path]
                pieces = path.split("/")
                for depth in range(1, len(pieces)):
                    folders.add("/".join(pieces[:depth]))
                entry = {"type": "file", "path": path, "size": len(data)}
                if repo.is_lfs(path):
                    entry["oid"] = git_sha1(f"version https://git-lfs.github.com/spec/v1\noid sha256:"
                                            f"{repo.sha256(path)}\nsize {len(data)}\n".encode())
                    entry["lfs"] = {"oid": repo.sha256(path), "size": len(data), "pointerSize": 134}
                else:
                    entry["oid"] = git_sha1(data)
                entries.append(entry)
            entries += [{"type": "directory", "path": f, "oid": hashlib.sha1(f.encode()).hexdigest(), "size": 0}
                        for f in sorted(folders)]
            start = int(query.get("cursor", ["0"])[0])
            page = entries[start:start + hub.page_size]
            headers = {}
            if start + hub.page_size < len(entries):
                next_url = f"{hub.url}{urlsplit(self.path).path}?recursive=true&expand=false&cursor={start + hub.page_size}"
                headers["Link"] = f'<{next_url}>; rel="next"'
            self._json(page, headers)

        def _resolve(self, repo_id: str, rev: str, path: str, head: bool) -> None:
            repo = self._repo_at(repo_id, rev)
            if repo is None:
                return
            if path not in repo.files:
                return self._error(404, "EntryNotFound", f"{path} not found")
            if repo.is_lfs(path) and hub.lfs_host:
                # As the Hub: LFS files live on a CDN; the redirect carries the file's metadata.
                self.send_response(302)
                self.send_header("Location", f"http://{hub.lfs_host}:{hub.port}/cdn/{repo.sha256(path)}"
                                             f"?repo={quote(repo_id)}&path={quote(path)}")
                self.send_header("X-Repo-Commit", repo.commit)
                self.send_header("X-Linked-Etag", f'"{repo.sha256(path)}"')
                self.send_header("X-Linked-Size", str(len(repo.files[path])))
                self.send_header("ETag", f'"{git_sha1(repo.files[path])}"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self._serve_file(repo, path, head, cdn=False)

        def _serve_file(self, repo: HubRepo, path: str, head: bool, cdn: bool) -> None:
            key = (repo.repo_id, path)
            data = repo.files[path]
            if not head:
                statuses = hub.faults.fail_status.get(key)
                if statuses:
                    return self._error(statuses.pop(0), "", "injected failure")
                if key in hub.faults.corrupt:
                    data = bytes(b ^ 0xFF for b in data[:64]) + data[64:]
            start = 0
            ranged = self.headers.get("Range")
            if ranged and not hub.faults.ignore_range:
                m = re.fullmatch(r"bytes=(\d+)-", ranged.strip())
                start = int(m[1]) if m else 0
                if start >= len(data) and data:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            body = data[start:]
            self.send_response(206 if start or (ranged and not hub.faults.ignore_range) else 200)
            if start or (ranged and not hub.faults.ignore_range):
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("X-Repo-Commit", repo.commit)
            self.send_header("ETag", f'"{repo.etag(path)}"')
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            if head:
                return
            drops = hub.faults.drop_after.get(key)
            limit = drops.pop(0) if drops else None
            sent = 0
            step = 64 * 1024
            while sent < len(body):
                piece = body[sent:sent + step]
                if limit is not None and sent + len(piece) > limit:
                    piece = piece[:max(0, limit - sent)]
                self.wfile.write(piece)
                sent += len(piece)
                hub.count(key, len(piece))
                if limit is not None and sent >= limit:
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)  # the connection drops mid-file
                    self.close_connection = True
                    return
                if hub.faults.throttle_s:
                    time.sleep(hub.faults.throttle_s)

    return Handler


# -- models the tests serve -------------------------------------------------------------------------

@lru_cache(maxsize=1)
def tiny_bert_dir() -> Path:
    """A real (tiny, random) BERT sentiment classifier saved by transformers, with MiniLM's
    tokenizer: loadable offline, about 4 MB. Built once per test process."""
    from transformers import BertConfig, BertForSequenceClassification

    from models.store import LocalStore

    folder = Path(tempfile.mkdtemp(prefix="tiny-bert-"))
    atexit.register(shutil.rmtree, folder, True)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128,
                        id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})
    BertForSequenceClassification(config).save_pretrained(folder)
    minilm = Path(LocalStore(folder / "unused").get("sentence-transformers/all-MiniLM-L6-v2").path)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(minilm / name, folder / name)
    return folder


def tiny_bert_files() -> dict[str, bytes]:
    """The tiny BERT as a Hub repo holds it, with weights for other frameworks and a pickle copy
    that a download must skip."""
    folder = tiny_bert_dir()
    files = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    files.update({"README.md": b"# tiny bert\n", ".gitattributes": b"*.safetensors filter=lfs\n",
                  "pytorch_model.bin": b"pickle" * 1000, "tf_model.h5": b"h5" * 1000,
                  "flax_model.msgpack": b"msgpack" * 1000, "onnx/model.onnx": b"onnx" * 1000})
    return files


def gguf_bytes(tensors: dict[str, tuple[int, ...]] | None = None, name: str = "tiny") -> bytes:
    """A small, well-formed GGUF v3 (float32 tensors of random-ish bytes, a vocabulary array)."""
    import struct

    tensors = tensors or {"token_embd.weight": (64, 32), "output.weight": (64, 32)}

    def string(text: str) -> bytes:
        data = text.encode()
        return struct.pack("<Q", len(data)) + data

    metadata = [string("general.architecture") + struct.pack("<I", 8) + string("llama"),
                string("general.name") + struct.pack("<I", 8) + string(name),
                string("llama.context_length") + struct.pack("<I", 4) + struct.pack("<I", 2048),
                string("tokenizer.ggml.tokens") + struct.pack("<IIQ", 9, 8, 3) + string("a") + string("b") + string("c"),
                string("tokenizer.ggml.scores") + struct.pack("<IIQ", 9, 6, 3) + struct.pack("<3f", 0, 0, 0)]
    table, offset, blobs = b"", 0, []
    for tensor_name, shape in tensors.items():
        size = 4
        for dim in shape:
            size *= dim
        table += string(tensor_name) + struct.pack("<I", len(shape)) + b"".join(struct.pack("<Q", d) for d in shape)
        table += struct.pack("<IQ", 0, offset)
        padded = -(-size // 32) * 32  # each tensor starts on the 32-byte alignment
        blobs.append((hashlib.sha256(tensor_name.encode()).digest() * (padded // 32))[:size].ljust(padded, b"\0"))
        offset += padded
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(metadata)) + b"".join(metadata) + table
    head += b"\0" * (-len(head) % 32)
    return head + b"".join(blobs)
