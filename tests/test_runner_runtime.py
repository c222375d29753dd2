"""The expert runtime around the runners: warm models, the memory budget (LRU unloading, models in
use, reservations), clear errors for broken or unsuitable models, cancellation, placement and the
memory estimate."""

from __future__ import annotations

import gc
import shutil
import threading
import weakref

import pytest
import torch
from safetensors.torch import save_file

from common.cancel import Cancelled, CancelToken
from models.devices import OFFLOAD, SINGLE, SPLIT, GpuInfo, Placement, decide
from models.formats import FormatError
from models.media import load_audio, resample, write_wav
from models.memory import OVERHEAD, estimate
from models.runners.text import TextClassificationRunner
from models.runtime import ExpertError, ExpertRuntime
from models.store import LocalStore
from tests.tiny_models import (causal_lm, one_torch_thread, sample_audio, sample_image,  # noqa: F401 (fixtures)
                               sentence_similarity, stable_diffusion, text_classification, tiny)

TEXT = {"text": "the cat sat on the mat"}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def data(tmp_path):
    return tmp_path / "data"


def classifiers(tiny, data, *names) -> list[str]:
    return [tiny.install("text-classification", data, model_id=f"tiny/{name}") for name in names]


def size_of(tiny, builder=text_classification) -> int:
    return estimate(tiny.folder(builder)).total("float32")


def run(runtime, model, task="text-classification", inputs=TEXT, cancel=None, workdir=None):
    return runtime.run(model, task, inputs, workdir or runtime.store.data_dir / "work", cancel or CancelToken())


def expert_error(call) -> str:
    with pytest.raises(ExpertError) as caught:
        call()
    return str(caught.value)


# -- warm models and the memory budget -------------------------------------------------------------

def test_a_second_request_finds_the_model_warm_and_warm_models_rank_first(tiny, data):
    first, second = classifiers(tiny, data, "a", "b")
    runtime = ExpertRuntime(LocalStore(data))
    assert [r.id for r in runtime.candidates("text-classification")] == [first, second]
    run(runtime, second)
    run(runtime, second)
    assert runtime.loads == 1
    assert [r.id for r in runtime.candidates("text-classification")] == [second, first]


def test_least_recently_used_model_is_unloaded_and_its_memory_freed(tiny, data):
    a, b, c = classifiers(tiny, data, "a", "b", "c")
    runtime = ExpertRuntime(LocalStore(data), budget_bytes=int(size_of(tiny) * 2.5))  # room for two
    run(runtime, a)
    run(runtime, b)
    b_runner = runtime.acquire(b, "text-classification")  # a reference someone kept to the runner...
    b_model = weakref.ref(b_runner.model)
    run(runtime, a)  # a is now more recent than b
    run(runtime, c)
    assert runtime.warm_models() == [a, c]
    gc.collect()
    assert b_model() is None, "the unloaded model is still referenced"  # ...does not keep the weights alive
    assert runtime.usage()["cpu"] <= runtime.budget_bytes
    run(runtime, b)
    assert runtime.loads == 4 and runtime.warm_models() == [c, b]


