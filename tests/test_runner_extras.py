"""The rest of HuggingGPT's repertoire: ControlNet annotators and generation, instruction image
editing, text to video and voice conversion, on tiny random-weight models built here offline and
loaded through the product's store and runtime. The Canny annotator needs no model and is checked
against a shape whose edges are known; the runtime offers it as the built-in model `builtin/canny`,
so `main.py run canny-control` and a planned canny-control -> canny-text-to-image chain work with
nothing installed but the ControlNet.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
from PIL import Image, ImageDraw

import models.runners
from app.cli import main as cli
from common.cancel import Cancelled, CancelToken
from core.engine import Engine
from core.history.store import ConversationStore
from core.tasks import UNAVAILABLE, task_names
from models.devices import Placement
from models.runners.audio_convert import VoiceConversionRunner
from models.runners.control import (CannyControlRunner, ControlNetRunner, DepthControlRunner, SegControlRunner, canny,
                                    class_colour, hysteresis, non_maximum_suppression)
from models.runners.editing import ImageEditingRunner
from models.runners.video import TextToVideoRunner
from models.runtime import ExpertError, ExpertRuntime
from models.store import LocalStore
from tests.fakes import ScriptedController
from tests.tiny_models import (IMAGE_SIZE, SAMPLING_RATE, clip_bpe_tokenizer, depth_estimation,  # noqa: F401 (fixtures)
                               image_segmentation, one_torch_thread, sample_audio, sample_image, stable_diffusion,
                               text_to_speech, tiny)

NEW_RUNNERS = (CannyControlRunner, DepthControlRunner, SegControlRunner, ControlNetRunner, ImageEditingRunner,
               TextToVideoRunner, VoiceConversionRunner)
PHOTO_SIZE = (48, 40)  # not square, a multiple of 8: outputs of image-conditioned pipelines keep it
CONTROL_SIZE = (48, 32)
FRAMES = 3

# Every task of NEW_RUNNERS has a test here (test_runner_tasks.py covers the other runners).
TESTED_TASKS = {"canny-control", "depth-control", "seg-control", "canny-text-to-image", "depth-text-to-image",
                "seg-text-to-image", "image-editing", "text-to-video", "audio-to-audio"}

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_runners_are_registered_and_every_task_of_theirs_is_tested_here():
    assert all(runner in models.runners.RUNNERS for runner in NEW_RUNNERS)
    assert {task for runner in NEW_RUNNERS for task in runner.tasks} == TESTED_TASKS
    assert all(models.runners.runner_for(task) for task in TESTED_TASKS)


# -- tiny models ----------------------------------------------------------------------------------

def _seed() -> None:
    import torch

    torch.manual_seed(0)


def _sd_parts(unet_in_channels: int = 4) -> dict:
    """Tokenizer, CLIP text encoder, VAE (2x down) and DDIM of a 32x32 Stable Diffusion, plus its
    2-D UNet (InstructPix2Pix's takes 8 channels: the noisy latents and the input image's)."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = clip_bpe_tokenizer()
    return dict(
        tokenizer=tokenizer,
        text_encoder=CLIPTextModel(CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=37, num_hidden_layers=1,
            num_attention_heads=2, max_position_embeddings=16, bos_token_id=0, eos_token_id=1, pad_token_id=1)),
        vae=AutoencoderKL(block_out_channels=[8, 16], in_channels=3, out_channels=3, latent_channels=4,
                          down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
                          norm_num_groups=4, sample_size=IMAGE_SIZE),
        scheduler=DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012, steps_offset=1,
                                clip_sample=False, set_alpha_to_one=False),
        unet=UNet2DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=IMAGE_SIZE // 2,
                                  in_channels=unet_in_channels, out_channels=4,
                                  down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                  up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=32,
                                  attention_head_dim=4, norm_num_groups=4))


NO_SAFETY = dict(safety_checker=None, feature_extractor=None, requires_safety_checker=False)


