"""The task catalogue: the Hugging Face task types the controller plans with.

Each type names its inputs (argument slot -> modality) and its output modality, so a plan's
arguments can be checked against what a task accepts and `<GENERATED>-k` references can be
checked against what the producing task emits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TEXT, IMAGE, AUDIO, VIDEO = "text", "image", "audio", "video"
MODALITIES = (TEXT, IMAGE, AUDIO, VIDEO)


@dataclass(frozen=True)
class Slot:
    name: str
    modality: str
    hint: str = ""
    required: bool = True
    # A setting the user states (a question, labels, a language, an instruction), not the thing
    # worked on: a result of an earlier step goes to the other inputs (core/planning/data_flow.py).
    parameter: bool = False
    # What to draw, show or write: the user's own description, which an earlier result replaces
    # only when the step points back at it ("draw it", "write a story about that").
    prompt: bool = False


@dataclass(frozen=True)
class TaskType:
    name: str
    inputs: tuple[Slot, ...]
    output: str
    description: str
    # Text tasks that HuggingGPT lets the controller LLM do itself when no expert is installed.
    controller_fallback: bool = False
    aliases: tuple[str, ...] = field(default=())
    # A ControlNet drawer: the annotator whose control map it draws from. A Canny map drawn
    # from by the depth ControlNet is a valid plan that draws the wrong picture.
    follows: str = ""

    @property
    def input_modalities(self) -> set[str]:
        return {slot.modality for slot in self.inputs}

    def slot(self, name: str) -> Slot | None:
        return next((s for s in self.inputs if s.name == name), None)


def _t(name, inputs, output, description, controller_fallback=False, aliases=(), follows=""):
    slots = tuple(spec if isinstance(spec, Slot) else Slot(*spec) for spec in inputs)
    return TaskType(name, slots, output, description, controller_fallback, tuple(aliases), follows)


_TEXT_IN = (("text", TEXT, "the text to work on"),)
_PROMPT_IN = (Slot("text", TEXT, "the prompt", prompt=True),)
_IMAGE_IN = (("image", IMAGE, "an image file or <GENERATED>-k"),)
_AUDIO_IN = (("audio", AUDIO, "an audio file or <GENERATED>-k"),)
_CONTROLLED_IN = (Slot("text", TEXT, "what to draw", parameter=True),
                  ("image", IMAGE, "the control map (or photo) to follow, or <GENERATED>-k"))

TASK_TYPES: tuple[TaskType, ...] = (
    # Natural language.
    _t("text-classification", _TEXT_IN, TEXT, "label a text (sentiment, topic)"),
    _t("token-classification", _TEXT_IN, TEXT, "label words in a text (named entities, parts of speech)"),
    _t("zero-shot-classification", (("text", TEXT, "the text"), Slot("labels", TEXT, "comma-separated candidate labels", parameter=True)),
       TEXT, "classify a text into labels given in the request"),
    _t("question-answering", (Slot("question", TEXT, "the question", parameter=True), ("context", TEXT, "the text holding the answer")),
       TEXT, "answer a question from a given text", controller_fallback=True),
    _t("summarization", _TEXT_IN, TEXT, "shorten a text", controller_fallback=True),
    _t("translation", (("text", TEXT, "the text"), Slot("language", TEXT, "the target language", parameter=True)),
       TEXT, "translate a text into another language", controller_fallback=True),
    _t("text2text-generation", _TEXT_IN, TEXT, "rewrite or transform a text", controller_fallback=True),
    _t("text-generation", _PROMPT_IN, TEXT, "continue or write text from a prompt", controller_fallback=True),
    _t("conversational", _PROMPT_IN, TEXT, "reply in a conversation, chit-chat", controller_fallback=True),
    _t("sentence-similarity", (("text", TEXT, "the first sentence"), ("text2", TEXT, "the second sentence")),
       TEXT, "score how similar two sentences are"),
    _t("fill-mask", (("text", TEXT, "a text with a [MASK] token"),), TEXT, "fill in a masked word"),
    # Vision.
    _t("image-classification", _IMAGE_IN, TEXT, "say what an image shows, as labels"),
    _t("zero-shot-image-classification", (_IMAGE_IN[0], Slot("labels", TEXT, "comma-separated candidate labels", parameter=True)),
       TEXT, "classify an image into labels given in the request"),
    _t("object-detection", _IMAGE_IN, IMAGE, "find and box the objects in an image"),
    _t("image-segmentation", _IMAGE_IN, IMAGE, "split an image into segments with masks"),
    _t("depth-estimation", _IMAGE_IN, IMAGE, "estimate a depth map of an image"),
    # ControlNet (HuggingGPT's annotators and conditioned drawing): a control map of an image, then
    # a new image drawn from a description following that map.
    _t("canny-control", _IMAGE_IN, IMAGE, "outline an image: its edges as a Canny map for a ControlNet drawing"),
    _t("depth-control", _IMAGE_IN, IMAGE, "make a depth control map of an image for a ControlNet drawing"),
    _t("seg-control", _IMAGE_IN, IMAGE, "make a segmentation control map of an image for a ControlNet drawing"),
    _t("canny-text-to-image", _CONTROLLED_IN, IMAGE,
       "draw a described image that keeps the outlines (edges) of a photo or canny map", follows="canny-control"),
    _t("depth-text-to-image", _CONTROLLED_IN, IMAGE,
       "draw a described image that keeps the depth layout of a depth map", follows="depth-control"),
    _t("seg-text-to-image", _CONTROLLED_IN, IMAGE,
       "draw a described image that keeps the regions of a segmentation map", follows="seg-control"),
    _t("image-to-text", _IMAGE_IN, TEXT, "caption an image or read its text"),
    _t("visual-question-answering", (_IMAGE_IN[0], Slot("text", TEXT, "the question about the image", parameter=True)),
       TEXT, "answer a question about an image"),
    _t("document-question-answering", (_IMAGE_IN[0], Slot("text", TEXT, "the question about the document", parameter=True)),
       TEXT, "answer a question about a scanned document"),
    _t("text-to-image", (Slot("text", TEXT, "what to draw", prompt=True),), IMAGE, "generate an image from a description"),
    _t("image-to-image", (_IMAGE_IN[0], Slot("text", TEXT, "how to change it", required=False, parameter=True)), IMAGE,
       "transform an image into a new one"),
    _t("image-editing", (Slot("text", TEXT, "the edit instruction", parameter=True), _IMAGE_IN[0]), IMAGE,
       "edit an image following an instruction"),
    _t("text-to-video", (Slot("text", TEXT, "what to show", prompt=True),), VIDEO, "generate a short video from a description"),
    _t("tabular-classification", _IMAGE_IN, TEXT, "classify a table given as an image"),
    # Audio.
    _t("automatic-speech-recognition", _AUDIO_IN, TEXT, "transcribe speech to text"),
    _t("audio-classification", _AUDIO_IN, TEXT, "label an audio clip (sound, emotion, command)"),
    _t("text-to-speech", (("text", TEXT, "the text to speak"),), AUDIO, "read a text aloud as audio"),
    _t("audio-to-audio", _AUDIO_IN, AUDIO, "enhance, separate or convert audio"),
)

_BY_NAME = {t.name: t for t in TASK_TYPES}

# Task types the catalogue names but this app will not run, with the reason in plain words. The
# planner leaves them out (PLANNABLE_TASK_TYPES); evaluation still maps benchmark tools onto them.
UNAVAILABLE: dict[str, str] = {
    "tabular-classification": "tabular models are published as scikit-learn or XGBoost pickles (joblib), "
                              "which can run arbitrary code when loaded, so no tabular model is run here",
}

PLANNABLE_TASK_TYPES: tuple[TaskType, ...] = tuple(t for t in TASK_TYPES if t.name not in UNAVAILABLE)


def get_task_type(name: str) -> TaskType | None:
    return _BY_NAME.get(normalise_task_name(name))


def normalise_task_name(name: str) -> str:
    """'Sentence Similarity', 'sentence_similarity' -> 'sentence-similarity'."""
    return "-".join(name.strip().lower().replace("_", " ").replace("-", " ").split())


def task_names() -> list[str]:
    return [t.name for t in TASK_TYPES]


def unavailable_reason(name: str) -> str | None:
    """Why a task type cannot run in this app, or None when it can."""
    return UNAVAILABLE.get(normalise_task_name(name))
