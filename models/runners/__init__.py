"""Runners: one class per family of tasks, each loading a model folder and running it.

A runner declares the tasks it serves (`tasks`); `load` reads the folder once, and `run(task,
inputs, workdir, cancel)` takes the resolved inputs (slot -> text or absolute path), the folder
for artifacts and the cancel token, and returns outputs keyed by kind (see `base.Runner`).
Modules import torch, transformers and diffusers only inside methods, so listing runners is cheap.
"""

from __future__ import annotations

from models.runners.audio import AudioClassificationRunner, SpeechRecognitionRunner, TextToSpeechRunner
from models.runners.base import Runner
from models.runners.diffusion import ImageToImageRunner, TextToImageRunner
from models.runners.generation import CausalLMRunner, Seq2SeqRunner
from models.runners.multimodal import (DocumentQuestionAnsweringRunner, ImageToTextRunner,
                                       VisualQuestionAnsweringRunner)
from models.runners.text import (FillMaskRunner, QuestionAnsweringRunner, SentenceSimilarityRunner,
                                 TextClassificationRunner, TokenClassificationRunner, ZeroShotClassificationRunner)
from models.runners.vision import (DepthEstimationRunner, ImageClassificationRunner, ImageSegmentationRunner,
                                   ObjectDetectionRunner, ZeroShotImageClassificationRunner)

RUNNERS: tuple[type[Runner], ...] = (
    # Text.
    TextClassificationRunner, TokenClassificationRunner, ZeroShotClassificationRunner, QuestionAnsweringRunner,
    FillMaskRunner, SentenceSimilarityRunner, Seq2SeqRunner, CausalLMRunner,
    # Vision and vision-language.
    ImageClassificationRunner, ZeroShotImageClassificationRunner, ObjectDetectionRunner, ImageSegmentationRunner,
    DepthEstimationRunner, ImageToTextRunner, VisualQuestionAnsweringRunner, DocumentQuestionAnsweringRunner,
    TextToImageRunner, ImageToImageRunner,
    # Audio.
    SpeechRecognitionRunner, AudioClassificationRunner, TextToSpeechRunner,
)


def runner_for(task: str) -> type[Runner] | None:
    return next((r for r in RUNNERS if task in r.tasks), None)


def supported_tasks() -> list[str]:
    return [task for runner in RUNNERS for task in runner.tasks]