def controlnet(folder: Path) -> None:
    """SD with a ControlNet whose conditioning embedding downsamples 2x, like the tiny VAE."""
    from diffusers import ControlNetModel, StableDiffusionControlNetPipeline

    _seed()
    net = ControlNetModel(block_out_channels=(8, 16), layers_per_block=1, in_channels=4, cross_attention_dim=32,
                          down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), attention_head_dim=4,
                          norm_num_groups=4, conditioning_embedding_out_channels=(8, 16))
    StableDiffusionControlNetPipeline(**_sd_parts(), controlnet=net, **NO_SAFETY).save_pretrained(
        folder, safe_serialization=True)


def instruct_pix2pix(folder: Path) -> None:
    from diffusers import StableDiffusionInstructPix2PixPipeline

    _seed()
    StableDiffusionInstructPix2PixPipeline(**_sd_parts(unet_in_channels=8), **NO_SAFETY).save_pretrained(
        folder, safe_serialization=True)


def text_to_video(folder: Path) -> None:
    from diffusers import TextToVideoSDPipeline, UNet3DConditionModel

    _seed()
    parts = _sd_parts()
    parts["unet"] = UNet3DConditionModel(block_out_channels=(8, 16), layers_per_block=1, sample_size=IMAGE_SIZE // 2,
                                         in_channels=4, out_channels=4, cross_attention_dim=32, attention_head_dim=4,
                                         down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
                                         up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"), norm_num_groups=4)
    TextToVideoSDPipeline(**parts).save_pretrained(folder, safe_serialization=True)


SPEAKER_SIZE = 8


def speecht5_vc(folder: Path) -> None:
    """SpeechT5 speech-to-speech with its HiFi-GAN in `vocoder/`. Its stop head is biased never
    to fire, so the output runs to the runner's length limit (random weights would stop at once)."""
    import torch
    from transformers import (SpeechT5Config, SpeechT5FeatureExtractor, SpeechT5ForSpeechToSpeech, SpeechT5HifiGan,
                              SpeechT5HifiGanConfig)

    _seed()
    config = SpeechT5Config(
        vocab_size=8, hidden_size=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, conv_dim=(8, 8), conv_stride=(10, 8),
        conv_kernel=(10, 8), num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
        speech_decoder_prenet_units=16, speech_decoder_postnet_units=16, speech_decoder_postnet_layers=2,
        speaker_embedding_dim=SPEAKER_SIZE, num_mel_bins=8, max_speech_positions=512, max_text_positions=16)
    model = SpeechT5ForSpeechToSpeech(config)
    with torch.no_grad():
        model.speech_decoder_postnet.prob_out.bias.fill_(-20.0)
    vocoder = SpeechT5HifiGan(SpeechT5HifiGanConfig(
        model_in_dim=8, upsample_initial_channel=16, upsample_rates=[4, 4], upsample_kernel_sizes=[8, 8],
        resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1, 3]], sampling_rate=SAMPLING_RATE))
    model.save_pretrained(folder)
    vocoder.save_pretrained(folder / "vocoder")
    SpeechT5FeatureExtractor(num_mel_bins=8, sampling_rate=SAMPLING_RATE).save_pretrained(folder)


def install(tiny, tmp_path, task: str, builder, **manifest) -> str:
    """The tiny model installed for `task`, with extra manifest settings (steps, frames)."""
    model_id = tiny.install(task, tmp_path / "data", builder)
    path = tmp_path / "data" / "models" / model_id.replace("/", "--") / "jarvis-model.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **manifest}))
    return model_id


def run(tiny, tmp_path, task, inputs, builder, cancel=None, **manifest) -> dict:
    model = install(tiny, tmp_path, task, builder, **manifest)
    runtime = ExpertRuntime(LocalStore(tmp_path / "data"))
    outputs = runtime.run(model, task, inputs, tmp_path / "work", cancel or CancelToken())
    assert outputs["text"].strip() and outputs["device"] == "cpu"
    return outputs


# -- sample inputs --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> str:
    return str(sample_image(tmp_path_factory.mktemp("media") / "photo.png", PHOTO_SIZE))


@pytest.fixture(scope="module")
def edge_map(tmp_path_factory) -> str:
    """A control image as canny-control writes it: white lines on black."""
    path = tmp_path_factory.mktemp("media") / "edges.png"
    image = Image.new("L", CONTROL_SIZE)
    ImageDraw.Draw(image).rectangle((8, 8, 39, 23), outline=255)
    image.save(path)
    return str(path)


