"""Runs expert models: picks the runner, places the model, keeps it warm within a memory budget.

`ExpertRuntime` satisfies the engine's `ExpertProvider` interface (`candidates`, `run`).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from models.devices import Placement, choose_placement
from models.runners import runner_for
from models.runners.base import Runner, quiet_libraries
from models.store import LocalStore, ModelRecord

log = logging.getLogger(__name__)


class ExpertError(RuntimeError):
    """A model cannot run; the message says why in plain words."""


class ExpertRuntime:
    def __init__(self, store: LocalStore, device: str = "auto", budget_bytes: int | None = None,
                 allow_pickle: frozenset[str] = frozenset()) -> None:
        self.store = store
        self.device = device
        self.budget_bytes = budget_bytes
        self.allow_pickle = allow_pickle
        self._warm: OrderedDict[str, tuple[Runner, int]] = OrderedDict()  # model id -> (runner, bytes)
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self.loads = 0  # how many times a model was loaded from disk (benchmarks and tests read it)

    # -- ExpertProvider ------------------------------------------------------------------------

    def candidates(self, task: str) -> list[ModelRecord]:
        if runner_for(task) is None:
            return []
        # Warm models first (no load to pay), then smaller ones (faster to load, more likely to fit).
        return sorted(self.store.for_task(task), key=lambda r: (r.id not in self._warm, r.size_bytes))

    def run(self, model_id: str, task: str, inputs: dict[str, str], workdir: Path, cancel) -> dict[str, Any]:
        runner = self.acquire(model_id, task)
        cancel.raise_if_cancelled()
        start = time.perf_counter()
        outputs = runner.run(task, inputs, Path(workdir), cancel)
        outputs.setdefault("device", runner.placement.device)
        outputs.setdefault("dtype", runner.placement.dtype)
        outputs["inference_s"] = round(time.perf_counter() - start, 4)
        return outputs

    # -- warm cache ----------------------------------------------------------------------------

    def acquire(self, model_id: str, task: str) -> Runner:
        record = self.store.get(model_id)
        if record is None:
            raise ExpertError(f"model '{model_id}' is not installed")
        if record.task != task:
            raise ExpertError(f"model '{model_id}' does {record.task}, not {task}")
        if record.format == "pickle" and model_id not in self.allow_pickle:
            raise ExpertError(f"model '{model_id}' has only pickle weights, which can run code; "
                              "allow pickle for this model in the model manager to use it")
        runner_class = runner_for(task)
        if runner_class is None:
            raise ExpertError(f"no runner for {task} yet")
        with self._lock:
            lock = self._loading.setdefault(model_id, threading.Lock())
        with lock:  # two tasks wanting the same cold model load it once
            with self._lock:
                if model_id in self._warm:
                    self._warm.move_to_end(model_id)
                    return self._warm[model_id][0]
            self._make_room(record.size_bytes)
            runner = runner_class(Path(record.path), self._placement())
            quiet_libraries()
            try:
                runner.load()
            except Exception as error:  # safetensors, torch and transformers each raise their own types
                raise ExpertError(f"model '{model_id}' could not be loaded (missing or corrupt files?): {error}") from error
            with self._lock:
                self._warm[model_id] = (runner, record.size_bytes)
                self.loads += 1
            return runner

    def _placement(self) -> Placement:
        return choose_placement(self.device)

    def _make_room(self, needed: int) -> None:
        if self.budget_bytes is None:
            return
        if needed > self.budget_bytes:
            raise ExpertError(f"the model needs about {needed / 2**30:.1f} GiB, more than the memory budget "
                              f"of {self.budget_bytes / 2**30:.1f} GiB")
        with self._lock:
            while self._warm and sum(size for _, size in self._warm.values()) + needed > self.budget_bytes:
                model_id, (runner, _) = self._warm.popitem(last=False)
                log.info("unloading %s to stay within the memory budget", model_id)
                runner.unload()
        self._free_memory()

    def unload_all(self) -> None:
        with self._lock:
            for runner, _ in self._warm.values():
                runner.unload()
            self._warm.clear()
        self._free_memory()

    @staticmethod
    def _free_memory() -> None:
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover
            pass

    def warm_models(self) -> list[str]:
        with self._lock:
            return list(self._warm)
