"""The window, driven as a person would: type, send, watch the graph, stop, reopen, export."""

import subprocess
import sys
import threading

import pytest
from PySide6.QtCore import Qt

from app.settings import Settings
from app.wiring import build_app
from desktop.main_window import MainWindow
from tests.fakes import FakeExperts, ScriptedController

SIMILARITY = "How similar are 'A cat sits on the mat.' and 'A kitten rests on the rug.'?"


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=str(tmp_path / "data"))


def open_window(qtbot, settings, factory):
    window = MainWindow(settings, app_factory=factory)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def send(qtbot, window, text):
    window.chat.composer.input.setPlainText(text)
    with qtbot.waitSignal(window.bridge.finished, timeout=120_000) as finished:
        qtbot.mouseClick(window.chat.composer.send_button, Qt.MouseButton.LeftButton)
    return finished.args[0]


def test_a_real_request_streams_into_the_chat_and_graph_and_survives_a_restart(qtbot, settings, real_controller):
    factory = lambda s, **kw: build_app(s, controller=real_controller, **kw)
    window = open_window(qtbot, settings, factory)
    turn = send(qtbot, window, SIMILARITY)
    assert turn.status == "done", turn.error
    widget = window.chat.chat.turns[-1]
    assert widget.answer.text() == turn.answer and turn.answer
    node = window.chat.graph.nodes[0]
    assert node.status == "done" and node.model == "sentence-transformers/all-MiniLM-L6-v2"
    window.chat.show_task(0)
    assert "similarity score" in window.chat.node_details.toPlainText()
    widget.toggle.click()
    assert "sentence-similarity" in widget.details.toPlainText()
    assert window.conversations.list.count() == 1
    window.close()

    reopened = open_window(qtbot, settings, factory)
    assert reopened.conversations.list.count() == 1
    reopened.conversations.list.setCurrentRow(0)
    assert [t.answer.text() for t in reopened.chat.chat.turns] == [turn.answer]
    assert reopened.chat.graph.nodes[0].status == "done"


class BlockingController(ScriptedController):
    """Plans at once, then blocks in the answer until cancelled, like a long generation."""

    def __init__(self, *replies):
        super().__init__(*replies)
        self.answering = threading.Event()

    def chat(self, messages, *, schema=None, cancel=None, **kwargs):
        if schema is None and cancel is not None:
            self.answering.set()
            stopped = threading.Event()
            cancel.on_cancel(stopped.set)
            stopped.wait(30)
        return super().chat(messages, schema=schema, cancel=cancel, **kwargs)


def fake_factory(controller, **functions):
    def factory(settings, **wiring):
        app = build_app(settings, controller=controller, **wiring)
        app.engine.experts = app.engine.selector.experts = FakeExperts(**functions)
        return app
    return factory


def test_stop_cancels_at_once_and_the_window_stays_usable(qtbot, settings):
    plan = {"tasks": [{"id": 0, "task": "sentence-similarity", "dep": [], "args": {"text": "a", "text2": "b"}}]}
    controller = BlockingController(plan)
    window = open_window(qtbot, settings, fake_factory(controller, sentence_similarity=lambda i, c: {"text": "0.5"}))
    window.chat.composer.input.setPlainText("compare 'a' and 'b'")
    qtbot.mouseClick(window.chat.composer.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(controller.answering.is_set, timeout=10_000)
    assert window.chat.composer.send_button.text() == "Stop"
    with qtbot.waitSignal(window.bridge.finished, timeout=5_000) as finished:
        qtbot.mouseClick(window.chat.composer.send_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].status == "cancelled"
    qtbot.waitUntil(lambda: window.chat.composer.send_button.text() == "Send", timeout=5_000)
    assert "Cancelled" in window.chat.chat.turns[-1].status.text()


def test_failed_task_and_attachment_show_in_plain_words(qtbot, settings, tmp_path):
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (24, 16), "red").save(photo)
    plan = {"tasks": [{"id": 0, "task": "image-classification", "dep": [], "args": {"image": "photo.png"}},
                      {"id": 1, "task": "text-to-speech", "dep": [0], "args": {"text": "<GENERATED>-0"}}]}

    def broken(inputs, cancel):
        raise RuntimeError("the model file is corrupt")

    window = open_window(qtbot, settings, fake_factory(ScriptedController(plan, "It failed."),
                                                       image_classification=broken))
    window.chat.composer.attach(photo)
    assert window.chat.composer.attachments == [photo]
    turn = send(qtbot, window, "what is in photo.png? say it aloud")
    assert [r.status for r in turn.results] == ["failed", "skipped"]
    widget = window.chat.chat.turns[-1]
    assert "did not complete" in widget.status.text()
    assert window.chat.graph.nodes[0].status == "failed" and window.chat.graph.nodes[1].status == "skipped"
    assert window.chat.composer.attachments == []


