"""The settings page checks each value as it is typed: the message shows on its field, Save waits
until nothing is wrong, and a server URL can be tested against a real (local) server."""

import threading
from http.server import ThreadingHTTPServer

import pytest

from app.settings import Settings
from desktop.settings_page import SettingsPage
from tests.test_openai_controller import FakeOpenAI


@pytest.fixture
def page(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("JARVIS_CONFIG_DIR", str(tmp_path / "config"))
    page = SettingsPage(Settings(data_dir=str(tmp_path / "data")))
    qtbot.addWidget(page)
    return page


@pytest.mark.parametrize("field, value, message", [
    ("controller_path", "/nowhere/model.gguf", "controller model not found"),
    ("controller_path", "/etc/hostname", "not a GGUF model file"),
    ("controller_url", "not a url", "looks like http://host:port/v1"),
    ("controller_url", "http://gpu-box:99999/v1", "port"),
    ("experts_url", "gpu-box experts", "looks like http://host:8000/experts"),
    ("data_dir", "/proc/nope", "cannot be written"),
    ("data_dir", "relative/folder", "full path"),
])
def test_each_invalid_setting_is_refused_with_its_message(page, tmp_path, field, value, message):
    assert page.save_button.isEnabled()
    getattr(page, field).setText(value)
    assert message in page.problems[field].text() and not page.problems[field].isHidden()
    assert not page.save_button.isEnabled()
    page.save()
    assert not (tmp_path / "config" / "settings.json").exists()


def test_a_context_longer_than_the_model_was_trained_on_is_refused(page):
    page.n_ctx.setValue(99_999)
    assert "was trained on 8192 tokens" in page.problems["n_ctx"].text() and not page.save_button.isEnabled()
    page.n_ctx.setValue(4096)
    assert page.save_button.isEnabled()


def test_the_note_says_where_settings_go_and_only_then_that_they_are_saved(page, tmp_path):
    assert "(not saved yet)" in page.note.text()
    page.save()
    assert (tmp_path / "config" / "settings.json").exists() and page.note.text().startswith("Saved to")


def test_test_asks_the_server_for_its_models(page, qtbot):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page.controller_url.setText(f"http://127.0.0.1:{server.server_address[1]}/v1")
        assert page.test_button.isEnabled()
        page.test_button.click()
        qtbot.waitUntil(lambda: page.test_result.text().startswith("Reachable"), timeout=10_000)
        assert "fake-model" in page.test_result.text()
    finally:
        server.shutdown()