def rectangle_picture(path: Path, size=(64, 56), box=(16, 12, 43, 39)) -> Path:
    """White filled rectangle (inclusive corners) on black."""
    image = Image.new("RGB", size)
    ImageDraw.Draw(image).rectangle(box, fill=(255, 255, 255))
    image.save(path)
    return path


def _png(path: str, workdir: Path) -> Image.Image:
    assert path.startswith(str(workdir)) and path.endswith(".png")
    with Image.open(path) as image:
        assert image.format == "PNG"
        image.load()
        return image.copy()


# -- Canny ----------------------------------------------------------------------------------------

def test_canny_traces_the_border_of_a_rectangle_and_nothing_else(tmp_path):
    x0, y0, x1, y1 = box = (16, 12, 43, 39)
    picture = rectangle_picture(tmp_path / "rectangle.png", box=box)
    runner = CannyControlRunner(tmp_path, Placement("cpu", "float32"))
    runner.load()
    outputs = runner.run("canny-control", {"image": str(picture)}, tmp_path / "work", CancelToken())

    edges = np.asarray(_png(outputs["image"], tmp_path / "work").convert("L")) > 0
    assert edges.shape == (56, 64)
    rows, cols = np.mgrid[:56, :64]
    # Chebyshev distance of each pixel to the rectangle's outline (its outermost pixels).
    inside = (rows >= y0) & (rows <= y1) & (cols >= x0) & (cols <= x1)
    to_outline = np.where(inside, np.minimum.reduce([rows - y0, y1 - rows, cols - x0, x1 - cols]),
                          np.maximum(np.maximum(y0 - rows, rows - y1), np.maximum(x0 - cols, cols - x1)))
    assert not edges[to_outline > 1].any(), "edges away from the rectangle's border"
    outline = inside & (to_outline == 0)
    near_edge = np.zeros_like(edges)  # within one pixel of an edge pixel
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            near_edge |= np.roll(np.roll(edges, dy, 0), dx, 1)
    assert near_edge[outline].all(), "a stretch of the border has no edge"
    assert edges.sum() <= 1.3 * outline.sum(), "edges are thicker than one pixel"
    assert "Canny edge map of the 64x56 image" in outputs["text"]


def test_canny_sees_no_edges_in_a_flat_noisy_image():
    rng = np.random.default_rng(0)
    grey = 128 + rng.normal(0, 3, size=(40, 40))
    assert not canny(grey).any()


def test_a_ridge_two_pixels_wide_keeps_exactly_one_of_them():
    """A step between two pixels gives both the same gradient: one must stay, not both or none."""
    magnitude = np.tile([0.0, 0.0, 300.0, 300.0, 0.0, 0.0], (4, 1))
    thin = non_maximum_suppression(magnitude, gx=magnitude, gy=np.zeros_like(magnitude))
    assert (thin > 0).sum(axis=1).tolist() == [1, 1, 1, 1]


def test_hysteresis_keeps_faint_stretches_joined_to_a_strong_edge_only():
    magnitude = np.zeros((5, 9))
    magnitude[1, 1:5] = [250, 150, 150, 150]  # strong then faint: one edge
    magnitude[3, 6:9] = 150  # faint alone: noise
    edges = hysteresis(magnitude, 100, 200)
    assert edges[1, 1:5].all() and not edges[3].any() and edges.sum() == 4


# -- annotators that use a model ------------------------------------------------------------------

def test_depth_control_map_is_grey_and_the_input_size(tiny, tmp_path, photo):
    outputs = run(tiny, tmp_path, "depth-control", {"image": photo}, depth_estimation)
    image = _png(outputs["image"], tmp_path / "work")
    assert image.mode == "L" and image.size == PHOTO_SIZE


def test_seg_control_map_paints_each_class_in_its_flat_colour(tiny, tmp_path, photo):
    outputs = run(tiny, tmp_path, "seg-control", {"image": photo}, image_segmentation)
    image = _png(outputs["image"], tmp_path / "work")
    assert image.size == PHOTO_SIZE
    colours = {tuple(c) for c in np.asarray(image.convert("RGB")).reshape(-1, 3)}
    assert colours and colours <= {class_colour(i) for i in range(3)}  # the tiny model's three classes, no photo
    assert any(name in outputs["text"] for name in ("sky", "grass", "road"))


