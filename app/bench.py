"""`main.py bench`: where a request's time goes, measured side by side in one run.

Orchestration overhead is end-to-end time minus the time during which the controller or an expert
model was computing (the union of their intervals, so concurrent branches are not counted twice).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from app.settings import Settings
from app.wiring import build_app, build_runtime
from core.llm.controller import LlamaController, LlamaSettings

ROOT = Path(__file__).resolve().parents[1]
MINILM = "sentence-transformers/all-MiniLM-L6-v2"

REQUESTS = {
    "one task": [
        {"id": 0, "task": "sentence-similarity", "dep": [], "args": {"text": "A cat sits on the mat.",
                                                                    "text2": "A kitten rests on the rug."}}],
    "chain of three": [
        {"id": 0, "task": "text-generation", "dep": [], "args": {"text": "Write one sentence about the sea."}},
        {"id": 1, "task": "translation", "dep": [0], "args": {"text": "<GENERATED>-0", "language": "French"}},
        {"id": 2, "task": "sentence-similarity", "dep": [0, 1], "args": {"text": "<GENERATED>-0",
                                                                        "text2": "<GENERATED>-1"}}],
    "two branches": [
        {"id": 0, "task": "sentence-similarity", "dep": [], "args": {"text": "A red car.", "text2": "A crimson automobile."}},
        {"id": 1, "task": "translation", "dep": [], "args": {"text": "Good morning, friends.", "language": "German"}}],
}

PLAN_COLD = "How similar are 'A cat sits on the mat.' and 'A kitten rests on the rug.'?"
PLAN_WARM = "How close in meaning are 'I love tea.' and 'Tea is my favourite drink.'?"


class Timeline:
    """Intervals during which a model computed, recorded by thin proxies around the providers."""

    def __init__(self) -> None:
        self.intervals: list[tuple[float, float, str]] = []
        self._lock = threading.Lock()

    def timed(self, label: str, fn, *args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            with self._lock:
                self.intervals.append((start, time.perf_counter(), label))

    def busy_seconds(self, since: float, until: float) -> float:
        spans = sorted((max(a, since), min(b, until)) for a, b, _ in self.intervals if b > since and a < until)
        total, end = 0.0, since
        for a, b in spans:
            if b > end:
                total += b - max(a, end)
                end = b
        return total

    def total(self, label: str, since: float) -> float:
        return sum(b - a for a, b, name in self.intervals if name == label and a >= since)


class TimedController:
    def __init__(self, inner, timeline: Timeline) -> None:
        self.inner, self.timeline, self.name = inner, timeline, inner.name

    def chat(self, *args, **kwargs):
        return self.timeline.timed("controller", self.inner.chat, *args, **kwargs)


class TimedExperts:
    def __init__(self, inner, timeline: Timeline) -> None:
        self.inner, self.timeline = inner, timeline

    def candidates(self, task):
        return self.inner.candidates(task)

    def run(self, *args, **kwargs):
        return self.timeline.timed("experts", self.inner.run, *args, **kwargs)


def _seconds(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, env=env, cwd=ROOT, timeout=300)
    return time.perf_counter() - start


def measure_startup(env: dict) -> dict:
    window = ("import time; t=time.perf_counter(); import main; main.enforce_offline_env(); "
              "from PySide6.QtWidgets import QApplication; app=QApplication([]); "
              "from desktop.main_window import MainWindow; w=MainWindow(); w.show(); app.processEvents(); "
              "print(time.perf_counter()-t, flush=True); w.close()")  # closed, as a person quits
    env = {**env, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", window], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"the window probe printed nothing (exit {done.returncode}): "
                           f"{(done.stderr.strip().splitlines() or [''])[-1][:200]}")
    return {"startup_cli_s": _seconds([sys.executable, "main.py", "--help"], env),
            "startup_window_s": float(done.stdout.strip().splitlines()[-1]),
            "startup_process_window_s": _seconds([sys.executable, "-c", window], env)}


def measure_controller(path: Path) -> dict:
    controller = LlamaController(LlamaSettings(path=path))
    start = time.perf_counter()
    llama = controller.load()
    load_s = time.perf_counter() - start
    text = " ".join(["The quick brown fox jumps over the lazy dog near the river bank."] * 25)
    prompt_tokens = len(llama.tokenize(text.encode()))
    prompt = controller.chat([{"role": "user", "content": text}], max_tokens=1)
    generation = controller.chat([{"role": "user", "content": "Tell a long story about a lighthouse keeper."}],
                                 max_tokens=96)
    gen_seconds = generation.seconds - generation.first_token_s
    return {"controller_load_s": load_s,
            "prompt_tokens_per_s": prompt_tokens / max(prompt.first_token_s, 1e-9),
            "generation_tokens_per_s": max(generation.completion_tokens - 1, 1) / max(gen_seconds, 1e-9)}


def _recording_first_tokens(chat, first_tokens: list[float]):
    """`chat`, appending each reply's time to first token to `first_tokens`."""

    def recorded(*args, **kwargs):
        result = chat(*args, **kwargs)
        first_tokens.append(result.first_token_s)
        return result
    return recorded


