"""Window start-up and idle memory, side by side: the app as it starts (heavy libraries imported
only when a model first runs) against the same window in a process that imports torch and
transformers first.

    .venv/bin/python benchmarks/bench_window.py              # 3 fresh processes per row, medians
    .venv/bin/python benchmarks/bench_window.py --runs 5 --json
    .venv/bin/python benchmarks/bench_window.py --controller # also let the window load the GGUF

Each run is a fresh `python -c` child (the approach of `app.bench.measure_startup`), offscreen, in
throw-away config and data folders. Per row, medians of:
  * shown, in child: from the child's first line of code to the main window exposed and its first
    events processed (QApplication + MainWindow + show);
  * shown, launch: wall time seen by the parent from spawning the process to reading the child's
    'shown' line (interpreter start included);
  * idle RSS: the child's resident memory after the event loop has run idle for one second.
By default the window gets a stand-in controller, so it does not load the controller GGUF in the
background and the rows differ only by the eager torch/transformers import; `--controller` uses
the window's own wiring (the default GGUF loads in the background during the idle second).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IDLE_S = 1.0

CHILD = """
import time; t0 = time.perf_counter()
import main; main.enforce_offline_env()
if {heavy}:
    import torch, transformers
    transformers.AutoModel  # the package is lazy: touch a class so its modules really load
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
app = QApplication([])
from desktop.main_window import MainWindow
factory = None
if not {controller}:
    from app.wiring import build_app
    class Idle:
        name = 'bench stand-in'
        def chat(self, messages, **kwargs):
            raise RuntimeError('not used')
    factory = lambda settings, **wiring: build_app(settings, controller=Idle(), **wiring)
window = MainWindow(app_factory=factory)
window.show()
while window.windowHandle() is None or not window.windowHandle().isExposed():
    app.processEvents()
app.processEvents()
print('shown', time.perf_counter() - t0, flush=True)
QTimer.singleShot(int({idle} * 1000), app.quit)
app.exec()
import psutil
print('rss', psutil.Process().memory_info().rss,
      int(any(m in __import__('sys').modules for m in ('torch', 'transformers'))), flush=True)
"""

ROWS = (("window (as the app starts)", False), ("window after import torch, transformers", True))


def run_child(heavy: bool, controller: bool, env: dict) -> dict:
    code = CHILD.format(heavy=heavy, controller=controller, idle=IDLE_S)
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    figures: dict = {}
    try:
        for line in child.stdout:
            words = line.split()
            if words[:1] == ["shown"]:
                figures["launch_to_shown_s"] = time.perf_counter() - start
                figures["shown_in_child_s"] = float(words[1])
            elif words[:1] == ["rss"]:
                figures["idle_rss_mb"] = int(words[1]) / 2**20
                figures["heavy_loaded"] = words[2] == "1"
        error = child.stderr.read()
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    if child.returncode != 0 or len(figures) != 4:
        raise RuntimeError(f"window child failed (exit {child.returncode}): {error[-2000:]}")
    return figures


def measure(runs: int, controller: bool = False) -> dict:
    results = {}
    with tempfile.TemporaryDirectory(prefix="jarvis-bench-window-") as temp:
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "JARVIS_CONFIG_DIR": str(Path(temp) / "config"),
               "JARVIS_DATA_DIR": str(Path(temp) / "data")}
        samples: dict[str, list[dict]] = {name: [] for name, _ in ROWS}
        for _ in range(runs):  # interleaved, so a busy moment on the machine hits both rows alike
            for name, heavy in ROWS:
                samples[name].append(run_child(heavy, controller, env))
    for name, heavy in ROWS:
        runs_of_row = samples[name]
        row = {key: statistics.median(r[key] for r in runs_of_row)
               for key in ("shown_in_child_s", "launch_to_shown_s", "idle_rss_mb")}
        row["heavy_loaded"] = all(r["heavy_loaded"] for r in runs_of_row) if heavy else \
            any(r["heavy_loaded"] for r in runs_of_row)
        row["samples"] = runs_of_row
        results[name] = row
    light, heavy = (results[name] for name, _ in ROWS)
    return {"runs": runs, "controller": controller, "rows": results,
            "ratio": {key: heavy[key] / max(light[key], 1e-9)
                      for key in ("shown_in_child_s", "launch_to_shown_s", "idle_rss_mb")}}


def format_table(figures: dict) -> str:
    headers = ("", "shown, in child", "shown, launch", "idle RSS", "torch loaded")
    lines = []
    for name, row in figures["rows"].items():
        lines.append((name, f"{row['shown_in_child_s']:.2f} s", f"{row['launch_to_shown_s']:.2f} s",
                      f"{row['idle_rss_mb']:.0f} MB",
                      "yes" if row["heavy_loaded"] else "no"))
    ratio = figures["ratio"]
    lines.append(("ratio (torch first / as the app starts)", f"{ratio['shown_in_child_s']:.1f}x",
                  f"{ratio['launch_to_shown_s']:.1f}x", f"{ratio['idle_rss_mb']:.1f}x", ""))
    widths = [max(len(str(row[i])) for row in (headers, *lines)) for i in range(len(headers))]
    out = []
    for row in (headers, *lines):
        out.append("  ".join(str(cell).ljust(widths[0]) if i == 0 else str(cell).rjust(widths[i])
                             for i, cell in enumerate(row)).rstrip())
    out.insert(1, "-" * len(out[0]))
    out.append(f"medians of {figures['runs']} fresh processes per row; "
               f"{'the window loads its controller' if figures['controller'] else 'stand-in controller'}; "
               f"idle = {IDLE_S:.0f} s of event loop after the window is shown")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per row (median)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--controller", action="store_true",
                        help="let the window load its controller GGUF in the background, as it does for a user")
    args = parser.parse_args(argv)
    figures = measure(max(1, args.runs), args.controller)
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        print(format_table(figures))
    return figures


if __name__ == "__main__":
    main()
