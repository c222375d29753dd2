"""The model manager page, against a local hub on 127.0.0.1 and real files on disk."""

import json
import shutil

import pytest
from PySide6.QtCore import Qt

from app.settings import Settings
from desktop.models_page import ModelsPage
from models.store import LocalStore

MINILM = "sentence-transformers/all-MiniLM-L6-v2"


@pytest.fixture
def page(qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    settings = Settings(data_dir=str(tmp_path / "data"), allow_downloads=True)
    page = ModelsPage(settings, LocalStore(settings.data_path))
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: page.installed.rowCount() >= 2, timeout=10_000)
    return page


def ids(page):
    return [page.installed.item(row, 0).text() for row in range(page.installed.rowCount())]


def test_installed_models_show_size_status_and_budget(page):
    assert {"SmolLM2-135M-Instruct.Q4_1.gguf", MINILM} <= set(ids(page))
    row = ids(page).index(MINILM)
    assert page.installed.item(row, 3).text().endswith("MB")
    assert page.installed.item(row, 4).text() == "installed"
    assert page.installed.item(row, 5).text() == "fits"
    assert "models" in page.total.text()


def test_import_verify_and_delete_from_the_page(page, qtbot, tmp_path):
    source = tmp_path / "my-minilm"
    shutil.copytree(LocalStore(tmp_path).get(MINILM).path, source)
    page.import_folder(str(source), task="sentence-similarity")
    qtbot.waitUntil(lambda: "Imported" in page.status.text() or "error" in page.status.text().lower(), timeout=60_000)
    qtbot.waitUntil(lambda: len(ids(page)) == 3, timeout=10_000)
    imported = next(i for i in ids(page) if i not in ("SmolLM2-135M-Instruct.Q4_1.gguf", MINILM))
    page.installed.selectRow(ids(page).index(imported))
    page.verify_selected()
    qtbot.waitUntil(lambda: "intact" in page.status.text() or "damaged" in page.status.text(), timeout=60_000)
    assert "intact" in page.status.text()
    page.installed.selectRow(ids(page).index(imported))
    page.delete_selected(confirm=False)
    qtbot.waitUntil(lambda: "freed" in page.status.text(), timeout=30_000)
    qtbot.waitUntil(lambda: len(ids(page)) == 2, timeout=10_000)


def test_import_of_a_broken_folder_is_explained(page, qtbot, tmp_path):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))
    page.import_folder(str(empty))
    qtbot.waitUntil(lambda: page.status.text() and "Checking" not in page.status.text(), timeout=30_000)
    assert "weights" in page.status.text().lower()
    assert len(ids(page)) == 2


def test_catalogue_search_and_filter(page):
    page.task_filter.setCurrentText("controller")
    assert page.catalogue.rowCount() > 3
    assert all(page.catalogue.item(r, 1).text() == "controller" for r in range(page.catalogue.rowCount()))
    page.task_filter.setCurrentText("All tasks")
    page.search.setText("minilm")
    assert 0 < page.catalogue.rowCount() < 5


def test_download_with_progress_cancel_and_resume_from_a_local_hub(page, qtbot):
    from tests.hub_server import HubServer, tiny_bert_files  # the local hub the download tests use

    with HubServer() as hub:
        hub.add_repo("acme/tiny-bert", tiny_bert_files(), pipeline_tag="text-classification")
        hub.faults.throttle_s = 0.02  # slow enough to cancel mid-file
        row = page.download("acme/tiny-bert", endpoint=hub.url)
        qtbot.waitUntil(lambda: row.bar.value() > 0, timeout=60_000)
        row.button.click()  # cancel
        qtbot.waitUntil(lambda: not row.running, timeout=60_000)
        assert row.button.text() == "Resume" and "cancel" in row.detail.text().lower()
        assert "acme/tiny-bert" not in [i for i in ids(page) if page.installed.item(ids(page).index(i), 4).text() == "installed"]
        hub.faults.throttle_s = 0.0
        row.button.click()  # resume
        qtbot.waitUntil(lambda: not row.running, timeout=60_000)
        assert row.detail.text() == "installed", row.detail.text()
        assert row.bar.value() == 1000
        qtbot.waitUntil(lambda: "acme/tiny-bert" in ids(page), timeout=10_000)


def test_downloads_are_refused_while_offline(qtbot, tmp_path):
    settings = Settings(data_dir=str(tmp_path / "data"), allow_downloads=False)
    page = ModelsPage(settings, LocalStore(settings.data_path))
    qtbot.addWidget(page)
    assert not page.download_button.isEnabled()
    assert page.download("some/model") is None
    assert "Downloads are off" in page.status.text()


def test_catalogue_marks_installed_models_and_confirms_a_big_download(page, monkeypatch):
    from PySide6.QtWidgets import QMessageBox

    rows = {page.catalogue.item(r, 0).data(Qt.ItemDataRole.UserRole): r for r in range(page.catalogue.rowCount())}
    assert page.catalogue.item(rows[MINILM], 0).text() == f"✓ {MINILM}"
    big = next(e for e in page.entries.experts if e.download_bytes > page.CONFIRM_ABOVE)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda *args: asked.append(args[2]) or QMessageBox.StandardButton.No)
    page.catalogue.selectRow(rows[big.id])
    page.download_selected()
    assert asked and big.id in asked[0] and "free on the disk" in asked[0]
    assert big.id not in page.downloads  # declined: nothing started


def test_a_download_that_fetched_nothing_offers_retry_not_resume(page, qtbot):
    from tests.hub_server import HubServer

    with HubServer() as hub:
        row = page.download("acme/does-not-exist", endpoint=hub.url)
        qtbot.waitUntil(lambda: not row.running, timeout=30_000)
    assert row.button.text() == "Retry" and row.detail.toolTip() == row.detail.text() != ""


def test_a_listing_that_arrives_after_the_page_is_gone_is_dropped(qtbot, tmp_path):
    from PySide6.QtCore import QThreadPool
    from PySide6.QtWidgets import QApplication

    settings = Settings(data_dir=str(tmp_path / "data"))
    page = ModelsPage(settings, LocalStore(settings.data_path))  # its constructor starts a listing
    page.deleteLater()
    QApplication.sendPostedEvents(None, 0)
    qtbot.wait(50)
    QThreadPool.globalInstance().waitForDone(10_000)
    qtbot.wait(200)  # the queued result is delivered now; it must not touch the deleted table
