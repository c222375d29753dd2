"""Runs expert models: picks the runner, places the model, keeps it warm within a memory budget.

`ExpertRuntime` satisfies the engine's `ExpertProvider` interface (`candidates`, `run`).

Memory is accounted per device ("cpu" for RAM, "cuda:N" per GPU) from estimates read off the
weight files (see `models.memory`). Loaded models stay warm, least recently used first out, and
a model in use by a running task is never unloaded under it: a load that needs its room waits for
it to finish. Memory used outside the runtime (the controller LLM) is registered with `reserve`.

A runner that needs no model (Canny) is offered as a built-in record (`builtin/canny`): leasing it
reads no files and takes no room in the budget. A model may serve a task other than its own when
the task's runner borrows it (a depth-estimation model makes depth control maps); it is then kept
warm under "<id> as <task>", being a second runner of its own.
"""

from __future__ import annotations

import gc
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.cancel import CancelToken
from models.catalogue import ExpertEntry, load_catalogue
from models.devices import SINGLE, Placement, decide, device_capacity, gpu_info
from models.formats import FormatError
from models.memory import WeightSize, estimate
from models.runners import builtin_record, builtin_records, model_tasks_for, runner_for
from models.runners.base import ExpertError, Runner, WrongTaskError, quiet_libraries
from models.store import LocalStore, ModelRecord

__all__ = ["ExpertError", "ExpertRuntime"]

log = logging.getLogger(__name__)

# Without a configured budget, experts may use this share of each device's memory.
DEFAULT_SHARE = 0.9


@dataclass
class _Warm:
    runner: Runner
    use: dict[str, int]  # bytes per device
    users: int = 0  # tasks running on it right now


