"""Every task runner, on a tiny random-weight model loaded through the product's store and runtime.

The models are random, so these tests check what any model must produce: the output kinds, their
shapes, artifacts that decode, the device and dtype reported. What a real model says is checked
with MiniLM in test_runners.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json

import pytest
import soundfile
import torch
from PIL import Image
from safetensors.torch import save_file

from common.cancel import CancelToken
from models.runners import supported_tasks
from models.runtime import ExpertError, ExpertRuntime
from models.store import LocalStore
from tests.tiny_models import blip_vqa, one_torch_thread, sample_audio, sample_image, siglip, speech_ctc, tiny  # noqa: F401 (fixtures)

IMAGE, AUDIO = "<image>", "<audio>"
IMAGE_SIZE = (48, 40)
KINDS = {"labels", "boxes", "score", "image", "audio"}  # outputs beside "text", which is always there

CASES = [
    ("text-classification", {"text": "the cat sat on the mat"}, {"labels"}),
    ("token-classification", {"text": "sarah lives in berlin"}, {"labels"}),
    ("zero-shot-classification", {"text": "a kitten sits on the rug", "labels": "cat, dog; car"}, {"labels"}),
    ("question-answering", {"question": "where does sarah live?",
                            "context": "sarah lives in berlin. she works in london."}, {"score"}),
    ("summarization", {"text": "the cat sat on the mat. the dog sat on the rug."}, set()),
    ("translation", {"text": "hello world", "language": "German"}, set()),
    ("text2text-generation", {"text": "what is the capital of france?"}, set()),
    ("text-generation", {"text": "the cat"}, set()),
    ("conversational", {"text": "hello, who are you?"}, set()),
    ("sentence-similarity", {"text": "a cat sits on the mat", "text2": "a kitten sits on the rug"}, {"score"}),
    ("fill-mask", {"text": "paris is the [MASK] of france"}, {"labels"}),
    ("image-classification", {"image": IMAGE}, {"labels"}),
    ("zero-shot-image-classification", {"image": IMAGE, "labels": "cat, dog, car"}, {"labels"}),
    ("object-detection", {"image": IMAGE}, {"boxes", "image"}),
    ("image-segmentation", {"image": IMAGE}, {"labels", "image"}),
    ("depth-estimation", {"image": IMAGE}, {"image"}),
    ("image-to-text", {"image": IMAGE}, set()),
    ("visual-question-answering", {"image": IMAGE, "text": "what colour is the car?"}, {"labels"}),
    ("document-question-answering", {"image": IMAGE, "text": "what is the total?"}, set()),
    ("text-to-image", {"text": "a red car"}, {"image"}),
    ("image-to-image", {"image": IMAGE, "text": "a blue car"}, {"image"}),
    ("automatic-speech-recognition", {"audio": AUDIO}, set()),
    ("audio-classification", {"audio": AUDIO}, {"labels"}),
    ("text-to-speech", {"text": "hello world"}, {"audio"}),
]


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    return {IMAGE: str(sample_image(folder / "photo.png", IMAGE_SIZE)), AUDIO: str(sample_audio(folder / "clip.wav"))}


def run_tiny(tiny, tmp_path, task, inputs, builder=None):
    model = tiny.install(task, tmp_path / "data", builder)
    runtime = ExpertRuntime(LocalStore(tmp_path / "data"))
    outputs = runtime.run(model, task, inputs, tmp_path / "work", CancelToken())
    assert runtime.loads == 1
    return outputs


def test_every_runner_has_a_case_here():
    """...or in test_runner_extras.py: ControlNet, image editing, video and voice conversion."""
    from tests.test_runner_extras import NEW_RUNNERS

    extras = {task for runner in NEW_RUNNERS for task in runner.tasks}
    assert sorted(set(supported_tasks()) - extras) == sorted(task for task, _, _ in CASES)


@pytest.mark.parametrize("task, inputs, kinds", CASES, ids=[case[0] for case in CASES])
def test_runner(tiny, media, tmp_path, task, inputs, kinds):
    inputs = {slot: media.get(value, value) for slot, value in inputs.items()}
    before = {path: _digest(path) for path in inputs.values() if path in media.values()}
    outputs = run_tiny(tiny, tmp_path, task, inputs)

    assert isinstance(outputs["text"], str) and outputs["text"].strip()
    assert set(outputs) & KINDS == kinds
    assert outputs["device"] == "cpu" and outputs["dtype"] == "float32"
    for item in outputs.get("labels", []):
        assert isinstance(item["label"], str) and item["label"]
        assert 0.0 <= item["score"] <= 1.0
    if "score" in outputs:
        assert isinstance(outputs["score"], float)
    if "image" in outputs:
        _check_png(outputs["image"], tmp_path / "work")
    if "audio" in outputs:
        _check_wav(outputs["audio"], tmp_path / "work")
    assert all(_digest(path) == digest for path, digest in before.items()), "an input file was changed"
    EXTRA_CHECKS.get(task, lambda outputs, inputs: None)(outputs, inputs)


# -- what particular tasks promise beyond the common shape -----------------------------------------

def _token_classification(outputs, inputs):
    text = inputs["text"]
    assert all(entity["word"] == text[entity["start"]:entity["end"]] for entity in outputs["labels"])
    # The tiny tagger calls every word B-LOC: each word is its own entity, nothing merged across words.
    assert [entity["word"] for entity in outputs["labels"]] == text.split()
    assert {entity["label"] for entity in outputs["labels"]} == {"LOC"}


def _zero_shot(outputs, inputs):
    assert {item["label"] for item in outputs["labels"]} == {"cat", "dog", "car"}
    assert abs(sum(item["score"] for item in outputs["labels"]) - 1.0) < 0.01
    assert outputs["labels"] == sorted(outputs["labels"], key=lambda item: -item["score"])


def _question_answering(outputs, inputs):
    assert outputs["text"] in inputs["context"]


def _fill_mask(outputs, inputs):
    assert "[MASK]" not in outputs["text"]
    assert not any(item["label"].startswith("[") for item in outputs["labels"])
    assert len(outputs["labels"]) == 5


def _similarity(outputs, inputs):
    assert -1.0 <= outputs["score"] <= 1.0


def _boxes(outputs, inputs):
    width, height = IMAGE_SIZE
    assert outputs["boxes"], "the tiny detector is biased to find cats"
    for item in outputs["boxes"]:
        x0, y0, x1, y1 = item["box"]
        assert 0 <= x0 <= x1 <= width and 0 <= y0 <= y1 <= height
        assert item["label"] == "cat" and item["score"] >= 0.5
    _same_size_as_input(outputs)


def _segments(outputs, inputs):
    assert {item["label"] for item in outputs["labels"]} <= {"sky", "grass", "road"}
    assert abs(sum(item["area"] for item in outputs["labels"]) - 1.0) < 0.01  # semantic: every pixel labelled
    _same_size_as_input(outputs)


def _depth(outputs, inputs):
    with Image.open(outputs["image"]) as image:
        assert image.mode == "L"
    _same_size_as_input(outputs)


def _same_size_as_input(outputs):
    with Image.open(outputs["image"]) as image:
        assert image.size == IMAGE_SIZE


def _drawn(outputs, inputs):
    assert "2 steps" in outputs["text"]  # the model's manifest asked for two
    with Image.open(outputs["image"]) as image:
        assert image.size == (32, 32)  # the tiny pipeline's native size


def _speech(outputs, inputs):
    info = soundfile.info(outputs["audio"])
    assert info.samplerate == 16000 and info.frames > 0


EXTRA_CHECKS = {
    "token-classification": _token_classification, "zero-shot-classification": _zero_shot,
    "zero-shot-image-classification": _zero_shot, "question-answering": _question_answering,
    "fill-mask": _fill_mask, "sentence-similarity": _similarity, "object-detection": _boxes,
    "image-segmentation": _segments, "depth-estimation": _depth, "text-to-image": _drawn, "text-to-speech": _speech,
}


# -- variants -------------------------------------------------------------------------------------

def test_ctc_speech_recognition_reads_flac_at_another_rate(tiny, tmp_path):
    audio = sample_audio(tmp_path / "clip.flac", seconds=0.5, rate=22050)
    outputs = run_tiny(tiny, tmp_path, "automatic-speech-recognition", {"audio": str(audio)}, builder=speech_ctc)
    assert outputs["text"].strip()


def test_siglip_scores_each_label_on_its_own(tiny, media, tmp_path):
    outputs = run_tiny(tiny, tmp_path, "zero-shot-image-classification", {"image": media[IMAGE], "labels": "cat, dog"},
                       builder=siglip)
    assert {item["label"] for item in outputs["labels"]} == {"cat", "dog"}
    assert all(0.0 < item["score"] < 1.0 for item in outputs["labels"])


def test_generative_visual_question_answering_writes_its_answer(tiny, media, tmp_path):
    outputs = run_tiny(tiny, tmp_path, "visual-question-answering", {"image": media[IMAGE], "text": "what is it?"},
                       builder=blip_vqa)
    assert outputs["text"].strip() and "labels" not in outputs


def test_a_model_needing_a_package_that_is_not_installed_says_which(tmp_path):
    """DETR checkpoints such as facebook/detr-resnet-50 build their backbone with timm."""
    from transformers import DetrConfig

    if importlib.util.find_spec("timm") is not None:
        pytest.skip("timm is installed here")
    folder = tmp_path / "data" / "models" / "detr"
    DetrConfig(use_timm_backbone=True).save_pretrained(folder)
    save_file({"query_position_embeddings.weight": torch.zeros(2, 2)}, str(folder / "model.safetensors"))
    (folder / "jarvis-model.json").write_text(json.dumps({"id": "local/detr", "task": "object-detection"}))
    runtime = ExpertRuntime(LocalStore(tmp_path / "data"))
    with pytest.raises(ExpertError, match="needs the Python package 'timm', which is not installed"):
        runtime.run("local/detr", "object-detection", {"image": "unused.png"}, tmp_path / "work", CancelToken())


def test_translation_picks_the_prefix_for_the_language_or_says_it_cannot(tiny, tmp_path):
    model = tiny.install("translation", tmp_path / "data")
    runner = ExpertRuntime(LocalStore(tmp_path / "data")).acquire(model, "translation")
    assert runner.prompt("translation", "hello", "German") == ("translate English to German: hello", "")
    assert runner.prompt("translation", "hello", "de")[0].startswith("translate English to German: ")
    text, note = runner.prompt("translation", "hello", "Japanese")
    assert text == "hello" and "cannot choose Japanese" in note


def test_artifacts_of_several_tasks_in_one_folder_never_collide(tiny, media, tmp_path):
    model = tiny.install("object-detection", tmp_path / "data")
    runtime = ExpertRuntime(LocalStore(tmp_path / "data"))
    paths = {runtime.run(model, "object-detection", {"image": media[IMAGE]}, tmp_path / "work", CancelToken())["image"]
             for _ in range(3)}
    assert len(paths) == 3 and all(path.startswith(str(tmp_path / "work")) for path in paths)


# -- helpers --------------------------------------------------------------------------------------

def _check_png(path: str, workdir) -> None:
    assert path.startswith(str(workdir)) and path.endswith(".png")
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()  # decodes every pixel: a cut-short file fails here


def _check_wav(path: str, workdir) -> None:
    assert path.startswith(str(workdir)) and path.endswith(".wav")
    samples, rate = soundfile.read(path)
    assert soundfile.info(path).format == "WAV" and len(samples) > 0 and rate > 0


def _digest(path: str) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.mark.parametrize("task, inputs, unit", [("text-generation", {"text": "the cat"}, "token"),
                                                ("text-to-image", {"text": "a red car"}, "step")])
def test_generation_and_diffusion_report_their_progress_as_they_go(tiny, tmp_path, task, inputs, unit):
    """Every token or denoising step is reported (throttled to the first, the last and ten a second),
    so the task graph's bar moves; the last report says the work is whole."""
    from common.progress import reporting

    reports = []
    with reporting(lambda fraction, message: reports.append((fraction, message)), min_interval=0.0):
        run_tiny(tiny, tmp_path, task, inputs)
    fractions = [fraction for fraction, _ in reports]
    assert len(reports) >= 2 and fractions == sorted(fractions) and 0.0 < fractions[0] < 1.0
    assert all(unit in message for _, message in reports)
    if task == "text-to-image":
        assert fractions[-1] == 1.0 and reports[-1][1].startswith("step ")