def measure_planning(path: Path, planner_factory, rounds: int = 3) -> dict:
    """Cold: the first plan of a fresh controller context (weights already in memory), so nothing
    of the prompt is cached; warm: the next, different request on that context. Medians over
    `rounds` fresh contexts; time to first token from the controller's own timing. Each round is
    run again with drafts off (one decode per plan token), side by side."""
    times: dict[bool, dict[str, list[float]]] = {}
    for _ in range(rounds):
        for drafts in (True, False):
            pair = _plan_cold_then_warm(path, planner_factory, drafts)
            for key, value in pair.items():
                times.setdefault(drafts, {}).setdefault(key, []).append(value)
    median = statistics.median
    drafted = {key: median(values) for key, values in times[True].items()}
    undrafted = {key: median(values) for key, values in times[False].items()}
    return {"plan_cold_s": drafted["cold"], "plan_warm_s": drafted["warm"],
            "plan_speedup": drafted["cold"] / max(drafted["warm"], 1e-9),
            "plan_cold_first_token_s": drafted["cold_first"], "plan_warm_first_token_s": drafted["warm_first"],
            "plan_cold_undrafted_s": undrafted["cold"], "plan_warm_undrafted_s": undrafted["warm"],
            "plan_draft_speedup": undrafted["warm"] / max(drafted["warm"], 1e-9)}


def _plan_cold_then_warm(path: Path, planner_factory, drafts: bool) -> dict[str, float]:
    controller = LlamaController(LlamaSettings(path=path))
    controller.load("planning").drafts = drafts
    first_tokens: list[float] = []
    controller.chat = _recording_first_tokens(controller.chat, first_tokens)
    planner = planner_factory(controller)
    planner.warm_up()  # embedder, demo vectors, step classifier: cold and warm differ only in the cache
    times = {}
    for name, request in (("cold", PLAN_COLD), ("warm", PLAN_WARM)):
        first_tokens.clear()
        start = time.perf_counter()
        planner.plan(request, [])
        times[name] = time.perf_counter() - start
        times[name + "_first"] = first_tokens[0]
    controller.close()
    return times


def measure_requests(settings: Settings, names: list[str] | None = None) -> dict:
    timeline = Timeline()
    app = build_app(settings)
    engine = app.engine
    timed_controller = TimedController(engine.controller, timeline)
    engine.controller = engine.planner.controller = engine.selector.controller = timed_controller
    engine.responder.controller = timed_controller
    engine.experts = engine.selector.experts = TimedExperts(app.runtime, timeline)
    store = app.conversations()
    engine.ask("warm up", store.create(), plan=REQUESTS["one task"])  # load models once: measure the steady state
    figures = {}
    for name in names or list(REQUESTS):
        plan = REQUESTS[name]
        start = time.perf_counter()
        turn = engine.ask(name, store.create(), plan=plan)
        end = time.perf_counter()
        if turn.status != "done" or any(r.status != "done" for r in turn.results):
            raise RuntimeError(f"bench request '{name}' failed: {turn.error or [r.error for r in turn.results]}")
        busy = timeline.busy_seconds(start, end)
        figures[name] = {
            "end_to_end_s": end - start, "controller_s": timeline.total("controller", start),
            "experts_s": timeline.total("experts", start), "overhead_s": (end - start) - busy,
            "overhead_fraction": ((end - start) - busy) / (end - start),
            "stages": {k: round(v, 4) for k, v in turn.timings.items()},
            "task_s": [round(r.seconds, 4) for r in turn.results],
        }
    return figures