# -- ControlNet generation ------------------------------------------------------------------------

@pytest.mark.parametrize("task", ["canny-text-to-image", "depth-text-to-image", "seg-text-to-image"])
def test_controlnet_draws_at_the_control_image_size(tiny, tmp_path, edge_map, task):
    outputs = run(tiny, tmp_path, task, {"text": "a red car", "image": edge_map}, controlnet, inference_steps=2)
    assert _png(outputs["image"], tmp_path / "work").size == CONTROL_SIZE
    assert "2 steps" in outputs["text"] and "Canny first" not in outputs["text"]


def test_canny_controlnet_given_a_photo_finds_its_edges_first(tiny, tmp_path, photo):
    outputs = run(tiny, tmp_path, "canny-text-to-image", {"text": "a cat", "image": photo}, controlnet,
                  inference_steps=2)
    assert "edges found with Canny first" in outputs["text"]
    assert _png(outputs["image"], tmp_path / "work").size == PHOTO_SIZE


class StopAfter(CancelToken):
    """Cancels itself once checked `checks` times: proves the pipeline checks between steps."""

    def __init__(self, checks: int) -> None:
        super().__init__()
        self.left = checks

    def raise_if_cancelled(self) -> None:
        self.left -= 1
        if self.left < 0:
            self.cancel()
        super().raise_if_cancelled()


@pytest.mark.parametrize("task, builder, inputs", [
    ("canny-text-to-image", controlnet, {"text": "a car", "image": "<edges>"}),
    ("text-to-video", text_to_video, {"text": "a car"}),
], ids=["controlnet", "video"])
def test_stop_ends_generation_between_steps(tiny, tmp_path, edge_map, task, builder, inputs):
    inputs = {slot: edge_map if value == "<edges>" else value for slot, value in inputs.items()}
    token = StopAfter(checks=2)  # the runtime checks once before running, then the first step passes
    with pytest.raises(Cancelled):
        run(tiny, tmp_path, task, inputs, builder, cancel=token, inference_steps=20, num_frames=2)
    assert token.left == -1, "generation went on after Stop"


@pytest.mark.parametrize("task, inputs, wanted", [
    ("image-editing", {"text": "make it red", "image": "<photo>"}, "StableDiffusionInstructPix2PixPipeline"),
    ("canny-text-to-image", {"text": "a car", "image": "<photo>"}, "StableDiffusionControlNetPipeline"),
    ("text-to-video", {"text": "a car"}, "TextToVideoSDPipeline"),
])
def test_a_plain_stable_diffusion_folder_is_refused_before_it_runs(tiny, tmp_path, photo, task, inputs, wanted):
    inputs = {slot: photo if value == "<photo>" else value for slot, value in inputs.items()}
    with pytest.raises(ExpertError, match=f"it is a StableDiffusionPipeline pipeline, not a {wanted}"):
        run(tiny, tmp_path, task, inputs, stable_diffusion)


# -- image editing, video, voice conversion -------------------------------------------------------

def test_image_editing_keeps_the_input_size(tiny, tmp_path, photo):
    outputs = run(tiny, tmp_path, "image-editing", {"text": "make it red", "image": photo}, instruct_pix2pix,
                  inference_steps=2)
    assert _png(outputs["image"], tmp_path / "work").size == PHOTO_SIZE
    assert "make it red" in outputs["text"]


def test_text_to_video_writes_an_animated_gif(tiny, tmp_path):
    outputs = run(tiny, tmp_path, "text-to-video", {"text": "a red car"}, text_to_video, inference_steps=2,
                  num_frames=FRAMES, fps=4)
    path = outputs["video"]
    assert path.startswith(str(tmp_path / "work")) and path.endswith(".gif")
    with Image.open(path) as gif:
        assert gif.format == "GIF" and gif.n_frames == FRAMES and gif.size == (IMAGE_SIZE, IMAGE_SIZE)
        assert gif.info["duration"] == 250 and gif.info["loop"] == 0
        for index in range(FRAMES):
            gif.seek(index)
            gif.load()
    assert f"{FRAMES} frames at 4 fps" in outputs["text"]
    if "video_mp4" in outputs:  # only where imageio with its ffmpeg plugin is installed
        import imageio.v3 as iio

        assert iio.imread(outputs["video_mp4"]).shape[:3] == (FRAMES, IMAGE_SIZE, IMAGE_SIZE)


