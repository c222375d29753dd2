"""The runners from the outside: `main.py run` on the command line, and a multi-task plan through
the engine (planned by a scripted controller: the real controller is tested elsewhere) executed
by the real runtime on tiny models."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile
from PIL import Image

from app.cli import main as cli
from core.engine import Engine
from core.history.store import ConversationStore
from models.runtime import ExpertRuntime
from models.store import LocalStore
from tests.conftest import ROOT
from tests.fakes import ScriptedController
from tests.tiny_models import one_torch_thread, sample_image, tiny  # noqa: F401 (fixtures)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def data():
    return Path(os.environ["JARVIS_DATA_DIR"])  # the per-test folder conftest sets


def test_run_json_reports_the_task_model_device_and_absolute_artifacts(tiny, data, tmp_path):
    model = tiny.install("object-detection", data)
    photo = sample_image(tmp_path / "photo.png")
    command = [sys.executable, str(ROOT / "main.py"), "run", "object-detection", "--file", str(photo), "--json"]
    done = subprocess.run(command, cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert set(record) == {"task", "model", "device", "outputs", "seconds"}
    assert (record["task"], record["model"], record["device"]) == ("object-detection", model, "cpu")
    image = Path(record["outputs"]["image"])
    assert image.is_absolute() and image.parent.parent == data / "runs"
    with Image.open(image) as picture:
        picture.load()
    assert record["outputs"]["boxes"] and record["seconds"] > 0


@pytest.mark.parametrize("argv, message", [
    (["run", "image-classifier", "--file", "x.png"], "unknown task 'image-classifier'"),
    (["run", "image-classification", "--file", "/no/such/photo.png"], "no such file"),
    (["run", "image-classification"], "needs --file for its 'image' input"),
    (["run", "sentence-similarity", "--text", "a", "--text", "b", "--text", "c"], "takes 2 --text value(s)"),
    (["run", "text-to-speech", "--text", "hello"], "no model installed for text-to-speech"),
    (["run", "text-to-speech", "--text", "hello", "--model", "nobody/nothing"], "not installed"),
    (["run", "tabular-classification", "--file", __file__],
     "tabular-classification is not available in this app: tabular models are published as scikit-learn"),
])
def test_run_bad_input_is_one_line_and_exit_status_2(capsys, argv, message):
    assert cli(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_model_that_fails_to_load_exits_1_with_one_line(tiny, data, capsys):
    model = tiny.install("text-classification", data)
    weights = data / "models" / model.replace("/", "--") / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    assert cli(["run", "text-classification", "--text", "the cat"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: model 'tiny/text-classification' could not be loaded") and err.count("\n") == 1


def test_a_planned_chain_runs_through_the_real_runners(tiny, data, tmp_path):
    """image-classification -> text-to-speech: the label text is read aloud into a real WAV."""
    classifier = tiny.install("image-classification", data)
    speaker = tiny.install("text-to-speech", data)
    plan = {"tasks": [{"id": 0, "task": "image-classification", "dep": [], "args": {"image": "photo.png"}},
                      {"id": 1, "task": "text-to-speech", "dep": [0], "args": {"text": "<GENERATED>-0"}}]}
    controller = ScriptedController(plan, "It shows a cat; the audio reads the labels.")
    runtime = ExpertRuntime(LocalStore(data))
    conversation = ConversationStore(data).create()
    turn = Engine(controller, runtime).ask("What is in photo.png? Read it aloud.", conversation,
                                           [sample_image(tmp_path / "photo.png")])

    assert turn.status == "done", turn.error
    labels, speech = turn.results
    assert (labels.model, speech.model) == (classifier, speaker)
    assert labels.status == speech.status == "done", (labels.error, speech.error)
    assert speech.inputs["text"] == labels.outputs["text"]  # <GENERATED>-0 became the label text
    audio = Path(speech.outputs["audio"])
    assert audio.is_relative_to(conversation.folder) and soundfile.info(str(audio)).frames > 0
    assert runtime.loads == 2
    assert labels.outputs["text"] in json.dumps(controller.calls[-1])  # the answer was written from the results
    assert turn.answer.startswith("Image classification, by tiny/image-classification: ")
    assert turn.answer.endswith("\n\nIt shows a cat; the audio reads the labels.")
