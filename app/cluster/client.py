"""The expert provider for experts on a cluster: `ExpertProvider` over plain HTTP to the service
`main.py experts serve` deploys. It never imports Ray: a desktop needs only the URL.

The configured host is the one outside host it may reach (the network guard allows it, as for a
shared controller). A cluster that is down or slow fails the task with a message naming it, never
a hang: connecting is bounded by `connect_timeout`, a task by `task_timeout`. Stop closes the
connection, which cancels the task on the replica.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.cluster.wire import MAX_BODY_BYTES, MODEL_HEADER, WireError, multiplexed_id, pack_inputs, unpack_outputs
from common.bounded import TooLarge, read_bounded
from common.cancel import Cancelled, CancelToken
from core.experts import ExpertsUnavailable
from core.offline import netguard

CANDIDATES_BYTES = 4 * 2**20


@dataclass(frozen=True)
class RemoteModel:
    id: str
    task: str
    description: str
    size_bytes: int


class RemoteExperts:
    def __init__(self, url: str, connect_timeout: float = 10.0, task_timeout: float = 900.0) -> None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ExpertsUnavailable(f"the experts URL must look like http://host:8000/experts, got '{url}'")
        self.url = url.rstrip("/")
        self.host = parts.hostname
        self.connect_timeout = connect_timeout
        self.task_timeout = task_timeout
        self._release = netguard.allow(self.host)

    def close(self) -> None:
        self._release()

    # -- ExpertProvider ------------------------------------------------------------------------

    def candidates(self, task: str) -> list[RemoteModel]:
        query = urllib.parse.urlencode({"task": task})
        data = self._json("GET", f"/candidates?{query}", None, {}, self.connect_timeout * 3, CANDIDATES_BYTES)
        try:
            return [RemoteModel(str(m["id"]), str(m["task"]), str(m.get("description", "")), int(m.get("size_bytes", 0)))
                    for m in data["models"]]
        except (KeyError, TypeError, ValueError) as error:
            raise ExpertsUnavailable(f"the expert cluster at {self.url} sent a model list this app cannot read") from error

    def run(self, model_id: str, task: str, inputs: dict[str, str], workdir: Path,
            cancel: CancelToken) -> dict[str, Any]:
        cancel.raise_if_cancelled()
        try:
            body = json.dumps({"model": model_id, "task": task, "inputs": pack_inputs(inputs)}).encode()
        except OSError as error:
            raise ExpertsUnavailable(f"cannot read an input file for {task}: {error.strerror or error}") from error
        if len(body) > MAX_BODY_BYTES:
            raise ExpertsUnavailable(f"the inputs of {task} are {len(body) // 2**20} MiB; the cluster takes at most "
                                     f"{MAX_BODY_BYTES // 2**20} MiB")
        headers = {"Content-Type": "application/json", MODEL_HEADER: multiplexed_id(model_id, task)}
        data = self._json("POST", "/run", body, headers, self.task_timeout, MAX_BODY_BYTES, cancel)
        try:
            outputs = unpack_outputs(data["outputs"], Path(workdir))
        except (KeyError, TypeError, WireError) as error:
            raise ExpertsUnavailable(f"the expert cluster at {self.url} sent outputs this app cannot read") from error
        outputs["host"] = str(data.get("host", self.host))
        if data.get("node"):
            outputs["node"] = str(data["node"])  # the Ray node: several may share a host
        return outputs

    # -- HTTP ----------------------------------------------------------------------------------

    def _json(self, method: str, path: str, body: bytes | None, headers: dict, timeout: float, limit: int,
              cancel: CancelToken | None = None) -> dict:
        """One request: connecting bounded by `connect_timeout`, the reply by `timeout` (a task's
        reply comes when the task is done). Stop shuts the socket, which the service sees."""
        parts = urllib.parse.urlsplit(self.url)
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(parts.hostname, parts.port, timeout=self.connect_timeout)
        stopped = threading.Event()

        def stop() -> None:
            stopped.set()
            if connection.sock is not None:
                try:
                    connection.sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        try:
            try:
                connection.connect()
            except (OSError, socket.timeout) as error:
                raise ExpertsUnavailable(f"cannot reach the expert cluster at {self.url}: "
                                         f"{getattr(error, 'strerror', None) or error}") from None
            connection.sock.settimeout(timeout)
            if cancel is not None:
                cancel.on_cancel(stop)
                if cancel.cancelled:
                    raise Cancelled("cancelled")
            try:
                connection.request(method, parts.path.rstrip("/") + path, body=body, headers=headers)
                response = connection.getresponse()
                raw = read_bounded(response, limit, self.url)
            except TooLarge as error:
                raise ExpertsUnavailable(str(error)) from None
            except (socket.timeout, TimeoutError):
                raise ExpertsUnavailable(f"the expert cluster at {self.url} did not answer within "
                                         f"{timeout:.0f} s") from None
            except (OSError, http.client.HTTPException) as error:
                if stopped.is_set():
                    raise Cancelled("cancelled") from None
                raise ExpertsUnavailable(f"the expert cluster at {self.url} broke off: {error or type(error).__name__}") from None
        finally:
            connection.close()
        try:
            data = json.loads(raw)
        except ValueError:
            data = None
        if response.status != 200 or not isinstance(data, dict):
            if response.status == 499:
                raise Cancelled("cancelled on the cluster")
            detail = data.get("error") if isinstance(data, dict) else ""
            raise ExpertsUnavailable(f"the expert cluster at {self.url}: {detail or f'HTTP {response.status}'}")
        return data