class ExpertRuntime:
    def __init__(self, store: LocalStore, device: str = "auto", budget_bytes: int | None = None,
                 allow_pickle: frozenset[str] = frozenset(), vram_budget_bytes: int | None = None) -> None:
        self.store = store
        self.device = device
        self.budget_bytes = budget_bytes  # RAM for experts; None: a share of the machine's RAM
        self.vram_budget_bytes = vram_budget_bytes  # per GPU; None: a share of each GPU's memory
        self.allow_pickle = allow_pickle
        self._warm: OrderedDict[str, _Warm] = OrderedDict()  # least recently used first
        self._pending: dict[str, dict[str, int]] = {}  # models being loaded: their room is taken
        self._reserved: dict[str, dict[str, int]] = {}  # outside users: name -> bytes per device
        self._capacity: dict[str, int] | None = None
        self._cond = threading.Condition()
        self._loading: dict[str, threading.Lock] = {}
        self.loads = 0  # how many times a model was loaded from disk (benchmarks and tests read it)

    # -- ExpertProvider ------------------------------------------------------------------------

    def candidates(self, task: str) -> list[ModelRecord]:
        if runner_for(task) is None:
            return []
        installed = [r for name in model_tasks_for(task) for r in self.store.for_task(name)]
        # Warm models first (no load to pay), then smaller ones (faster to load, more likely to fit);
        # models made for the task before borrowed ones.
        ranked = sorted(installed, key=lambda r: (_key(r.id, r.task, task) not in self._warm, r.task != task,
                                                  r.size_bytes))
        return builtin_records(task) + ranked

    def recommend(self, task: str) -> ExpertEntry | None:
        """The catalogue's first model for `task` that is not installed: what to download when
        no installed model can do it (the answer and the window offer it)."""
        if runner_for(task) is None:
            return None
        installed = {r.id for r in self.store.list()}
        entries = [e for name in model_tasks_for(task) for e in load_catalogue().experts_for(name)]
        return next((e for e in entries if e.id not in installed), None)

    def record(self, model_id: str) -> ModelRecord | None:
        """A built-in or installed model by id."""
        return builtin_record(model_id) or self.store.get(model_id)

    def run(self, model_id: str, task: str, inputs: dict[str, str], workdir: Path, cancel: CancelToken) -> dict[str, Any]:
        runner, key = self._lease(model_id, task, cancel)
        try:
            cancel.raise_if_cancelled()
            start = time.perf_counter()
            Path(workdir).mkdir(parents=True, exist_ok=True)
            try:
                outputs = runner.run(task, inputs, Path(workdir), cancel)
            except (ValueError, RuntimeError, OSError) as error:
                if isinstance(error, ExpertError):
                    raise
                raise ExpertError(f"{task} with '{model_id}' failed: {error}") from error
            cancel.raise_if_cancelled()  # a generation stopped early is not a result
        finally:
            self._release(key)
        outputs.setdefault("device", runner.placement.device)
        outputs.setdefault("dtype", runner.placement.dtype)
        if runner.placement.strategy != SINGLE:
            outputs.setdefault("placement", runner.placement.strategy)
        outputs["inference_s"] = round(time.perf_counter() - start, 4)
        return outputs

    # -- warm cache ----------------------------------------------------------------------------

    def acquire(self, model_id: str, task: str, cancel: CancelToken | None = None) -> Runner:
        """The model loaded and warm (loading it if needed), not held: a later load may unload it."""
        runner, key = self._lease(model_id, task, cancel)
        self._release(key)
        return runner

    def prefetch(self, model_id: str, task: str) -> None:
        """Load a model a later task will need while earlier tasks run (the engine calls this)."""
        self.acquire(model_id, task)

    def _lease(self, model_id: str, task: str, cancel: CancelToken | None) -> tuple[Runner, str]:
        """The runner, loaded and held, and the key it is kept warm under (for `_release`)."""
        record = self._check(model_id, task)
        runner_class = runner_for(task)
        key = _key(model_id, record.task, task)
        with self._cond:
            lock = self._loading.setdefault(key, threading.Lock())
        with lock:  # two tasks wanting the same cold model load it once
            with self._cond:
                if key in self._warm:
                    entry = self._warm[key]
                    self._warm.move_to_end(key)
                    entry.users += 1
                    return entry.runner, key
            if runner_class.needs_model:
                size = self._estimate(record)
                placement = self._place(size, runner_class)
                use = placement.memory_use(size.components(placement.dtype))
                self._make_room(key, use, cancel)
            else:  # computed in code: nothing to read, no memory worth budgeting or freeing
                placement, use = Placement("cpu", "float32"), {}
            runner = runner_class(Path(record.path), placement)
            runner.use_safetensors = record.format != "pickle"
            try:
                if runner_class.needs_model:  # a built-in loads no library to quieten
                    quiet_libraries()
                runner.load()
            except BaseException as error:  # safetensors, torch and transformers each raise their own types
                runner.unload()
                with self._cond:
                    self._pending.pop(key, None)  # the room it held is free again
                    self._cond.notify_all()
                self._free_memory()
                if not isinstance(error, Exception):
                    raise
                raise _load_error(model_id, task, error) from error
            with self._cond:
                self._pending.pop(key, None)
                self._warm[key] = _Warm(runner, use, users=1)
                self.loads += 1
            log.info("loaded %s on %s (%s, %s), about %s", key, placement.device, placement.dtype,
                     placement.strategy, _describe(use) or "no memory to speak of")
            return runner, key

    def _release(self, key: str) -> None:
        with self._cond:
            entry = self._warm.get(key)
            if entry is not None:
                entry.users -= 1
            self._cond.notify_all()

    def _check(self, model_id: str, task: str) -> ModelRecord:
        record = self.record(model_id)
        if record is None:
            raise ExpertError(f"model '{model_id}' is not installed")
        if record.task not in model_tasks_for(task):
            raise ExpertError(f"model '{model_id}' does {record.task}, not {task}")
        if record.format == "pickle" and model_id not in self.allow_pickle:
            raise ExpertError(f"model '{model_id}' has only pickle weights, which can run code; "
                              "to use it anyway, add its id to allow_pickle_models in settings.json")
        if runner_for(task) is None:
            raise ExpertError(f"no runner for {task} yet")
        return record

    def _estimate(self, record: ModelRecord) -> WeightSize:
        try:
            return estimate(Path(record.path), allow_pickle=record.format == "pickle")
        except (FormatError, OSError, ValueError, KeyError) as error:
            raise ExpertError(f"model '{record.id}' could not be loaded (missing or corrupt files?): "
                              f"{error}") from error

    def _place(self, size: WeightSize, runner_class: type[Runner]) -> Placement:
        """Where the model goes if idle models make way (busy ones are waited for)."""
        free = {name: capacity - self._reserved_on(name) for name, capacity in self.capacity().items()}
        return decide(self.device, gpu_info(), size.total, free, pipeline=runner_class.pipeline)

    # -- memory budget -------------------------------------------------------------------------

    def capacity(self) -> dict[str, int]:
        """Bytes experts may use on each device, before reservations."""
        if self._capacity is None:
            capacity = {name: int(total * DEFAULT_SHARE) for name, total in device_capacity().items()}
            if self.budget_bytes is not None:
                capacity["cpu"] = self.budget_bytes
            if self.vram_budget_bytes is not None:
                capacity.update({name: self.vram_budget_bytes for name in capacity if name != "cpu"})
            self._capacity = capacity
        return self._capacity

    def reserve(self, name: str, nbytes: int, device: str = "cpu") -> None:
        """Count memory used outside the runtime (the controller LLM) against the budget; idle
        warm models are unloaded to make room. `release(name)` gives it back."""
        with self._cond:
            self._reserved.setdefault(name, {})[device] = int(nbytes)
            # With no expert loaded there is nothing to evict, and the capacity (which imports
            # torch to count GPUs) is not needed yet: the window's idle process stays torch-free.
            evicted = self._evict_idle_until_within() if self._warm else False
        if evicted:
            self._free_memory()

    def release(self, name: str) -> None:
        with self._cond:
            self._reserved.pop(name, None)
            self._cond.notify_all()

    def usage(self) -> dict[str, int]:
        """Bytes in use per device: warm models, loads in progress and reservations."""
        with self._cond:
            return self._used()

    def _used(self) -> dict[str, int]:
        used: dict[str, int] = {}
        parts = [e.use for e in self._warm.values()] + list(self._pending.values()) + list(self._reserved.values())
        for part in parts:
            for name, nbytes in part.items():
                used[name] = used.get(name, 0) + nbytes
        return used

    def _reserved_on(self, device: str) -> int:
        return sum(part.get(device, 0) for part in self._reserved.values())

    def _make_room(self, model_id: str, use: dict[str, int], cancel: CancelToken | None) -> None:
        """Unload idle models, least recently used first, until `use` fits; wait for busy ones."""
        capacity = self.capacity()
        if cancel is not None:
            cancel.on_cancel(self._wake)
        with self._cond:
            for name, nbytes in use.items():
                reserved = self._reserved_on(name)
                if nbytes > capacity.get(name, 0) - reserved:
                    held = f" ({_gib(reserved)} of it reserved by {', '.join(self._reserved)})" if reserved else ""
                    raise ExpertError(f"model '{model_id}' needs about {_gib(nbytes)} of {_device_name(name)}, more "
                                      f"than the memory budget of {_gib(capacity.get(name, 0))}{held}")
            while not self._fits(use):
                victim = self._idle_victim(use)
                if victim is not None:
                    self._unload(victim)
                    continue
                if cancel is not None:
                    cancel.raise_if_cancelled()
                log.info("waiting for running tasks to finish before loading %s", model_id)
                self._cond.wait()
            self._pending[model_id] = use
        self._free_memory()

    def _fits(self, use: dict[str, int]) -> bool:
        used, capacity = self._used(), self.capacity()
        return all(used.get(name, 0) + nbytes <= capacity.get(name, 0) for name, nbytes in use.items())

    def _idle_victim(self, use: dict[str, int]) -> str | None:
        """The least recently used idle model that holds memory on a device `use` needs."""
        return next((model_id for model_id, entry in self._warm.items()
                     if entry.users == 0 and any(entry.use.get(name) for name in use)), None)

    def _evict_idle_until_within(self) -> bool:
        """Unload idle models until usage fits the capacity; True when any was unloaded."""
        capacity = self.capacity()
        evicted = False
        while True:
            over = {name for name, nbytes in self._used().items() if nbytes > capacity.get(name, 0)}
            victim = self._idle_victim({name: 1 for name in over}) if over else None
            if victim is None:
                return evicted
            self._unload(victim)
            evicted = True

    def _unload(self, model_id: str) -> None:
        """Called with the lock held."""
        entry = self._warm.pop(model_id)
        log.info("unloading %s to stay within the memory budget", model_id)
        entry.runner.unload()
        self._cond.notify_all()

    def _wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def unload_all(self) -> None:
        with self._cond:
            for model_id in [m for m, e in self._warm.items() if e.users == 0]:
                self._unload(model_id)
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
        with self._cond:
            return list(self._warm)


