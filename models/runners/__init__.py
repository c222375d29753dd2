"""Runners: one class per family of tasks, each loading a model folder and running it.

A runner declares the tasks it serves (`tasks`); `load` reads the folder once, and `run(task,
inputs, workdir, cancel)` takes the resolved inputs (slot -> text or absolute path), the folder
for artifacts and the cancel token, and returns outputs keyed by kind (see `base.Runner`).
Modules import torch, transformers and diffusers only inside methods, so listing runners is cheap.

A runner with `needs_model = False` (the Canny annotator) is offered as a built-in model record,
and one with `model_tasks` also runs the installed models of those tasks (depth-control runs
depth-estimation models).
"""

from __future__ import annotations

from models.record import ModelRecord
from models.runners.audio import AudioClassificationRunner, SpeechRecognitionRunner, TextToSpeechRunner
from models.runners.audio_convert import VoiceConversionRunner
from models.runners.base import Runner
from models.runners.control import CannyControlRunner, ControlNetRunner, DepthControlRunner, SegControlRunner
from models.runners.diffusion import ImageToImageRunner, TextToImageRunner
from models.runners.editing import ImageEditingRunner
from models.runners.generation import CausalLMRunner, Seq2SeqRunner
from models.runners.multimodal import (DocumentQuestionAnsweringRunner, ImageToTextRunner,
                                       VisualQuestionAnsweringRunner)
from models.runners.text import (FillMaskRunner, QuestionAnsweringRunner, SentenceSimilarityRunner,
                                 TextClassificationRunner, TokenClassificationRunner, ZeroShotClassificationRunner)
from models.runners.video import TextToVideoRunner
from models.runners.vision import (DepthEstimationRunner, ImageClassificationRunner, ImageSegmentationRunner,
                                   ObjectDetectionRunner, ZeroShotImageClassificationRunner)

BUILTIN_SOURCE = "builtin"  # the `source` of a built-in model's record

RUNNERS: tuple[type[Runner], ...] = (
    # Text.
    TextClassificationRunner, TokenClassificationRunner, ZeroShotClassificationRunner, QuestionAnsweringRunner,
    FillMaskRunner, SentenceSimilarityRunner, Seq2SeqRunner, CausalLMRunner,
    # Vision and vision-language.
    ImageClassificationRunner, ZeroShotImageClassificationRunner, ObjectDetectionRunner, ImageSegmentationRunner,
    DepthEstimationRunner, ImageToTextRunner, VisualQuestionAnsweringRunner, DocumentQuestionAnsweringRunner,
    TextToImageRunner, ImageToImageRunner, ImageEditingRunner, TextToVideoRunner,
    # ControlNet: annotators, then drawing that follows their maps.
    CannyControlRunner, DepthControlRunner, SegControlRunner, ControlNetRunner,
    # Audio.
    SpeechRecognitionRunner, AudioClassificationRunner, TextToSpeechRunner, VoiceConversionRunner,
)


def runner_for(task: str) -> type[Runner] | None:
    return next((r for r in RUNNERS if task in r.tasks), None)


def supported_tasks() -> list[str]:
    return [task for runner in RUNNERS for task in runner.tasks]


def model_tasks_for(task: str) -> tuple[str, ...]:
    """The tasks whose installed models can do `task`: its own, then those its runner borrows."""
    runner = runner_for(task)
    return (task, *runner.model_tasks) if runner is not None else ()


def builtin_records(task: str | None = None) -> list[ModelRecord]:
    """The runners that need no model, as records of built-in models (all, or those for `task`)."""
    return [ModelRecord(runner.builtin_id, name, BUILTIN_SOURCE, "", 0, runner.builtin_description, BUILTIN_SOURCE)
            for runner in RUNNERS if not runner.needs_model for name in runner.tasks if task in (None, name)]


def builtin_record(model_id: str) -> ModelRecord | None:
    return next((record for record in builtin_records() if record.id == model_id), None)