def measure_model_load(settings: Settings) -> dict:
    from common.cancel import CancelToken
    runtime = build_runtime(settings)
    inputs = {"text": "A cat sits on the mat.", "text2": "A kitten rests on the rug."}
    with tempfile.TemporaryDirectory() as workdir:
        start = time.perf_counter()
        runtime.run(MINILM, "sentence-similarity", inputs, Path(workdir), CancelToken())
        first = time.perf_counter() - start
        start = time.perf_counter()
        runtime.run(MINILM, "sentence-similarity", inputs, Path(workdir), CancelToken())
        warm = time.perf_counter() - start
    return {"minilm_first_call_s": first, "minilm_warm_call_s": warm, "minilm_loads": runtime.loads}


def measure_cluster(settings: Settings, rounds: int = 5) -> dict:
    """The same warm MiniLM call in this process and through `experts serve` on a local Ray
    cluster (127.0.0.1), medians of `rounds` after one warm-up call each."""
    import statistics

    from app.cluster.client import RemoteExperts
    from app.cluster.process import ServiceProcess
    from common.cancel import CancelToken

    inputs = {"text": "A cat sits on the mat.", "text2": "A kitten rests on the rug."}
    runtime = build_runtime(settings)
    with ServiceProcess({"JARVIS_DATA_DIR": str(settings.data_path)}) as service, \
            tempfile.TemporaryDirectory() as workdir:
        remote = RemoteExperts(service.url)
        seconds = {}
        for name, experts in (("local", runtime), ("cluster", remote)):
            experts.run(MINILM, "sentence-similarity", inputs, Path(workdir), CancelToken())  # load once
            times = []
            for _ in range(rounds):
                start = time.perf_counter()
                experts.run(MINILM, "sentence-similarity", inputs, Path(workdir), CancelToken())
                times.append(time.perf_counter() - start)
            seconds[name] = statistics.median(times)
        remote.close()
    return {"local_call_s": seconds["local"], "cluster_call_s": seconds["cluster"],
            "cluster_ratio": seconds["cluster"] / max(seconds["local"], 1e-9)}


PROGRESS_SCRIPT = """
import json, sys, time
from PySide6.QtWidgets import QApplication
app = QApplication([])
from app.settings import Settings
from app.wiring import build_app
from core.events import AnswerToken, RunFinished, StageStarted
from desktop.bridge import RunBridge

engine_app = build_app(Settings.load())
bridge = RunBridge(engine_app.engine)
bridge.warm_up()  # as the window does at start-up: the first request meets a loading controller
seen = {}

def on_event(event):
    now = time.perf_counter() - sent
    seen.setdefault("send_to_progress_s", now)
    if isinstance(event, StageStarted) and event.stage == "response":
        seen["response_at"] = now
    if isinstance(event, AnswerToken) and "response_at" in seen:
        seen.setdefault("answer_first_token_s", now - seen["response_at"])
    if isinstance(event, RunFinished):
        seen["answer_s"] = now - seen.get("response_at", now)

bridge.event.connect(on_event)
bridge.finished.connect(lambda turn: (seen.update(status=turn.status), app.quit()))
bridge.refused.connect(lambda message: (seen.update(status=message), app.quit()))
sent = time.perf_counter()
bridge.ask(sys.argv[1], engine_app.conversations().create(), [])
app.exec()

# Stop in the middle of planning a new request: from the cancel to the turn's end.
bridge.finished.disconnect()
bridge.finished.connect(lambda turn: (seen.update(stop_status=turn.status), app.quit()))
from PySide6.QtCore import QTimer
def stop():
    seen["stopped_at"] = time.perf_counter()
    bridge.cancel()
QTimer.singleShot(1000, stop)
bridge.ask("Describe photo.jpg, then read the description aloud and translate it.",
           engine_app.conversations().create(), [])
app.exec()
seen["stop_planning_s"] = time.perf_counter() - seen.pop("stopped_at")
print(json.dumps(seen))
"""


