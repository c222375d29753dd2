"""The few Hugging Face Hub HTTP calls a download needs, made with the standard library.

Why not huggingface_hub's own downloader: the app runs with HF_HUB_OFFLINE=1, and huggingface_hub
reads that switch once, at import, into a module constant that its shared HTTP client checks on
every request. Turning it off for a download would turn it off for every thread of the process
(a model loading in the runtime could then reach the network too). These calls never touch that
client, so offline mode stays on for everything else. They also give us what huggingface_hub does
not: resume across process restarts (Range from a partial file we keep), a cancel checked between
chunks, and the tree listing's hashes to verify every byte.

Calls (see the Hub's HTTP API): GET /api/models/{repo}/revision/{rev} (commit sha),
GET /api/models/{repo}/tree/{sha}?recursive=true (sizes, git oids, LFS sha256; paginated with a
`Link: <...>; rel="next"` header), GET /{repo}/resolve/{sha}/{path} with `Range: bytes=N-`.

Network access: the process-wide guard (core.offline.netguard) refuses every non-loopback connection. The
caller passes `network_window(host)`, a context manager that opens the guard for one host; each
host this client contacts (the endpoint, a CDN it redirects to, a proxy) gets a window, and so does
each address the host resolves to, because the guard sees addresses at connect time.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import socket
import ssl
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager
from urllib.parse import quote, urljoin, urlsplit

from common.bounded import TooLarge, read_bounded

DEFAULT_ENDPOINT = "https://huggingface.co"
REDIRECTS = (301, 302, 303, 307, 308)
USER_AGENT = "jarvis-desktop/0.1 (model manager; python-urllib)"
# The largest API answer read: a listing of a repository with thousands of files is a few MiB.
MAX_JSON_BYTES = 32 * 2**20

# Ids that become folder and file names in the cache. A commit or blob id is git's sha1 (40 hex)
# or an LFS sha256 (64 hex); a repo id is the Hub's `[namespace/]name` (letters, digits, . _ -).
OBJECT_ID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
REPO_ID = re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
# A branch, tag or commit: "main", "v1.0", "refs/pr/1".
REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,127}){0,3}")


def check_repo_id(repo_id: str, source: str = "the model id") -> str:
    """`repo_id` when it is a valid Hub id; HubError otherwise (it names a folder in the cache)."""
    if not isinstance(repo_id, str) or not REPO_ID.fullmatch(repo_id) or ".." in repo_id:
        raise HubError(f"{source} {str(repo_id)[:80]!r} is not a Hub model id (namespace/name, letters, "
                       "digits, '.', '_' and '-')")
    return repo_id


def check_revision(revision: str) -> str:
    """`revision` when it is a branch, tag or commit name; HubError otherwise (it names refs/<revision>)."""
    if not isinstance(revision, str) or not REVISION.fullmatch(revision) or ".." in revision:
        raise HubError(f"the revision {str(revision)[:80]!r} is not a branch, tag or commit name")
    return revision


class HubError(RuntimeError):
    """An answer from the Hub that retrying will not change; the message is for people."""


class TransientError(RuntimeError):
    """A network hiccup or a busy server: worth retrying."""


@dataclass(frozen=True)
class HubFile:
    path: str
    size: int
    sha256: str | None  # LFS files: the content's sha256
    git_sha1: str | None  # other files: git's blob id

    @property
    def etag(self) -> str:
        """The name the Hugging Face cache gives the blob."""
        return self.sha256 or self.git_sha1 or ""


def _check_listed(repo_id: str, entry: dict, lfs: dict | None) -> None:
    """A listed file becomes a path under the model's folder and its id a blob name: a server that
    names '../x', '/abs' or a non-hex id must not make the download write outside the cache."""
    path = str(entry.get("path", ""))
    parts = path.split("/")
    oid = str((lfs.get("oid") or lfs.get("sha256") or "") if lfs else (entry.get("oid") or ""))
    if (not path or path.startswith("/") or "\\" in path or "\0" in path
            or any(part in ("", ".", "..") for part in parts)):
        raise HubError(f"{repo_id}: the server lists a file with an unsafe path {path[:80]!r}")
    if not OBJECT_ID.fullmatch(oid):
        raise HubError(f"{repo_id}: the server lists {path} with an unsafe id {oid[:80]!r}")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """Redirects are followed by hand: each new host needs its own network window, and the token
    must not travel to a host other than the endpoint."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class NetworkAccess:
    """Windows through the network guard, opened per host and closed together."""

    def __init__(self, window: Callable[[str], ContextManager] | None) -> None:
        self._window = window
        self._stack = ExitStack()
        self._open: set[str] = set()

    def ensure(self, url: str) -> None:
        if self._window is None:
            return
        parts = urlsplit(url)
        hosts = [(parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))]
        proxy = urllib.request.getproxies().get(parts.scheme)
        if proxy and not urllib.request.proxy_bypass(parts.hostname or ""):
            proxy_parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            hosts.append((proxy_parts.hostname or "", proxy_parts.port or 80))
        for host, port in hosts:
            if not host or host.lower() in self._open:
                continue
            self._stack.enter_context(self._window(host))
            self._open.add(host.lower())
            try:
                addresses = {info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
            except OSError:
                addresses = set()  # the connection attempt will report the failure
            for address in addresses - self._open:
                self._stack.enter_context(self._window(address))
                self._open.add(address)

    def close(self) -> None:
        self._stack.close()
        self._open.clear()


class HubClient:
    def __init__(self, endpoint: str = DEFAULT_ENDPOINT, token: str | None = None, timeout_s: float = 30.0,
                 network_window: Callable[[str], ContextManager] | None = None) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.token = token
        self.timeout_s = timeout_s
        self.access = NetworkAccess(network_window)
        self._opener = urllib.request.build_opener(_NoRedirects, urllib.request.HTTPSHandler(context=_tls_context()))

    def close(self) -> None:
        self.access.close()

    def __enter__(self) -> "HubClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- requests -------------------------------------------------------------------------------

    def _same_origin(self, url: str) -> bool:
        a, b = urlsplit(url), urlsplit(self.endpoint)
        return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)

    def open(self, url: str, headers: dict[str, str] | None = None, what: str = ""):
        """GET `url`, following redirects; returns the response (2xx) or raises HubError /
        TransientError. HTTP 416 comes back as an HTTPError the caller handles."""
        for _ in range(10):
            self.access.ensure(url)
            request = urllib.request.Request(url, headers={
                "User-Agent": USER_AGENT, "Accept-Encoding": "identity", **(headers or {})})
            if self.token and self._same_origin(url):  # never to a CDN or another host
                request.add_header("Authorization", f"Bearer {self.token}")
            try:
                return self._opener.open(request, timeout=self.timeout_s)
            except urllib.error.HTTPError as error:
                location = error.headers.get("Location") if error.code in REDIRECTS else None
                error.close()
                if location:
                    url = urljoin(url, location)
                    continue
                if error.code == 416:
                    raise
                raise self._explain(error, what) from None
            except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
                reason = getattr(error, "reason", error)
                raise TransientError(f"cannot reach {urlsplit(url).hostname}: {reason}") from error
        raise HubError(f"too many redirects fetching {what or url}")

    def _explain(self, error: urllib.error.HTTPError, what: str) -> Exception:
        code = error.headers.get("X-Error-Code", "")
        if error.code == 429 or error.code >= 500:
            return TransientError(f"the server answered {error.code} for {what}")
        if code == "RevisionNotFound":
            return HubError(f"{what}: no such revision")
        if code == "EntryNotFound":
            return HubError(f"{what}: no such file in the repository")
        if code == "GatedRepo" or (error.code == 403 and code != "RepoNotFound"):
            return HubError(f"{what}: access is restricted (a gated model: accept its licence on the Hub "
                            "and download with your token)")
        if code == "RepoNotFound" or error.code in (401, 404):
            return HubError(f"{what}: no such model on {self.endpoint} (or it is private)")
        return HubError(f"{what}: the server answered {error.code} {error.reason}")

    def _json(self, url: str, what: str):
        with self.open(url, {"Accept": "application/json"}, what) as response:
            try:
                return json.loads(read_bounded(response, MAX_JSON_BYTES, f"the answer for {what}")), response.headers
            except TooLarge as error:
                raise HubError(str(error)) from None
            except (ValueError, OSError, http.client.HTTPException) as error:
                raise TransientError(f"unreadable answer for {what}: {error}") from error

    # -- the API --------------------------------------------------------------------------------

    def revision_info(self, repo_id: str, revision: str) -> dict:
        url = f"{self.endpoint}/api/models/{quote(repo_id, safe='/')}/revision/{quote(revision, safe='')}"
        info, _ = self._json(url, f"{repo_id}@{revision}")
        if not isinstance(info, dict) or not info.get("sha"):
            raise HubError(f"{repo_id}@{revision}: the server's answer has no commit")
        # Both become folder names (snapshots/<sha>, models--<id>): a hostile mirror's '../x' must not.
        if not isinstance(info["sha"], str) or not OBJECT_ID.fullmatch(info["sha"]):
            raise HubError(f"{repo_id}@{revision}: the server answers with an unsafe commit id "
                           f"{str(info['sha'])[:80]!r}")
        if info.get("id") is not None:
            check_repo_id(info["id"], f"{repo_id}@{revision}: the server's canonical id")
        return info

    def list_files(self, repo_id: str, commit: str) -> list[HubFile]:
        url = (f"{self.endpoint}/api/models/{quote(repo_id, safe='/')}/tree/{quote(commit, safe='')}"
               "?recursive=true&expand=false")
        files: list[HubFile] = []
        while url:
            entries, headers = self._json(url, f"{repo_id}: file list")
            for entry in entries:
                if entry.get("type") != "file":
                    continue
                lfs = entry.get("lfs") or None
                _check_listed(repo_id, entry, lfs)
                files.append(HubFile(entry["path"], int(lfs["size"] if lfs else entry["size"]),
                                     (lfs.get("oid") or lfs.get("sha256")) if lfs else None,
                                     None if lfs else entry.get("oid")))
            url = _next_link(headers.get("Link", ""), url)
        return files

    def file_url(self, repo_id: str, commit: str, path: str) -> str:
        return f"{self.endpoint}/{quote(repo_id, safe='/')}/resolve/{quote(commit, safe='')}/{quote(path, safe='/')}"


def _tls_context() -> ssl.SSLContext:
    """The system's CAs ($SSL_CERT_FILE included), plus certifi's bundle where the system has none,
    plus $REQUESTS_CA_BUNDLE, which internal mirrors with their own CA often rely on."""
    context = ssl.create_default_context()
    try:
        import certifi

        context.load_verify_locations(certifi.where())
    except (ImportError, OSError):
        pass
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        try:
            context.load_verify_locations(bundle)
        except OSError:
            pass
    return context


def _next_link(header: str, base: str) -> str | None:
    for part in header.split(","):
        if 'rel="next"' in part and "<" in part and ">" in part:
            return urljoin(base, part[part.index("<") + 1:part.index(">")])
    return None


def saved_token() -> str | None:
    """The person's Hugging Face token ($HF_TOKEN, else the file `hf auth login` writes), read
    from disk only: huggingface_hub's get_token() may refresh it over the network."""
    token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if token:
        return token.strip() or None
    path = os.environ.get("HF_TOKEN_PATH")
    if not path:
        home = os.environ.get("HF_HOME") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "huggingface")
        path = os.path.join(home, "token")
    try:
        return Path(path).expanduser().read_text(encoding="utf-8").strip() or None
    except OSError:
        return None
