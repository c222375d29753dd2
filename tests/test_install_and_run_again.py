"""A turn that failed for lack of a model offers the catalogue's model; Install downloads it from
a local hub on 127.0.0.1 through the model manager, and Run again runs the same plan with it."""

from PySide6.QtCore import Qt

from app.settings import Settings
from app.wiring import build_app
from desktop.main_window import MainWindow
from models.catalogue import load_catalogue
from tests.fakes import ScriptedController
from tests.hub_server import HubServer, tiny_bert_files

PLAN = {"tasks": [{"id": 0, "task": "text-classification", "dep": [], "args": {"text": "I love this film."}}]}


def test_install_from_the_turn_then_run_again_without_planning(qtbot, tmp_path, monkeypatch):
    recommended = load_catalogue().experts_for("text-classification")[0].id
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    controller = ScriptedController(PLAN, "The film review was classified.", "The film review was classified.")
    with HubServer() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        hub.add_repo(recommended, tiny_bert_files(), pipeline_tag="text-classification")
        settings = Settings(data_dir=str(tmp_path / "data"), allow_downloads=True)
        window = MainWindow(settings, app_factory=lambda s, **kw: build_app(s, controller=controller, **kw))
        qtbot.addWidget(window)
        window.show()

        window.chat.composer.input.setPlainText("Is 'I love this film.' positive?")
        with qtbot.waitSignal(window.bridge.finished, timeout=60_000) as first:
            qtbot.mouseClick(window.chat.composer.send_button, Qt.MouseButton.LeftButton)
        assert first.args[0].status == "failed"
        widget = window.chat.chat.turns[-1]
        assert widget.install_button.isVisible() and recommended in widget.install_button.text()
        assert f"main.py models download {recommended}" in widget.answer.text()

        qtbot.mouseClick(widget.install_button, Qt.MouseButton.LeftButton)
        assert window.pages.currentIndex() == window.page_index["Models"]  # the download shows its progress
        qtbot.waitUntil(lambda: not widget.rerun_button.isHidden(), timeout=120_000)
        assert "Run again" in window.statusBar().currentMessage()
        window.show_page("Chat")
        calls_before = len(controller.calls)

        with qtbot.waitSignal(window.bridge.finished, timeout=120_000) as again:
            qtbot.mouseClick(widget.rerun_button, Qt.MouseButton.LeftButton)
        turn = again.args[0]
        assert turn.status == "done", turn.error
        assert turn.results[0].model == recommended and turn.results[0].outputs["labels"]
        # The plan ran as it was: the controller wrote only the answer's prose, no new plan.
        assert all(call[0]["content"].find("task list") < 0 for call in controller.calls[calls_before:])
        assert turn.plan == first.args[0].plan
        assert len(window.chat.chat.turns) == 2
