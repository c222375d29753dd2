import os
import sys
from pathlib import Path

# Before anything imports Qt or the Hugging Face libraries.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from core.offline.switches import enforce_offline_env  # noqa: E402

enforce_offline_env()

import pytest  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Every test gets its own config and data folders: nothing touches the user's."""
    monkeypatch.setenv("JARVIS_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("JARVIS_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


@pytest.fixture(scope="session")
def controller_path():
    from models.store import default_controller_path

    path = default_controller_path()
    if path is None:
        pytest.fail("the default controller GGUF is not installed: run scripts/setup.sh")
    return path


@pytest.fixture(scope="session")
def real_controller(controller_path):
    """The real SmolLM2 GGUF through llama.cpp, loaded once for the whole session."""
    from core.llm.controller import LlamaController, LlamaSettings

    controller = LlamaController(LlamaSettings(path=controller_path, n_ctx=4096))
    controller.load()
    return controller


@pytest.fixture(scope="session")
def minilm_embed(tmp_path_factory):
    """The real MiniLM embedder that chooses demos and types steps, loaded once."""
    from app.settings import Settings
    from app.wiring import demo_embedder

    embed = demo_embedder(Settings(data_dir=str(tmp_path_factory.mktemp("data"))))
    if embed is None:
        pytest.fail("MiniLM is not installed: run scripts/setup.sh")
    return embed
