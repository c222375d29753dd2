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