def test_a_model_larger_than_the_budget_fails_clearly_and_leaves_nothing_behind(tiny, data):
    (model,) = classifiers(tiny, data, "a")
    runtime = ExpertRuntime(LocalStore(data), budget_bytes=size_of(tiny) // 2)
    message = expert_error(lambda: run(runtime, model))
    assert "tiny/a" in message and "memory budget" in message and "RAM" in message
    assert runtime.usage() == {} and runtime.loads == 0


def test_reserved_memory_counts_against_the_budget(tiny, data):
    (model,) = classifiers(tiny, data, "a")
    size = size_of(tiny)
    runtime = ExpertRuntime(LocalStore(data), budget_bytes=size * 3)
    run(runtime, model)
    runtime.reserve("controller", int(size * 2.5))  # the idle expert makes way
    assert runtime.warm_models() == []
    assert "reserved by controller" in expert_error(lambda: run(runtime, model))
    runtime.release("controller")
    run(runtime, model)
    assert runtime.warm_models() == [model]


def test_a_model_in_use_is_not_unloaded_under_its_task(tiny, data):
    """A load that needs the room of a running model waits for that task to end."""
    generator = tiny.install("text-generation", data)
    (classifier,) = classifiers(tiny, data, "a")
    sizes = size_of(tiny, causal_lm), size_of(tiny)
    runtime = ExpertRuntime(LocalStore(data), budget_bytes=int(max(sizes) + min(sizes) * 0.5))  # one at a time

    generating, finish = threading.Event(), threading.Event()

    class SlowToken(CancelToken):  # the generation checks it every token: hold it there
        @property
        def cancelled(self):
            generating.set()
            assert finish.wait(30)
            return False

    results = {}
    generate = lambda: results.update(a=run(runtime, generator, "text-generation", cancel=SlowToken()))  # noqa: E731
    first = threading.Thread(target=generate)
    first.start()
    assert generating.wait(30)
    second = threading.Thread(target=lambda: results.update(b=run(runtime, classifier)))
    second.start()
    second.join(0.5)
    assert second.is_alive() and runtime.loads == 1 and runtime.warm_models() == [generator]
    finish.set()
    first.join(30)
    second.join(30)
    assert set(results) == {"a", "b"} and runtime.loads == 2 and runtime.warm_models() == [classifier]


def test_two_tasks_wanting_the_same_cold_model_load_it_once(tiny, data):
    (model,) = classifiers(tiny, data, "a")
    runtime = ExpertRuntime(LocalStore(data))
    threads = [threading.Thread(target=run, args=(runtime, model)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert runtime.loads == 1


def test_prefetch_loads_without_holding_the_model(tiny, data):
    (model,) = classifiers(tiny, data, "a")
    runtime = ExpertRuntime(LocalStore(data))
    runtime.prefetch(model, "text-classification")
    run(runtime, model)
    assert runtime.loads == 1
    runtime.unload_all()
    assert runtime.warm_models() == [] and runtime.usage() == {}


# -- clear errors ------------------------------------------------------------------------------------

def test_missing_truncated_and_weightless_models_fail_clearly(tiny, data):
    truncated, weightless = classifiers(tiny, data, "truncated", "weightless")
    weights = data / "models" / "tiny--truncated" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:2000])
    (data / "models" / "tiny--weightless" / "model.safetensors").unlink()
    runtime = ExpertRuntime(LocalStore(data))
    assert "'nobody/nothing' is not installed" in expert_error(lambda: run(runtime, "nobody/nothing"))
    message = expert_error(lambda: run(runtime, truncated))
    assert "could not be loaded" in message and "truncated" in message
    assert "no weight files" in expert_error(lambda: run(runtime, weightless))
    assert runtime.usage() == {}


def test_models_of_the_wrong_kind_for_the_task_are_refused(tiny, data):
    detector = tiny.install("object-detection", data, builder=text_classification, model_id="tiny/bert-as-detector")
    headless = tiny.install("text-classification", data, builder=sentence_similarity, model_id="tiny/no-head")
    painter = tiny.install("text-classification", data, builder=stable_diffusion, model_id="tiny/pipeline")
    runtime = ExpertRuntime(LocalStore(data))
    image = str(sample_image(data / "photo.png"))
    message = expert_error(lambda: run(runtime, detector, "object-detection", {"image": image}))
    assert "cannot do object-detection" in message and "bert model" in message
    message = expert_error(lambda: run(runtime, headless))
    assert "cannot do text-classification" in message and "classifier.weight" in message
    assert "diffusers pipeline" in expert_error(lambda: run(runtime, painter))
    assert runtime.usage() == {}


def test_bad_inputs_fail_clearly(tiny, data):
    (model,) = classifiers(tiny, data, "a")
    classifier = tiny.install("image-classification", data)
    runtime = ExpertRuntime(LocalStore(data))
    assert "input 'text' is missing" in expert_error(lambda: run(runtime, model, inputs={}))
    not_an_image = data / "notes.png"
    not_an_image.write_text("hello")
    assert "not an image" in expert_error(lambda: run(runtime, classifier, "image-classification",
                                                       {"image": str(not_an_image)}))


# -- cancellation --------------------------------------------------------------------------------------

class CancelAtCheck(CancelToken):
    """Cancels itself at its n-th check, as Stop pressed in the middle of a run would."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.checks = n, 0

    def _tick(self) -> None:
        self.checks += 1
        if self.checks >= self.n:
            self.cancel()

    @property
    def cancelled(self) -> bool:
        self._tick()
        return super().cancelled

    def raise_if_cancelled(self) -> None:
        self._tick()
        super().raise_if_cancelled()


def test_cancel_stops_text_generation_between_tokens(tiny, data):
    model = tiny.install("text-generation", data)
    runtime = ExpertRuntime(LocalStore(data))
    token = CancelAtCheck(3)  # 1: before the run; 2, 3: the first tokens
    with pytest.raises(Cancelled):
        run(runtime, model, "text-generation", cancel=token)
    assert token.checks < 6  # stopped early, not after the model's 6 tokens
    assert "device" in run(runtime, model, "text-generation")  # and the model still works


def test_cancel_stops_diffusion_between_steps(tiny, data):
    model = tiny.install("text-to-image", data)
    runtime = ExpertRuntime(LocalStore(data))
    workdir = data / "work"
    with pytest.raises(Cancelled):
        run(runtime, model, "text-to-image", {"text": "a red car"}, cancel=CancelAtCheck(2), workdir=workdir)
    assert not list(workdir.glob("*.png")), "the cancelled pipeline ran to the end and saved its image"


# -- placement -------------------------------------------------------------------------------------------

GIB = 2**30


def test_placement_prefers_one_gpu_in_half_precision_when_the_model_fits():
    placement = decide("auto", GpuInfo(2, bf16=True), lambda dtype: 3 * GIB, {"cuda:0": 2 * GIB, "cuda:1": 8 * GIB})
    assert (placement.device, placement.dtype, placement.strategy) == ("cuda:1", "bfloat16", SINGLE)
    assert placement.memory_use({"": 3 * GIB}) == {"cuda:1": 3 * GIB}
    assert placement.load_kwargs() == {"dtype": torch.bfloat16, "device_map": {"": "cuda:1"}}
    older = decide("auto", GpuInfo(1, bf16=False), lambda dtype: GIB, {"cuda:0": 8 * GIB})
    assert (older.device, older.dtype) == ("cuda", "float16")


def test_placement_splits_a_model_too_big_for_the_gpu_and_offloads_a_pipeline():
    free = {"cuda:0": 4 * GIB, "cpu": 32 * GIB}
    split = decide("auto", GpuInfo(1, True), lambda dtype: 10 * GIB, free)
    assert split.strategy == SPLIT and split.max_memory == {0: 4 * GIB, "cpu": 32 * GIB}
    assert split.load_kwargs()["device_map"] == "auto"
    assert split.memory_use({"": 10 * GIB}) == {"cuda:0": 4 * GIB, "cpu": 6 * GIB}
    offload = decide("auto", GpuInfo(1, True), lambda dtype: 10 * GIB, free, pipeline=True)
    assert offload.strategy == OFFLOAD and offload.device == "cuda"
    assert offload.memory_use({"unet": 7 * GIB, "vae": 3 * GIB}) == {"cpu": 10 * GIB, "cuda:0": 7 * GIB}


def test_a_split_placement_loads_through_accelerate_and_runs(tiny, tmp_path):
    """The device_map="auto" path, with the CPU as its only device here (GPUs join it elsewhere)."""
    placement = Placement("cpu", "float32", SPLIT, {"cpu": GIB})
    runner = TextClassificationRunner(tiny.folder(text_classification), placement)
    assert placement.load_kwargs()["max_memory"] == {"cpu": GIB}
    runner.load()
    assert runner.model.device.type == "cpu"
    outputs = runner.run("text-classification", TEXT, tmp_path, CancelToken())
    assert {item["label"] for item in outputs["labels"]} == {"NEGATIVE", "POSITIVE"}


def test_placement_uses_the_cpu_without_a_gpu_or_when_asked():
    cpu = decide("auto", GpuInfo(0, False), lambda dtype: GIB, {"cpu": 8 * GIB})
    assert cpu == Placement("cpu", "float32") and cpu.load_kwargs() == {"dtype": torch.float32}
    assert decide("cpu", GpuInfo(1, True), lambda dtype: GIB, {"cuda:0": 8 * GIB}).device == "cpu"
    assert decide("cuda", GpuInfo(0, False), lambda dtype: GIB, {"cpu": 8 * GIB}).device == "cpu"


# -- the memory estimate ---------------------------------------------------------------------------------

def test_estimate_follows_the_dtype_and_reads_only_the_files_that_load(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    save_file({"w": torch.zeros(1000, dtype=torch.float16), "ids": torch.zeros(10, dtype=torch.int64)},
              str(folder / "model.safetensors"))
    save_file({"w": torch.zeros(1000, dtype=torch.float16)}, str(folder / "model.fp16.safetensors"))  # a variant
    (folder / "pytorch_model.bin").write_bytes(b"\0" * 4000)  # pickle: not loaded beside safetensors
    size = estimate(folder)
    assert size.total("float32") == int((1000 * 4 + 80) * (1 + OVERHEAD))
    assert size.total("float16") == int((1000 * 2 + 80) * (1 + OVERHEAD))

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    shutil.copy(folder / "pytorch_model.bin", pickled)
    with pytest.raises(FormatError):
        estimate(pickled)
    assert estimate(pickled, allow_pickle=True).total("float32") == int(4000 * (1 + OVERHEAD))


def test_estimate_prices_each_pipeline_component(tiny):
    size = estimate(tiny.folder(stable_diffusion))
    assert {"unet", "vae", "text_encoder"} <= set(size.components("float32"))


# -- media helpers ---------------------------------------------------------------------------------------

def test_resampling_keeps_length_and_pitch(tmp_path):
    import numpy as np

    tone = np.sin(2 * np.pi * 440 * np.arange(22050) / 22050).astype(np.float32)
    down = resample(tone, 22050, 16000)
    assert len(down) == 16000
    assert abs(np.argmax(np.abs(np.fft.rfft(down))) - 440) <= 1  # 1 s long: bin k is k Hz
    clip = load_audio(sample_audio(tmp_path / "clip.wav", seconds=0.5, rate=22050), 16000)
    assert clip.dtype == np.float32 and len(clip) == 8000


def test_wav_writing_scales_down_instead_of_clipping(tmp_path):
    import numpy as np
    import soundfile

    path = write_wav(np.array([0.0, 2.0, -1.0], dtype=np.float32), 16000, tmp_path, "text-to-speech")
    samples, rate = soundfile.read(path)
    assert rate == 16000
    assert samples.max() == pytest.approx(1.0, abs=1e-3) and samples.min() == pytest.approx(-0.5, abs=1e-3)


def test_pickle_weights_run_only_for_models_the_settings_allow(tiny, data):
    from transformers import AutoModelForSequenceClassification

    from app.settings import Settings
    from app.wiring import build_runtime

    (model,) = classifiers(tiny, data, "pickled")
    folder = data / "models" / "tiny--pickled"
    weights = AutoModelForSequenceClassification.from_pretrained(folder).state_dict()
    torch.save(weights, folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    settings = Settings(data_dir=str(data))
    assert LocalStore(data).get(model).format == "pickle"
    message = expert_error(lambda: run(build_runtime(settings), model))
    assert "pickle" in message and "allow_pickle_models" in message
    settings.allow_pickle_models = [model]
    assert run(build_runtime(settings), model)["labels"]
