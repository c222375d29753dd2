"""The expert service: the project's own expert runtime as a Ray Serve deployment.

Each replica holds one `ExpertRuntime` (the same runners, placement and memory budget as on a
desktop) reading the node's own Hugging Face cache and data folder, so a node serves what its
`models` commands installed. Requests name their model in Ray Serve's multiplexing header, so
Serve sends a model's requests to a replica that has it loaded (`serve.multiplexed`); the
runtime's budget decides what stays loaded. A client that disconnects (Stop on the desktop)
cancels the request, and the cancellation reaches the running task through its CancelToken.

Routes under the deployment's prefix (default /experts):
  GET  /health                 -> {"ok": true, "host": ..., "node": ...}
  GET  /candidates?task=T      -> {"models": [{id, task, description, size_bytes}]}
  POST /run {model, task, inputs} -> {"outputs": {...}, "host": ..., "seconds": ...}
  GET  /status                 -> {"running": N, "cancelled": N, "done": N}
"""

# No `from __future__ import annotations` here: FastAPI reads the handlers' annotations at run
# time, and as strings `request: Request` would be taken for a query parameter.
import asyncio
import json
import shutil
import socket
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from ray import serve

from app.cluster.scratch import new_run_folder, sweep_stale_runs
from app.cluster.wire import MAX_BODY_BYTES, WireError, multiplexed_id, pack_outputs, split_multiplexed_id, unpack_inputs
from common.cancel import Cancelled, CancelToken

api = FastAPI(title="Jarvis experts")
# The folder under a node's data folder that holds the requests' files while their tasks run.
SCRATCH = "remote-runs"


@serve.deployment(name="experts")
@serve.ingress(api)
class ExpertService:
    def __init__(self, settings: "dict | None" = None) -> None:
        import ray

        from app.settings import Settings
        from app.wiring import build_runtime
        from models.store import LocalStore

        self.settings = Settings.load() if settings is None else Settings(**settings)
        self.runtime = build_runtime(self.settings, LocalStore(self.settings.data_path))
        self.host = socket.gethostname()
        self.node = ray.get_runtime_context().get_node_id()
        self.counts = {"running": 0, "cancelled": 0, "done": 0, "failed": 0}
        # Each request's inputs and outputs, under the node's own data folder and removed once
        # its task has ended: a user's files must not pile up on the team's machines.
        self.scratch = self.settings.data_path / SCRATCH
        sweep_stale_runs(self.scratch)  # a replica killed mid-task left its requests' files

    @serve.multiplexed(max_num_models_per_replica=16)
    async def get_model(self, key: str) -> str:
        """Load (warm) the model a request names, so Serve can route by it; the runtime's memory
        budget, not this count, decides what is unloaded."""
        model_id, task = split_multiplexed_id(key)
        await asyncio.get_running_loop().run_in_executor(None, self.runtime.acquire, model_id, task)
        return key

    @api.get("/health")
    async def health(self) -> dict:
        return {"ok": True, "host": self.host, "node": self.node}

    @api.get("/status")
    async def status(self) -> dict:
        return dict(self.counts)

    @api.get("/candidates")
    async def candidates(self, task: str) -> dict:
        records = self.runtime.candidates(task)
        return {"models": [{"id": r.id, "task": r.task, "description": r.description, "size_bytes": r.size_bytes}
                           for r in records]}

    @api.post("/run")
    async def run(self, request: Request):
        declared = int(request.headers.get("content-length") or 0)
        if declared > MAX_BODY_BYTES:
            return JSONResponse({"error": f"the request is {declared} bytes; at most {MAX_BODY_BYTES}"}, 413)
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:  # a chunked body declares no length
            return JSONResponse({"error": f"the request is {len(raw)} bytes; at most {MAX_BODY_BYTES}"}, 413)
        try:
            body = json.loads(raw)
            model_id, task = str(body["model"]), str(body["task"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "the body must be JSON with model, task and inputs"}, 400)
        cancel = CancelToken()
        try:
            folder = new_run_folder(self.scratch)
        except OSError as error:
            return JSONResponse({"error": f"this node cannot write to {self.scratch}: {error}"}, 507)
        loop = asyncio.get_running_loop()
        start = time.perf_counter()
        self.counts["running"] += 1
        work = None
        try:
            inputs = unpack_inputs(body.get("inputs") or {}, folder / "in")
            try:
                if serve.get_multiplexed_model_id() == multiplexed_id(model_id, task):
                    await self.get_model(multiplexed_id(model_id, task))
                work = loop.run_in_executor(
                    None, self.runtime.run, model_id, task, inputs, folder / "out", cancel)
                outputs = await asyncio.shield(work)
            except asyncio.CancelledError:  # the client went away: stop the task, not just the reply
                cancel.cancel()
                self.counts["cancelled"] += 1
                raise
            self.counts["done"] += 1
            return {"outputs": pack_outputs(outputs), "host": self.host, "node": self.node,
                    "seconds": round(time.perf_counter() - start, 4)}
        except WireError as error:
            return JSONResponse({"error": str(error)}, 400)
        except Cancelled:
            self.counts["cancelled"] += 1
            return JSONResponse({"error": "cancelled"}, 499)
        except Exception as error:  # noqa: BLE001 - the task fails with its message; the replica lives on
            self.counts["failed"] += 1
            return JSONResponse({"error": str(error) or type(error).__name__}, 422)
        finally:
            self.counts["running"] -= 1
            # off the event loop: a video's folder can take a while to delete
            if work is None or work.done():
                loop.run_in_executor(None, shutil.rmtree, folder, True)
            else:  # cancelled: the task's thread still writes there until it sees the token
                work.add_done_callback(lambda _: loop.run_in_executor(None, shutil.rmtree, folder, True))


def application(settings: dict | None = None, replicas: int = 1, gpus_per_replica: float = 0.0):
    """The deployment bound for `serve.run`; `gpus_per_replica` may be a fraction (two replicas
    on one GPU at 0.5)."""
    return ExpertService.options(num_replicas=replicas,
                                 ray_actor_options={"num_gpus": gpus_per_replica}).bind(settings)