def test_a_turn_the_app_did_not_finish_offers_retry_and_retry_sends_it_again(qtbot, settings):
    from core.history.store import ConversationStore
    from core.turn import Turn

    store = ConversationStore(settings.data_path)
    conversation = store.create(title="compare")
    store.add_turn(conversation.id, Turn(request="compare 'a' and 'b'"))  # left running, as by a killed app
    store.close()
    plan = {"tasks": [{"id": 0, "task": "sentence-similarity", "dep": [], "args": {"text": "a", "text2": "b"}}]}
    window = open_window(qtbot, settings, fake_factory(ScriptedController(plan, "Similar: 0.9."),
                                                       sentence_similarity=lambda i, c: {"text": "0.9"}))
    assert "Retry" in window.statusBar().currentMessage()
    window.conversations.list.setCurrentRow(0)
    [widget] = window.chat.chat.turns
    assert "Interrupted" in widget.status.text() and not widget.retry_button.isHidden()
    with qtbot.waitSignal(window.bridge.finished, timeout=60_000) as finished:
        qtbot.mouseClick(widget.retry_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].status == "done" and finished.args[0].request == "compare 'a' and 'b'"
    assert window.chat.chat.turns[-1].retry_button.isHidden()  # a finished turn has nothing to retry
    assert [t.status for t in window.chat.store.open(conversation.id).turns] == ["interrupted", "done"]


def test_switching_conversations_hides_the_old_turns_at_once(qtbot):
    """Before the event loop runs again (a context menu's nested loop does not delete them)."""
    from core.turn import Turn
    from desktop.chat_view import ChatView, TurnWidget

    view = ChatView()
    qtbot.addWidget(view)
    view.show()
    view.load([Turn(request="first", status="done"), Turn(request="second", status="done")])
    qtbot.waitUntil(lambda: all(w.isVisible() for w in view.turns))
    view.load([Turn(request="other", status="done")])
    old = [w for w in view.widget().findChildren(TurnWidget) if w not in view.turns]
    assert len(old) == 2 and all(w.isHidden() for w in old)
    qtbot.waitUntil(lambda: view.turns[0].isVisible())


def test_conversations_rename_search_export_delete(qtbot, settings, tmp_path):
    plan = {"tasks": [{"id": 0, "task": "sentence-similarity", "dep": [], "args": {"text": "a", "text2": "b"}}]}
    window = open_window(qtbot, settings, fake_factory(ScriptedController(plan, "Similar: 0.9."),
                                                       sentence_similarity=lambda i, c: {"text": "0.9"}))
    send(qtbot, window, "compare 'a' and 'b'")
    conversation_id = window.conversations.current_id()
    window.conversations.rename(conversation_id, "Letters")
    assert window.conversations.list.item(0).text().startswith("Letters")
    window.conversations.search.setText("nothing like this")
    assert window.conversations.list.count() == 0
    window.conversations.search.setText("compare")
    assert window.conversations.list.count() == 1
    html_path = window.conversations.export(conversation_id, "html", str(tmp_path / "out.html"))
    assert "Similar: 0.9." in open(html_path, encoding="utf-8").read()
    md_path = window.conversations.export(conversation_id, "md", str(tmp_path / "out.md"))
    assert "**You:** compare 'a' and 'b'" in open(md_path, encoding="utf-8").read()
    window.conversations.delete(conversation_id, confirm=False)
    assert window.conversations.list.count() == 0 and window.chat.chat.turns == []


def test_settings_are_saved_and_a_bad_controller_is_refused_or_explained(qtbot, settings, tmp_path):
    window = open_window(qtbot, settings, build_app)
    window.show_page("Settings")
    window.settings_page.controller_path.setText(str(tmp_path / "missing.gguf"))
    assert not window.settings_page.save_button.isEnabled()  # the page will not save it
    window.settings_page.controller_path.setText("")
    window.settings_page.n_ctx.setValue(2048)
    window.settings_page.save_button.click()
    assert Settings.load().n_ctx == 2048

    # A controller that went missing after it was saved (a file deleted, a hand-edited
    # settings.json): the window opens, explains, and keeps the chat readable.
    broken = open_window(qtbot, Settings(data_dir=settings.data_dir, controller_path=str(tmp_path / "gone.gguf")),
                         build_app)
    assert broken.bridge is None
    assert "controller model not found" in broken.chat.banner.text()
    assert not broken.chat.composer.isEnabled()