def test_voice_conversion_writes_speech_at_the_vocoder_rate(tiny, tmp_path):
    clip = sample_audio(tmp_path / "clip.wav", seconds=0.5, rate=22050)
    outputs = run(tiny, tmp_path, "audio-to-audio", {"audio": str(clip)}, speecht5_vc)
    samples, rate = soundfile.read(outputs["audio"])
    assert outputs["audio"].endswith(".wav") and rate == SAMPLING_RATE and len(samples) > 0
    assert np.isfinite(samples).all() and "neutral voice" in outputs["text"]


def test_voice_conversion_uses_the_installed_speaker_and_checks_its_size(tiny, tmp_path):
    import torch
    from safetensors.torch import save_file

    clip = str(sample_audio(tmp_path / "clip.wav", seconds=0.3, rate=SAMPLING_RATE))
    model = install(tiny, tmp_path, "audio-to-audio", speecht5_vc)
    speaker = tmp_path / "data" / "models" / model.replace("/", "--") / "speaker_embedding.safetensors"
    save_file({"speaker_embeddings": torch.randn(1, SPEAKER_SIZE)}, str(speaker))
    outputs = ExpertRuntime(LocalStore(tmp_path / "data")).run(model, "audio-to-audio", {"audio": clip},
                                                                tmp_path / "work", CancelToken())
    assert "installed speaker's voice" in outputs["text"]

    save_file({"speaker_embeddings": torch.randn(1, SPEAKER_SIZE + 1)}, str(speaker))
    with pytest.raises(ExpertError, match="speaker embedding has 9 values; this model wants 8"):
        ExpertRuntime(LocalStore(tmp_path / "data")).run(model, "audio-to-audio", {"audio": clip},
                                                         tmp_path / "work", CancelToken())


def test_audio_to_audio_refuses_a_model_that_is_not_speecht5(tiny, tmp_path):
    clip = str(sample_audio(tmp_path / "clip.wav"))
    with pytest.raises(ExpertError, match="SpeechT5 voice conversion; a vits model is not one"):
        run(tiny, tmp_path, "audio-to-audio", {"audio": clip}, text_to_speech)


# -- built in, borrowed and unavailable: the runtime, the command line, the engine -----------------

def test_canny_is_a_builtin_model_that_needs_no_files_and_no_memory(tmp_path, photo):
    runtime = ExpertRuntime(LocalStore(tmp_path / "data"), budget_bytes=1)  # room for no model at all
    [record] = runtime.candidates("canny-control")
    assert (record.id, record.task, record.source, record.size_bytes) == ("builtin/canny", "canny-control",
                                                                          "builtin", 0)
    outputs = runtime.run("builtin/canny", "canny-control", {"image": photo}, tmp_path / "work", CancelToken())
    assert _png(outputs["image"], tmp_path / "work").size == PHOTO_SIZE and outputs["device"] == "cpu"
    assert runtime.usage() == {} and runtime.warm_models() == ["builtin/canny"]
    with pytest.raises(ExpertError, match="'builtin/canny' does canny-control, not depth-control"):
        runtime.run("builtin/canny", "depth-control", {"image": photo}, tmp_path / "work", CancelToken())