def _load_error(model_id: str, task: str, error: Exception) -> ExpertError:
    """Why a load failed, in the person's terms."""
    if isinstance(error, WrongTaskError):
        return ExpertError(f"model '{model_id}' cannot do {task}: {error}")
    if isinstance(error, ExpertError):
        return ExpertError(f"model '{model_id}' cannot run here: {error}")
    missing = re.search(r"requires the (\S+) librar", str(error)) if isinstance(error, ImportError) else None
    if missing or isinstance(error, ModuleNotFoundError):
        package = missing.group(1) if missing else error.name
        return ExpertError(f"model '{model_id}' needs the Python package '{package}', which is not installed")
    return ExpertError(f"model '{model_id}' could not be loaded (missing or corrupt files?): {error}")


def _key(model_id: str, model_task: str, task: str) -> str:
    """What a loaded runner is kept warm under: the model's id for its own task, else the pair."""
    return model_id if model_task == task else f"{model_id} as {task}"


def _gib(nbytes: int) -> str:
    return f"{nbytes / 2**30:.2f} GiB" if nbytes < 2**30 else f"{nbytes / 2**30:.1f} GiB"


def _device_name(name: str) -> str:
    return "RAM" if name == "cpu" else f"GPU memory ({name})"


def _describe(use: dict[str, int]) -> str:
    return ", ".join(f"{_gib(n)} on {name}" for name, n in use.items())
