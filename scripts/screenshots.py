"""Screenshots of the window from real runs, offscreen, at 1280x800 and 900x600.

    .venv/bin/python scripts/screenshots.py              # into docs/screenshots
    .venv/bin/python scripts/screenshots.py --out /tmp/shots

Everything runs in throw-away config and data folders (JARVIS_CONFIG_DIR / JARVIS_DATA_DIR are
pointed at a temporary folder before the app is imported), so the user's settings, conversations
and models are never read or written. The requests run for real: the default controller (the
SmolLM2 GGUF set-up installs) plans and answers, the installed MiniLM and the built-in Canny
detector do the work. Two inputs are the script's own: the edge-detection turn's picture is
drawn by the script, and the edge and failed turns are given their plans (as `ask --plan`
does), so the pictures do not depend on what a 135M controller plans for them.

Views: welcome (the first start: this machine, what is installed, the recommended set, examples),
chat (a similarity request, planned and answered by the controller), graph (an edge map
made by builtin/canny, with its task graph), install (a turn that failed for want of a model,
with its Install button), models (the model manager) and settings.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SIZES = {"": (1280, 800), "-900": (900, 600)}
NAMES = ("welcome", "chat", "graph", "install", "models", "settings")
SIMILARITY = "How similar are 'A cat sits on the mat.' and 'A kitten rests on the rug.'?"
CANNY_PLAN = [{"id": 0, "task": "canny-control", "dep": [], "args": {"image": "shapes.png"}}]
DRAW_PLAN = [{"id": 0, "task": "text-to-image", "dep": [], "args": {"text": "a red boat at sunset"}}]


def _shapes(path: Path) -> None:
    """The edge-detection turn's input: a few filled shapes (drawn here, said so in the README)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (320, 224), (235, 235, 225))
    draw = ImageDraw.Draw(image)
    draw.rectangle((30, 110, 140, 200), fill=(196, 78, 62))
    draw.polygon([(20, 112), (85, 50), (150, 112)], fill=(120, 50, 40))
    draw.ellipse((200, 30, 280, 110), fill=(250, 200, 60))
    draw.rectangle((180, 150, 300, 200), fill=(60, 110, 170))
    image.save(path)


def _settle(app, seconds: float = 0.3) -> None:
    from PySide6.QtCore import QEvent

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        app.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)  # deleteLater, as the event loop would
        time.sleep(0.01)


def _wait(app, condition, timeout: float = 15.0) -> None:
    end = time.monotonic() + timeout
    while not condition() and time.monotonic() < end:
        app.processEvents()
        time.sleep(0.02)


def _run(app, window, text: str, files=(), plan=None, timeout: float = 300.0):
    """Send a request as the composer does and wait for the turn."""
    finished = []
    window.bridge.finished.connect(finished.append)
    window.chat.send(text, list(files), plan=plan)
    _wait(app, lambda: bool(finished), timeout)
    window.bridge.finished.disconnect(finished.append)
    if not finished:
        raise RuntimeError(f"the request did not finish: {text}")
    return finished[0]


def render(out: Path) -> list[Path]:
    """Run the requests and render every view at each size into `out`; the caller has isolated
    the config and data folders."""
    from PySide6.QtWidgets import QApplication

    from app.settings import Settings
    from desktop.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    app.setApplicationName("Jarvis Desktop")
    window = MainWindow(Settings.load())  # the real app: default controller, installed models
    window.resize(*SIZES[""])
    window.show()
    _wait(app, lambda: window.windowHandle() is not None and window.windowHandle().isExposed())
    if window.bridge is None:
        raise RuntimeError("the controller could not start; run the set-up script first")
    _wait(app, window.bridge.warm.is_set, 180)
    out.mkdir(parents=True, exist_ok=True)
    paths = []

    def shoot(name: str) -> None:
        for suffix, size in SIZES.items():
            window.resize(*size)
            _settle(app)
            path = out / f"{name}{suffix}.png"
            if not window.grab().save(str(path)):
                raise RuntimeError(f"could not write {path}")
            paths.append(path)
        window.resize(*SIZES[""])

    try:
        turns = {}
        window.show_page("Chat")
        _wait(app, lambda: window.chat.welcome.facts is not None and window.chat.welcome.facts.machine.gpus_known, 60)
        shoot("welcome")
        turns["chat"] = _run(app, window, SIMILARITY)
        window.chat.show_task(0)
        shoot("chat")

        picture = Path(os.environ["JARVIS_DATA_DIR"]) / "shapes.png"
        _shapes(picture)
        window.conversations.new_chat()
        turns["graph"] = _run(app, window, "Find the edges in shapes.png", [picture], plan=CANNY_PLAN)
        window.chat.graph.nodes[0].setSelected(True)
        window.chat.show_task(0)
        shoot("graph")

        window.conversations.new_chat()
        turns["install"] = _run(app, window, "Draw a red boat at sunset", plan=DRAW_PLAN)
        shoot("install")

        window.show_page("Models")
        _wait(app, lambda: not window.models_page.total.text().startswith("Scanning"))
        shoot("models")

        window.show_page("Settings")
        shoot("settings")
    finally:
        window.close()
        window.deleteLater()
        _settle(app, 0.05)
    for name, turn in turns.items():
        expected = "failed" if name == "install" else "done"
        if turn.status != expected:
            raise RuntimeError(f"the {name} request ended {turn.status}, not {expected}: {turn.error}")
    return paths


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"), help="folder for the PNG files")
    args = parser.parse_args(argv)
    out = Path(args.out).resolve()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from core.offline.switches import enforce_offline_env

    enforce_offline_env()
    saved = {key: os.environ.get(key) for key in ("JARVIS_CONFIG_DIR", "JARVIS_DATA_DIR")}
    with tempfile.TemporaryDirectory(prefix="jarvis-screenshots-") as temp:
        os.environ["JARVIS_CONFIG_DIR"] = str(Path(temp) / "config")
        os.environ["JARVIS_DATA_DIR"] = str(Path(temp) / "data")
        try:
            paths = render(out)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    for path in paths:
        print(f"{path}  {path.stat().st_size // 1024} KB")
    return paths


if __name__ == "__main__":
    main()
