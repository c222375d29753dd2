"""Benchmark every expert runner: load time, first and warm inference, peak memory, and proof that
the warm call did not load again.

    .venv/bin/python benchmarks/bench_runners.py                 # tiny random models, built on the fly
    .venv/bin/python benchmarks/bench_runners.py --installed     # the installed models (first candidate per task)
    .venv/bin/python benchmarks/bench_runners.py --task fill-mask --task text-to-speech --json

Each model is loaded through `ExpertRuntime` (the product's loading code) and unloaded before the
next, so each row's peak RSS is that runner's own (sampled every 5 ms, whole process).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.offline.switches import enforce_offline_env  # noqa: E402

enforce_offline_env()

from common.cancel import CancelToken  # noqa: E402
from models.runtime import ExpertRuntime  # noqa: E402
from models.store import LocalStore  # noqa: E402
from tests.tiny_models import TinyModels, sample_audio, sample_image  # noqa: E402

INPUTS = {
    "text-classification": {"text": "I loved this film, it was wonderful."},
    "token-classification": {"text": "Sarah lives in Berlin and works for Siemens."},
    "zero-shot-classification": {"text": "The match ended two to one.", "labels": "sport, politics, cooking"},
    "question-answering": {"question": "Where does Sarah live?",
                           "context": "Sarah lives in Berlin. She works in London."},
    "summarization": {"text": "The city council met on Monday and agreed to build a new bridge over the river. "
                              "Work starts next spring and should take two years."},
    "translation": {"text": "The weather is nice today.", "language": "German"},
    "text2text-generation": {"text": "What is the capital of France?"},
    "text-generation": {"text": "Once upon a time"},
    "conversational": {"text": "Hello! How are you today?"},
    "sentence-similarity": {"text": "A cat sits on the mat.", "text2": "A kitten rests on the rug."},
    "fill-mask": {"text": "Paris is the [MASK] of France."},
    "image-classification": {"image": "<image>"},
    "zero-shot-image-classification": {"image": "<image>", "labels": "cat, dog, car"},
    "object-detection": {"image": "<image>"},
    "image-segmentation": {"image": "<image>"},
    "depth-estimation": {"image": "<image>"},
    "image-to-text": {"image": "<image>"},
    "visual-question-answering": {"image": "<image>", "text": "What colour is the square?"},
    "document-question-answering": {"image": "<image>", "text": "What is the total?"},
    "text-to-image": {"text": "a red car in the snow"},
    "image-to-image": {"image": "<image>", "text": "a watercolour painting"},
    "automatic-speech-recognition": {"audio": "<audio>"},
    "audio-classification": {"audio": "<audio>"},
    "text-to-speech": {"text": "Hello, this is a test."},
}


class PeakRss:
    """The highest resident set size seen while the block runs."""

    def __init__(self, interval: float = 0.005) -> None:
        import psutil

        self.process = psutil.Process()
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            self._stop.wait(self.interval)

    def __enter__(self):
        self.peak = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def bench_one(runtime: ExpertRuntime, model: str, task: str, inputs: dict, workdir: Path) -> dict:
    clock = time.perf_counter
    with PeakRss() as rss:
        start = clock()
        runtime.acquire(model, task)
        load = clock() - start
        loads_after_load = runtime.loads
        start = clock()
        outputs = runtime.run(model, task, inputs, workdir, CancelToken())
        first = clock() - start
        start = clock()
        runtime.run(model, task, inputs, workdir, CancelToken())
        warm = clock() - start
    row = {"task": task, "model": model, "device": outputs["device"], "load_s": load, "first_s": first,
           "warm_s": warm, "peak_rss_mb": rss.peak / 2**20,
           "estimate_mb": sum(runtime.usage().values()) / 2**20,
           "warm_reloaded": runtime.loads != loads_after_load, "output": outputs["text"][:40]}
    runtime.unload_all()
    return row


def format_table(rows: list[dict]) -> str:
    header = ("task", "load s", "1st s", "warm s", "peak RSS MB", "est. MB", "warm reload", "device")
    lines = [[r["task"], f"{r['load_s']:.3f}", f"{r['first_s']:.3f}", f"{r['warm_s']:.3f}", f"{r['peak_rss_mb']:.0f}",
              f"{r['estimate_mb']:.1f}", "yes" if r["warm_reloaded"] else "no", r["device"]] for r in rows]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *lines)]
    out = ["  ".join(str(x).ljust(w) for x, w in zip(header, widths)),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(x).ljust(w) for x, w in zip(line, widths)) for line in lines]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", action="append", default=[], help="only these tasks (repeatable)")
    parser.add_argument("--installed", action="store_true",
                        help="benchmark the installed models ($JARVIS_DATA_DIR) instead of tiny random ones")
    parser.add_argument("--threads", type=int, metavar="N", help="torch threads (default: torch's own choice)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    tasks = args.task or list(INPUTS)
    unknown = [t for t in tasks if t not in INPUTS]
    if unknown:
        parser.error(f"unknown task(s): {', '.join(unknown)}")

    with tempfile.TemporaryDirectory(prefix="bench-runners-") as scratch:
        scratch = Path(scratch)
        media = {"<image>": str(sample_image(scratch / "photo.png", (320, 240))),
                 "<audio>": str(sample_audio(scratch / "clip.wav", seconds=2.0))}
        if args.installed:
            from app.settings import Settings

            store = LocalStore(Settings.load().data_path)
        else:
            tiny = TinyModels(scratch / "tiny")
            for task in tasks:
                tiny.install(task, scratch / "data")
            store = LocalStore(scratch / "data")
        runtime = ExpertRuntime(store)
        rows = []
        for task in tasks:
            candidates = runtime.candidates(task)
            if not candidates:
                print(f"skipping {task}: no model installed", file=sys.stderr)
                continue
            inputs = {slot: media.get(value, value) for slot, value in INPUTS[task].items()}
            rows.append(bench_one(runtime, candidates[0].id, task, inputs, scratch / "work"))
            print(f"done {task}", file=sys.stderr, flush=True)
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    return 0 if not any(row["warm_reloaded"] for row in rows) else 1


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main())