def measure_progress(env: dict) -> dict:
    """In a fresh process, as a person meets it: Send to the first progress on the GUI thread, and
    the answer's first token after its stage starts (the facts) and the whole answer stage."""
    env = {**env, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", PROGRESS_SCRIPT, PLAN_COLD], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError(f"the progress probe printed nothing (exit {done.returncode}): "
                           f"{(done.stderr.strip().splitlines() or [''])[-1][:200]}")
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    if seen.get("status") != "done":
        raise RuntimeError(f"the progress probe's request did not finish: {seen.get('status')}")
    if seen.get("stop_status") != "cancelled":
        raise RuntimeError(f"Stop during planning ended the turn {seen.get('stop_status')}, not cancelled")
    return {key: seen[key] for key in ("send_to_progress_s", "answer_first_token_s", "answer_s", "stop_planning_s")}


STEP_REQUESTS = (PLAN_COLD, "Transcribe talk.wav and then summarize the transcript.",
                 "Describe photo.jpg and read the description aloud.")


def measure_steps(path: Path, planner_factory, requests=STEP_REQUESTS) -> dict:
    """Planning with listed steps, and with steps read from the clauses, against plain planning:
    the same requests, one warm context each."""
    totals = {}
    for mode in ("off", "listed", "clauses"):
        controller = LlamaController(LlamaSettings(path=path))
        controller.load("planning")
        planner = planner_factory(controller, steps=mode)
        planner.plan("warm up: how similar are 'a' and 'b'?", [])
        start = time.perf_counter()
        for request in requests:
            planner.plan(request, [])
        totals[mode] = (time.perf_counter() - start) / len(requests)
        controller.close()
    return {"plan_plain_s": totals["off"], "plan_listed_s": totals["listed"],
            "plan_listed_ratio": totals["listed"] / max(totals["off"], 1e-9),
            "plan_clauses_s": totals["clauses"], "plan_clauses_ratio": totals["clauses"] / max(totals["off"], 1e-9)}


def run_bench(settings: Settings, controller_path: Path, planner_factory, fast: bool = False) -> dict:
    """Every figure it can take; one that fails is listed under "missing" with its reason, and the
    rest are still measured. `fast` takes one round of each (a smoke run for tests)."""
    env = {**os.environ, "JARVIS_DATA_DIR": str(settings.data_path)}
    figures: dict = {"missing": {}, "skipped": {}}
    measures = [
        ("startup", lambda: measure_startup(env)),
        ("controller", lambda: measure_controller(controller_path)),
        ("planning", lambda: measure_planning(controller_path, planner_factory, rounds=1 if fast else 3)),
        ("steps", lambda: measure_steps(controller_path, planner_factory, STEP_REQUESTS[:1] if fast else STEP_REQUESTS)),
        ("progress", lambda: measure_progress(env)),
        ("model_load", lambda: measure_model_load(settings)),
        ("requests", lambda: {"requests": measure_requests(settings, ["one task"] if fast else list(REQUESTS))}),
        ("cluster", lambda: measure_cluster(settings)),
    ]
    if fast:  # a Ray cluster takes a minute to start
        measures.pop()
        figures["skipped"]["cluster"] = "not measured with --fast"
    for name, measure in measures:
        try:
            figures.update(measure())
        except Exception as error:  # one figure's failure must not lose the others
            figures["missing"][name] = f"{type(error).__name__}: {error}"[:300]
    if figures.get("requests"):
        figures["overhead_fraction"] = max(r["overhead_fraction"] for r in figures["requests"].values())
    if "startup_window_s" in figures:
        figures["startup_s"] = figures["startup_window_s"]
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