def test_main_py_run_canny_control_works_with_no_model_installed(tmp_path, photo, capsys):
    assert LocalStore(tmp_path / "data").for_task("canny-control") == []
    assert cli(["run", "canny-control", "--file", photo, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["task"], record["model"], record["device"]) == ("canny-control", "builtin/canny", "cpu")
    image = Path(record["outputs"]["image"])
    assert image.is_absolute() and image.parent.parent == tmp_path / "data" / "runs"
    assert "Canny edge map" in record["outputs"]["text"]


def test_depth_and_seg_control_run_the_installed_depth_and_segmentation_models(tiny, tmp_path, photo):
    data = tmp_path / "data"
    depth = tiny.install("depth-estimation", data, depth_estimation)
    segmenter = tiny.install("image-segmentation", data, image_segmentation)
    runtime = ExpertRuntime(LocalStore(data))
    assert [r.id for r in runtime.candidates("depth-control")] == [depth]
    assert [r.id for r in runtime.candidates("seg-control")] == [segmenter]
    assert runtime.candidates("canny-text-to-image") == []

    control = runtime.run(depth, "depth-control", {"image": photo}, tmp_path / "work", CancelToken())
    plain = runtime.run(depth, "depth-estimation", {"image": photo}, tmp_path / "work", CancelToken())
    assert "depth control map" in control["text"] and "depth control map" not in plain["text"]
    assert runtime.warm_models() == [f"{depth} as depth-control", depth]  # each task its own runner
    outputs = runtime.run(segmenter, "seg-control", {"image": photo}, tmp_path / "work", CancelToken())
    assert outputs["text"].startswith("segmentation control map")
    with pytest.raises(ExpertError, match=f"'{depth}' does depth-estimation, not seg-control"):
        runtime.run(depth, "seg-control", {"image": photo}, tmp_path / "work", CancelToken())


def test_task_types_with_no_safe_runner_are_refused_with_the_reason(tmp_path, photo, capsys):
    assert set(UNAVAILABLE) == set(task_names()) - set(models.runners.supported_tasks()) == {"tabular-classification"}
    assert cli(["run", "tabular-classification", "--file", photo]) == 2
    err = capsys.readouterr().err
    assert "tabular-classification is not available in this app" in err and "pickles" in err
    assert cli(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "tabular-classification: not available: " in out and "canny-control (builtin/canny)" in out
    assert cli(["models", "catalogue", "--task", "tabular-classification", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unavailable"] == UNAVAILABLE


def test_a_planned_canny_controlnet_chain_runs_end_to_end(tiny, tmp_path):
    """canny-control (built in) -> canny-text-to-image on a tiny ControlNet: the drawing follows
    the edge map the first task made, and takes it as an edge map (no second Canny pass)."""
    data = tmp_path / "data"
    drawer = install(tiny, tmp_path, "canny-text-to-image", controlnet, inference_steps=2)
    plan = {"tasks": [{"id": 0, "task": "canny-control", "dep": [], "args": {"image": "photo.png"}},
                      {"id": 1, "task": "canny-text-to-image", "dep": [0],
                       "args": {"text": "a red car", "image": "<GENERATED>-0"}}]}
    controller = ScriptedController(plan, "Here is a red car drawn on the outlines of your photo.")
    runtime = ExpertRuntime(LocalStore(data))
    conversation = ConversationStore(data).create()
    photo = sample_image(tmp_path / "photo.png", PHOTO_SIZE)
    turn = Engine(controller, runtime).ask("Draw a red car following the outlines of photo.png.", conversation,
                                           [photo])

    assert turn.status == "done", turn.error
    edges, drawing = turn.results
    assert (edges.model, drawing.model) == ("builtin/canny", drawer)
    assert edges.status == drawing.status == "done", (edges.error, drawing.error)
    assert drawing.inputs["image"] == edges.outputs["image"]  # <GENERATED>-0 became the edge map
    assert "following the canny map" in drawing.outputs["text"] and "Canny first" not in drawing.outputs["text"]
    image = Path(drawing.outputs["image"])
    assert image.is_relative_to(conversation.folder) and _png(str(image), conversation.folder).size == PHOTO_SIZE
    assert image.name in turn.answer and turn.answer.endswith("\n\nHere is a red car drawn on the outlines of your photo.")


def test_main_py_run_canny_text_to_image_with_an_imported_tiny_controlnet(tiny, tmp_path, photo, capsys):
    folder = tiny.folder(controlnet)
    assert cli(["models", "import", str(folder), "--task", "canny-text-to-image", "--id", "tiny/controlnet"]) == 0
    capsys.readouterr()
    assert cli(["run", "canny-text-to-image", "--file", photo, "--text", "a castle", "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["task"], record["model"], record["device"]) == ("canny-text-to-image", "tiny/controlnet", "cpu")
    assert "edges found with Canny first" in record["outputs"]["text"]
    assert _png(record["outputs"]["image"], tmp_path / "data" / "runs").size == PHOTO_SIZE