def test_desktop_start_up_path_imports_no_heavy_library():
    code = ("import sys, desktop.app, desktop.main_window, main; "
            "print(sorted(m for m in ('torch', 'transformers', 'diffusers', 'llama_cpp') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_audio_plays_inline_to_the_end(qtbot, tmp_path):
    import numpy as np
    import soundfile
    from PySide6.QtMultimedia import QMediaPlayer

    from desktop.media import AudioPlayer

    path = tmp_path / "tone.wav"
    soundfile.write(path, (0.2 * np.sin(np.linspace(0, 440 * 2 * np.pi * 0.3, 4800))).astype("float32"), 16000)
    player = AudioPlayer(str(path))
    qtbot.addWidget(player)
    assert player.player is not None, "QtMultimedia is missing: audio would not play inline"
    with qtbot.waitSignal(player.player.mediaStatusChanged, timeout=10_000,
                          check_params_cb=lambda status: status == QMediaPlayer.MediaStatus.EndOfMedia):
        player.button.click()


def test_a_task_node_shows_the_words_of_the_request_it_serves(qtbot):
    from desktop.graph_view import TaskGraphView

    view = TaskGraphView()
    qtbot.addWidget(view)
    view.show_plan([{"step": "read the caption aloud", "id": 0, "task": "text-to-speech", "dep": [],
                     "args": {"text": "hello"}},
                    {"id": 1, "task": "summarization", "dep": [0], "args": {"text": "<GENERATED>-0"}}])
    assert view.nodes[0].toolTip() == "task 0: text-to-speech\nread the caption aloud"
    assert view.nodes[1].toolTip() == "task 1: summarization"


def test_a_running_task_shows_its_reported_progress_and_ends_done(qtbot):
    from core.events import TaskDone, TaskProgress, TaskStarted
    from desktop.graph_view import TaskGraphView

    view = TaskGraphView()
    qtbot.addWidget(view)
    view.show_plan([{"id": 0, "task": "text-to-image", "dep": [], "args": {"text": "a red car"}}])
    view.apply(TaskStarted(task_id=0, task="text-to-image", model="tiny"))
    view.apply(TaskProgress(task_id=0, fraction=0.35, message="step 7/20"))
    node = view.nodes[0]
    assert (node.status, node.detail, node.progress) == ("running", "step 7/20", 0.35)
    view.apply(TaskDone(task_id=0, result={"seconds": 1.5, "outputs": {}}))
    assert (node.status, node.progress) == ("done", None)
    view.apply(TaskProgress(task_id=0, fraction=0.4, message="step 8/20"))  # late: ignored
    assert (node.status, node.progress) == ("done", None)


@pytest.mark.parametrize("stage", ["planning", "response"])
def test_stop_ends_a_real_turn_within_half_a_second_in_planning_and_in_the_answer(qtbot, settings, real_controller,
                                                                                   stage):
    """The real controller in a fresh window, mid-stage: Stop pressed 0.2 s (answer: 0.05 s) after
    the stage starts ends the turn, cancelled, in under 0.5 s: the abort flag reaches llama.cpp
    inside its batch, and a turn waiting for the demo embedder's first load (the window's warm-up
    may hold it) stops waiting."""
    import time

    from core.events import StageStarted

    factory = lambda s, **kw: build_app(s, controller=real_controller, **kw)  # noqa: E731
    window = open_window(qtbot, settings, factory)
    started = []
    window.bridge.event.connect(lambda e: started.append(time.perf_counter())
                                if isinstance(e, StageStarted) and e.stage == stage else None)
    window.chat.composer.input.setPlainText("Describe photo.jpg, then read the description aloud and translate it."
                                            if stage == "planning" else SIMILARITY)
    qtbot.mouseClick(window.chat.composer.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: bool(started), timeout=120_000)
    # Mid-stage: a warm controller (earlier tests share it) can write this short answer in a few
    # tenths of a second, so Stop comes sooner there.
    qtbot.wait(200 if stage == "planning" else 50)
    with qtbot.waitSignal(window.bridge.finished, timeout=5_000) as finished:
        pressed = time.perf_counter()
        qtbot.mouseClick(window.chat.composer.send_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].status == "cancelled"
    assert time.perf_counter() - pressed < 0.5
    window.close()
