"""One memory budget: the loaded controller's weights and contexts are reserved in the expert
runtime, so an expert that fits only without the controller is refused, naming its share."""

import tempfile
from pathlib import Path

import pytest

from app.settings import Settings
from app.wiring import CONTROLLER_RESERVATION, build_app
from common.cancel import CancelToken
from models.runners.base import ExpertError

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
INPUTS = {"text": "A cat sits on the mat.", "text2": "A kitten rests on the rug."}


def test_the_loaded_controller_is_counted_in_the_runtimes_usage(real_controller, tmp_path):
    app = build_app(Settings(data_dir=str(tmp_path)), controller=real_controller)
    held = real_controller.memory_bytes()
    assert held > real_controller.settings.path.stat().st_size  # weights and at least one KV cache
    assert app.runtime.usage()["cpu"] >= held
    assert app.runtime._reserved[CONTROLLER_RESERVATION]["cpu"] == held


def test_an_expert_that_fits_only_without_the_controller_is_refused_naming_its_share(real_controller, tmp_path):
    budget_gb = (real_controller.memory_bytes() + 40 * 2**20) / 2**30  # the controller and 40 MB
    app = build_app(Settings(data_dir=str(tmp_path), memory_budget_gb=budget_gb), controller=real_controller)
    with tempfile.TemporaryDirectory() as workdir:
        with pytest.raises(ExpertError, match="reserved by the controller"):
            app.runtime.run(MINILM, "sentence-similarity", INPUTS, Path(workdir), CancelToken())
        app.runtime.release(CONTROLLER_RESERVATION)  # the same budget without the controller holds it
        assert app.runtime.run(MINILM, "sentence-similarity", INPUTS, Path(workdir), CancelToken())["score"] > 0.5


def test_the_estimate_before_loading_matches_what_the_loaded_controller_holds(real_controller, tmp_path):
    from app.memory_share import CONTEXTS_PER_TURN, memory_share

    settings = Settings(data_dir=str(tmp_path), controller_path=str(real_controller.settings.path),
                        n_ctx=real_controller.settings.n_ctx, memory_budget_gb=4)
    share = memory_share(settings)
    real_controller.load("planning")  # at least one context, whichever tests ran before
    weights = real_controller.settings.path.stat().st_size
    one_context = (real_controller.memory_bytes() - weights) // real_controller.contexts_open
    assert share.controller_bytes == weights + CONTEXTS_PER_TURN * one_context
    assert share.experts_bytes == 4 * 2**30 - share.controller_bytes
    assert memory_share(Settings(data_dir=str(tmp_path), controller_url="http://127.0.0.1:9/v1")).controller_bytes == 0


def test_models_list_and_the_models_page_count_the_controllers_share(qtbot, tmp_path, monkeypatch, capsys):
    from app.cli import main as cli
    from desktop.models_page import ModelsPage
    from models.store import LocalStore

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    # MiniLM (about 90 MB) fits the budget, but not beside the controller
    settings = Settings(data_dir=str(tmp_path / "data"), memory_budget_gb=0.12)
    settings.save()
    assert cli(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "Memory for experts:" in out and "the controller SmolLM2-135M-Instruct.Q4_1.gguf takes about" in out

    page = ModelsPage(settings, LocalStore(settings.data_path))
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: page.installed.rowCount() >= 2, timeout=10_000)
    rows = {page.installed.item(r, 0).text(): r for r in range(page.installed.rowCount())}
    assert page.installed.item(rows[MINILM], 5).text() == "too large"
    assert "the controller SmolLM2-135M-Instruct.Q4_1.gguf takes about" in page.total.text()
