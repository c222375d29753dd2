"""Screenshots of the main views, rendered offscreen with the real MainWindow.

    .venv/bin/python scripts/screenshots.py              # into docs/screenshots
    .venv/bin/python scripts/screenshots.py --out /tmp/shots

Everything runs in throw-away config and data folders (JARVIS_CONFIG_DIR / JARVIS_DATA_DIR are
pointed at a temporary folder before the app is imported), so the user's settings, conversations
and models are never read or written. The controller is a stand-in that is never asked anything:
the pictures show saved and replayed state, so no model has to load.

Views: chat.png (a finished turn with a generated image), graph.png (a live plan of three tasks:
done, running, failed), models.png (the model manager) and settings.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WINDOW_SIZE = (1200, 800)
NAMES = ("chat", "graph", "models", "settings")


class _IdleController:
    """Stands in for the GGUF controller: nothing is planned while the screenshots are taken."""

    name = "screenshot stand-in"

    def chat(self, messages, **kwargs):
        from core.llm.controller import ControllerError

        raise ControllerError("the screenshot script does not run requests")


def _picture(path: Path) -> None:
    """A small 'generated' image: a colour gradient with a box and a sun."""
    from PIL import Image, ImageDraw

    width, height = 320, 224
    image = Image.new("RGB", (width, height))
    pixels = image.load()
    for y in range(height):
        for x in range(width):
            pixels[x, y] = (40 + 120 * x // width, 90 + 100 * y // height, 200 - 80 * y // height)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 170, width, height), fill=(70, 140, 80))
    draw.rectangle((110, 100, 210, 175), fill=(196, 78, 62), outline=(60, 30, 20), width=3)
    draw.polygon([(100, 102), (160, 60), (220, 102)], fill=(120, 50, 40))
    draw.ellipse((240, 20, 290, 70), fill=(255, 214, 90))
    image.save(path)


def _chat_conversation(store) -> str:
    """A saved conversation whose one turn produced an image, as the engine records it."""
    request = "Draw a small red house under a blue sky, then describe the picture in one sentence."
    conversation = store.create(title=request[:60])
    turn_dir = conversation.new_turn_dir()
    image = turn_dir / "text-to-image-0.png"
    _picture(image)
    caption = "a small red house with a dark roof on a green lawn under a blue sky"
    plan = [{"id": 0, "task": "text-to-image", "dep": [], "args": {"text": "a small red house under a blue sky"}},
            {"id": 1, "task": "image-to-text", "dep": [0], "args": {"image": "<GENERATED>-0"}}]
    record = {
        "request": request, "files": {}, "attachments": [], "plan": plan, "repairs": [],
        "selections": [
            {"id": 0, "task": "text-to-image", "model": "hf-internal-testing/tiny-stable-diffusion-pipe",
             "reason": "the only installed text-to-image model", "candidates": []},
            {"id": 1, "task": "image-to-text", "model": "nlpconnect/vit-gpt2-image-captioning",
             "reason": "the only installed image-to-text model", "candidates": []}],
        "results": [
            {"id": 0, "task": "text-to-image", "model": "hf-internal-testing/tiny-stable-diffusion-pipe",
             "status": "done", "inputs": {"text": "a small red house under a blue sky"},
             "outputs": {"image": str(image)}, "error": "", "seconds": 2.41},
            {"id": 1, "task": "image-to-text", "model": "nlpconnect/vit-gpt2-image-captioning",
             "status": "done", "inputs": {"image": str(image)}, "outputs": {"text": caption}, "error": "",
             "seconds": 0.62}],
        "answer": f"Here is the picture I generated. The captioning model describes it as \"{caption}\".",
        "status": "done", "error": "",
        "timings": {"planning": 1.8, "selection": 0.01, "execution": 3.05, "response": 1.2},
    }
    from core.turn import Turn

    store.add_turn(conversation.id, Turn.from_dict(record))
    return conversation.id


def _live_graph(window) -> None:
    """A request in flight: three tasks, one done, one running, one failed, fed as engine events."""
    from core.events import ModelChosen, PlanReady, StageStarted, TaskDone, TaskFailed, TaskProgress, TaskStarted

    page = window.chat
    window.conversations.new_chat()  # as the "New chat" button does
    page.composer.set_busy(True)  # what the engine bridge signals while a turn runs
    request = "Describe photo.jpg, translate the description to German, and answer: how many people are there?"
    page.live_turn = page.chat.add_turn(request, [])
    plan = [{"id": 0, "task": "image-to-text", "dep": [], "args": {"image": "photo.jpg"}},
            {"id": 1, "task": "translation", "dep": [0], "args": {"text": "<GENERATED>-0", "language": "German"}},
            {"id": 2, "task": "visual-question-answering", "dep": [],
             "args": {"image": "photo.jpg", "text": "How many people are there?"}}]
    models = {0: "nlpconnect/vit-gpt2-image-captioning", 1: "Helsinki-NLP/opus-mt-en-de",
              2: "dandelin/vilt-b32-finetuned-vqa"}
    done = {"id": 0, "task": "image-to-text", "model": models[0], "status": "done",
            "inputs": {"image": "photo.jpg"}, "outputs": {"text": "two people walking a dog on a beach"},
            "error": "", "seconds": 0.84}
    events = [StageStarted(stage="planning"), PlanReady(plan=plan), StageStarted(stage="selection")]
    events += [ModelChosen(task_id=i, task=t["task"], model=models[i], reason="installed") for i, t in enumerate(plan)]
    events += [StageStarted(stage="execution"),
               TaskStarted(task_id=0, task="image-to-text", model=models[0]),
               TaskStarted(task_id=2, task="visual-question-answering", model=models[2]),
               TaskDone(task_id=0, result=done),
               TaskFailed(task_id=2, error="not enough memory to load dandelin/vilt-b32-finetuned-vqa"),
               TaskStarted(task_id=1, task="translation", model=models[1]),
               TaskProgress(task_id=1, fraction=0.45, message="translating")]
    for event in events:
        page._on_event(event)  # the slot the engine bridge delivers events to on the GUI thread
    page.live_turn.toggle.setChecked(True)
    page.graph.nodes[0].setSelected(True)
    page.show_task(0)


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


def render(out: Path) -> list[Path]:
    """Render the four views into `out`; the caller has isolated the config and data folders."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QApplication, QSplitter

    from app.settings import Settings
    from app.wiring import build_app
    from desktop.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    app.setApplicationName("Jarvis Desktop")
    settings = Settings.load()
    window = MainWindow(settings, app_factory=lambda s, **kw: build_app(s, controller=_IdleController(), **kw))
    window.resize(*WINDOW_SIZE)
    window.show()
    _wait(app, lambda: window.windowHandle() is not None and window.windowHandle().isExposed())
    out.mkdir(parents=True, exist_ok=True)
    paths = []

    def shoot(name: str) -> None:
        _settle(app)
        path = out / f"{name}.png"
        if not window.grab().save(str(path)):
            raise RuntimeError(f"could not write {path}")
        paths.append(path)

    try:
        conversation_id = _chat_conversation(window.store)
        window.conversations.select(conversation_id)  # highlights it without re-emitting
        window.chat.open_conversation(conversation_id)
        window.show_page("Chat")
        _wait(app, lambda: bool(window.chat.chat.turns))
        # Drag the divider as a user would, so both columns of a plan are in view.
        splitter = window.chat.findChild(QSplitter, options=Qt.FindChildOption.FindDirectChildrenOnly)
        splitter.setSizes([470, 500])
        window.chat.show_task(0)
        shoot("chat")

        _live_graph(window)
        shoot("graph")

        window.show_page("Models")
        _wait(app, lambda: not window.models_page.total.text().startswith("Scanning"))
        shoot("models")

        window.show_page("Settings")
        # The note names the settings file; show the usual location rather than the temporary one.
        window.settings_page.note.setText("Saved in ~/.config/jarvis-desktop/settings.json. "
                                          "Controller changes apply to the next request.")
        shoot("settings")
    finally:
        window.close()
        window.deleteLater()
        _settle(app, 0.05)
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
