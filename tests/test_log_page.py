"""The Log page hears what happens: a failed task's message arrives, an ordinary refusal is a
message without a traceback, and an action the page cannot do is disabled with the reason."""

from PySide6.QtCore import Qt

from app.settings import Settings
from app.wiring import build_app
from desktop.main_window import MainWindow
from tests.fakes import ScriptedController

PLAN = {"tasks": [{"id": 0, "task": "text-to-image", "dep": [], "args": {"text": "a red boat"}}]}


def test_a_failed_task_reaches_the_log_page_and_copy_takes_it(qtbot, tmp_path):
    window = MainWindow(Settings(data_dir=str(tmp_path / "data")),
                        app_factory=lambda s, **kw: build_app(s, controller=ScriptedController(PLAN), **kw))
    qtbot.addWidget(window)
    window.chat.composer.input.setPlainText("Draw a red boat")
    with qtbot.waitSignal(window.bridge.finished, timeout=60_000):
        qtbot.mouseClick(window.chat.composer.send_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "no installed model can do text-to-image" in window.log_view.text.toPlainText(),
                    timeout=5_000)
    window.log_view.copy()
    from PySide6.QtGui import QGuiApplication
    assert "text-to-image" in QGuiApplication.clipboard().text()


def test_a_packaged_default_cannot_be_deleted_and_a_refusal_has_no_traceback(qtbot, tmp_path):
    window = MainWindow(Settings(data_dir=str(tmp_path / "data")),
                        app_factory=lambda s, **kw: build_app(s, controller=ScriptedController(), **kw))
    qtbot.addWidget(window)
    page = window.models_page
    qtbot.waitUntil(lambda: page.installed.rowCount() >= 2, timeout=10_000)
    page.installed.selectRow(0)
    assert page.selected_record().source == "package"
    assert not page.buttons["Delete..."].isEnabled() and "package" in page.buttons["Delete..."].toolTip()
    page.delete_selected(confirm=False)  # asked anyway (a script, a keyboard shortcut): refused in words
    qtbot.waitUntil(lambda: page.status.text() != "", timeout=10_000)
    log = window.log_view.text.toPlainText()
    assert "Traceback" not in log