ROWS = (
    ("start-up: window shown (in process, from first import)", "startup_window_s", "{:.2f} s"),
    ("start-up: window process, launch to exit", "startup_process_window_s", "{:.2f} s"),
    ("start-up: command line (main.py --help)", "startup_cli_s", "{:.2f} s"),
    ("controller load", "controller_load_s", "{:.2f} s"),
    ("controller prompt evaluation", "prompt_tokens_per_s", "{:.0f} tokens/s"),
    ("controller generation", "generation_tokens_per_s", "{:.0f} tokens/s"),
    ("planning, cold prompt: first token (first controller pass)", "plan_cold_first_token_s", "{:.2f} s"),
    ("planning, cold prompt: plan", "plan_cold_s", "{:.2f} s"),
    ("planning, warm prompt: first token (first controller pass)", "plan_warm_first_token_s", "{:.2f} s"),
    ("planning, warm prompt: plan", "plan_warm_s", "{:.2f} s"),
    ("planning cold / warm", "plan_speedup", "{:.1f}x"),
    ("planning, warm prompt: plan, one decode per token (drafts off)", "plan_warm_undrafted_s", "{:.2f} s"),
    ("planning, cold prompt: plan, drafts off", "plan_cold_undrafted_s", "{:.2f} s"),
    ("planning warm, drafts off / on", "plan_draft_speedup", "{:.2f}x"),
    ("planning, plain (steps off), per request", "plan_plain_s", "{:.2f} s"),
    ("planning, listed steps, per request", "plan_listed_s", "{:.2f} s"),
    ("planning listed / plain", "plan_listed_ratio", "{:.2f}x"),
    ("planning, steps from the clauses, per request", "plan_clauses_s", "{:.2f} s"),
    ("planning clauses / plain", "plan_clauses_ratio", "{:.2f}x"),
    ("window: Send to first progress (fresh process)", "send_to_progress_s", "{:.3f} s"),
    ("answer: first text after its stage starts", "answer_first_token_s", "{:.3f} s"),
    ("window: Stop during planning to the turn's end", "stop_planning_s", "{:.3f} s"),
    ("answer: whole stage (facts and checked prose)", "answer_s", "{:.2f} s"),
    ("MiniLM first call (load + run)", "minilm_first_call_s", "{:.3f} s"),
    ("MiniLM warm call", "minilm_warm_call_s", "{:.3f} s"),
    ("MiniLM warm call, this process", "local_call_s", "{:.3f} s"),
    ("MiniLM warm call, local Ray cluster (HTTP)", "cluster_call_s", "{:.3f} s"),
    ("cluster / this process", "cluster_ratio", "{:.1f}x"),
)


def format_table(f: dict) -> str:
    rows = [(label, fmt.format(f[key])) for label, key, fmt in ROWS if key in f]
    for name, r in f.get("requests", {}).items():
        stages = ", ".join(f"{k} {v:.2f}" for k, v in r["stages"].items())
        rows.append((f"{name}: end to end", f"{r['end_to_end_s']:.2f} s  ({stages})"))
        rows.append((f"{name}: controller / experts", f"{r['controller_s']:.2f} s / {r['experts_s']:.2f} s"))
        rows.append((f"{name}: orchestration overhead",
                     f"{r['overhead_s'] * 1000:.1f} ms ({r['overhead_fraction'] * 100:.2f}%)"))
        if name == "two branches":
            rows.append((f"{name}: sum of branch times", f"{sum(r['task_s']):.2f} s (execution stage "
                                                          f"{r['stages']['execution']:.2f} s)"))
    rows.append(("peak memory (RSS)", f"{f['peak_rss_mb']:.0f} MB"))
    rows += [(f"missing: {name}", reason) for name, reason in f.get("missing", {}).items()]
    rows += [(f"skipped: {name}", reason) for name, reason in f.get("skipped", {}).items()]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)
