"""The window's frame: menus with the shortcuts, Stop's immediate feedback, and the window's
geometry, splitter and open conversation restored on the next start."""

import time

from PySide6.QtCore import Qt

from app.settings import Settings
from app.wiring import build_app
from desktop.main_window import MainWindow
from tests.fakes import ScriptedController


def window_for(qtbot, tmp_path, controller=None):
    controller = controller or ScriptedController()
    window = MainWindow(Settings(data_dir=str(tmp_path / "data")),
                        app_factory=lambda s, **kw: build_app(s, controller=controller, **kw))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    return window


def test_menus_hold_every_shortcut_and_ctrl_q_quits(qtbot, tmp_path):
    window = window_for(qtbot, tmp_path)
    titles = [action.text() for action in window.menuBar().actions()]
    assert titles == ["&File", "&View", "&Models", "&Help"]
    shortcuts = {a.text(): a.shortcut().toString() for menu in window.menuBar().actions()
                 for a in menu.menu().actions() if not a.isSeparator()}
    assert shortcuts["Quit"] == "Ctrl+Q" and shortcuts["New chat"] == "Ctrl+N"
    assert [shortcuts[name] for name in ("Chat", "Models", "Settings", "Log")] == ["Ctrl+1", "Ctrl+2", "Ctrl+3",
                                                                                   "Ctrl+4"]
    actions = {a.text(): a for menu in window.menuBar().actions() for a in menu.menu().actions()}
    actions["Settings"].trigger()
    assert window.pages.currentIndex() == window.page_index["Settings"]
    actions["Quit"].trigger()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)


def test_geometry_splitter_and_open_conversation_come_back(qtbot, tmp_path):
    plan = {"tasks": [{"id": 0, "task": "sentence-similarity", "dep": [], "args": {"text": "a", "text2": "b"}}]}
    window = window_for(qtbot, tmp_path, ScriptedController(plan, "ok."))
    window.resize(760, 560)  # inside the offscreen screen (800x600), where restoreGeometry keeps it
    window.splitter.setSizes([220, 540])
    window.chat.composer.input.setPlainText("How similar are 'a' and 'b'?")
    with qtbot.waitSignal(window.bridge.finished, timeout=60_000):
        qtbot.mouseClick(window.chat.composer.send_button, Qt.MouseButton.LeftButton)
    opened = window.chat.conversation.id
    window.chat.open_conversation(None)
    window.chat.open_conversation(opened)
    sizes, size = window.splitter.sizes(), (window.width(), window.height())
    assert size != (1280, 800)  # not the default
    window.close()

    again = window_for(qtbot, tmp_path)
    assert (again.width(), again.height()) == size
    assert again.splitter.sizes() == sizes
    assert again.chat.conversation is not None and again.chat.conversation.id == opened
    assert again.chat.chat.turns and again.chat.chat.turns[0].record.request == "How similar are 'a' and 'b'?"


def test_stop_says_stopping_at_once_and_a_real_plan_stops_at_once(qtbot, tmp_path, real_controller):
    window = window_for(qtbot, tmp_path, real_controller)
    qtbot.waitUntil(window.bridge.warm.is_set, timeout=120_000)  # as a person who types for a few seconds
    window.chat.composer.input.setPlainText("Describe photo.jpg, then read the description aloud and translate it.")
    qtbot.mouseClick(window.chat.composer.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.chat.live_turn is not None
                    and window.chat.live_turn.status.text().startswith("Planning"), timeout=10_000)
    time.sleep(0.5)  # the controller is decoding the plan now
    with qtbot.waitSignal(window.bridge.finished, timeout=10_000) as finished:
        clicked = time.perf_counter()
        qtbot.mouseClick(window.chat.composer.send_button, Qt.MouseButton.LeftButton)
        assert window.chat.composer.send_button.text() == "Stopping..."
    stopped_after = time.perf_counter() - clicked
    assert finished.args[0].status == "cancelled"
    # The 0.5 s target is measured by `main.py bench` (stop_planning_s) on a quiet machine; here,
    # beside other tests on two cores, it only has to be far below the plan's own seconds.
    assert stopped_after < 3, f"Stop took {stopped_after:.2f} s"
    # The bridge says "not busy" just after "finished": the button comes back then.
    button = window.chat.composer.send_button
    qtbot.waitUntil(lambda: button.text() == "Send", timeout=5_000)
    assert button.isEnabled()
