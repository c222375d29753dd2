"""Importing a model folder or a GGUF: validated first, registered only when whole, with hashes
recorded for verify; bad input gets one clear line and leaves nothing behind."""

import json
import shutil
from pathlib import Path

import pytest

from app.cli import main as cli
from hub_server import gguf_bytes, tiny_bert_dir
from models.errors import ModelManagerError
from models.formats import read_gguf
from models.importer import import_model
from models.maintenance import remove, verify
from models.store import MANIFEST, LocalStore, default_controller_path


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    return LocalStore(tmp_path / "data")


@pytest.fixture
def bert_folder(tmp_path):
    folder = tmp_path / "my-bert"
    shutil.copytree(tiny_bert_dir(), folder)
    return folder


def nothing_registered(store: LocalStore) -> bool:
    leftovers = list(store.models_dir.iterdir()) if store.models_dir.exists() else []
    return leftovers == [] and all(r.source == "package" for r in store.list())


def test_a_model_folder_is_imported_with_its_task_inferred_and_hashes_recorded(store, bert_folder):
    record = import_model(store, bert_folder)
    assert (record.id, record.task, record.format, record.source, record.complete) == (
        "my-bert", "text-classification", "safetensors", "imported", True)
    folder = Path(record.path)
    assert folder.parent == store.models_dir and bert_folder.is_dir()  # copied, the original stays
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["id"] == "my-bert" and manifest["task"] == "text-classification"
    assert set(manifest["files"]) == {p.name for p in bert_folder.iterdir()}
    assert all(len(f["sha256"]) == 64 for f in manifest["files"].values())
    assert record.size_bytes == sum(p.stat().st_size for p in bert_folder.iterdir())
    assert [r.id for r in store.for_task("text-classification")] == ["my-bert"]

    report = verify(store, "my-bert")
    assert report.ok and len(report.checked) == len(manifest["files"])
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    assert verify(store, "my-bert").problems == ["model.safetensors: sha256 differs from the one recorded"]

    with pytest.raises(ModelManagerError, match="already installed"):
        import_model(store, bert_folder)
    manifest_bytes = (folder / MANIFEST).stat().st_size
    removed = remove(store, "my-bert")
    assert removed.bytes_freed == record.size_bytes + manifest_bytes and not folder.exists()


def test_task_and_id_can_be_given_and_files_moved(store, bert_folder, capsys):
    (bert_folder / "pytorch_model.bin").write_bytes(b"pickled copy")  # left behind: not needed, can run code
    (bert_folder / "tf_model.h5").write_bytes(b"tensorflow weights")  # left behind: another framework
    assert cli(["models", "import", str(bert_folder), "--task", "Zero-Shot Classification", "--id", "acme/nli",
                "--move"]) == 0
    assert "imported acme/nli (zero-shot-classification" in capsys.readouterr().out
    record = store.get("acme/nli")
    assert record.task == "zero-shot-classification"
    assert not (bert_folder / "model.safetensors").exists() and (bert_folder / "pytorch_model.bin").exists()
    assert not (Path(record.path) / "pytorch_model.bin").exists() and not (Path(record.path) / "tf_model.h5").exists()
    assert cli(["models", "import", str(bert_folder), "--task", "juggling"]) == 2
    assert "unknown task" in capsys.readouterr().err


def test_a_gguf_file_is_imported_as_a_controller(store, tmp_path, capsys):
    path = tmp_path / "Tiny-Chat.Q4_K_M.gguf"
    path.write_bytes(gguf_bytes(name="Tiny Chat"))
    assert cli(["models", "import", str(path)]) == 0
    assert capsys.readouterr().out.startswith("imported Tiny-Chat.Q4_K_M.gguf (controller, gguf")
    record = store.get("Tiny-Chat.Q4_K_M.gguf")
    assert (record.task, record.format, record.size_bytes) == ("controller", "gguf", path.stat().st_size)
    assert Path(record.path).is_file() and Path(record.path).read_bytes() == path.read_bytes()
    assert "Tiny Chat" in record.description
    assert verify(store, record.id).ok
    assert cli(["models", "list", "--json"]) == 0
    assert record.id in {m["id"] for m in json.loads(capsys.readouterr().out)}


@pytest.mark.parametrize("make, message", [
    (lambda d: (d / "notes.txt").write_text("hello"), "no config.json"),
    (lambda d: (d / "config.json").write_text("{}"), "no weights"),
    (lambda d: ((d / "config.json").write_text("{}"), (d / "pytorch_model.bin").write_bytes(b"x" * 99)),
     "only pickle weights"),
    (lambda d: ((d / "config.json").write_text("{}"),
                (d / "model.safetensors").write_bytes((tiny_bert_dir() / "model.safetensors").read_bytes()[:-1000])),
     "truncated"),
    (lambda d: ((d / "config.json").write_text("{}"), (d / "model.safetensors").write_bytes(b"not a tensor file")),
     "not a safetensors file"),
    (lambda d: ((d / "config.json").write_text("{}"), (d / "model-00001-of-00002.safetensors").write_bytes(
        (tiny_bert_dir() / "model.safetensors").read_bytes()), (d / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))),
     "shard model-00002-of-00002.safetensors"),
])
def test_a_bad_folder_is_refused_with_a_clear_message_and_nothing_registered(store, tmp_path, make, message):
    folder = tmp_path / "bad"
    folder.mkdir()
    make(folder)
    with pytest.raises(ModelManagerError, match=message):
        import_model(store, folder, task="text-classification")
    assert nothing_registered(store)


def test_an_unknown_task_is_asked_for(store, bert_folder):
    config = json.loads((bert_folder / "config.json").read_text())
    config["architectures"] = ["BertModel"]
    (bert_folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelManagerError, match="--task"):
        import_model(store, bert_folder)
    assert nothing_registered(store)


@pytest.mark.parametrize("content, message", [
    (gguf_bytes()[:-100], "truncated: its tensors need"),
    (gguf_bytes()[:200], "truncated inside the GGUF header"),
    (b"PK\x03\x04 a zip file" * 10, "not a GGUF file"),
])
def test_a_broken_gguf_is_refused_via_the_command_line_in_one_line(store, tmp_path, capsys, content, message):
    path = tmp_path / "broken.gguf"
    path.write_bytes(content)
    assert cli(["models", "import", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1 and "Traceback" not in err
    assert nothing_registered(store)


def test_a_path_that_does_not_exist_is_refused(store, tmp_path, capsys):
    assert cli(["models", "import", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'nowhere'}: no such file or folder\n"
    assert nothing_registered(store)


def test_the_real_controller_gguf_header_accounts_for_every_byte():
    path = default_controller_path()
    info = read_gguf(path)
    assert info.data_end == path.stat().st_size
    assert info.architecture == "llama" and info.tensors > 100
