"""The controller LLM: a GGUF chat model run in-process by llama.cpp.

Every stage talks to it through `Controller.chat`: the model's own chat template, temperature 0,
streaming, optional JSON-schema-constrained output, and cancellation between tokens.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol

from core.cancel import CancelToken, Cancelled

log = logging.getLogger(__name__)

GGUF_MAGIC = b"GGUF"


SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def loop_start(text: str, min_chars: int = 12, times: int = 2) -> int | None:
    """Where a small model started looping: the offset of the first sentence that repeats an
    earlier one for the `times`-th time, or None. Free text at temperature 0 can cycle forever."""
    seen: dict[str, int] = {}
    offset = 0
    for sentence in SENTENCE_END.split(text):
        start = text.find(sentence, offset)
        offset = start + len(sentence)
        key = sentence.strip().lower()
        if len(key) < min_chars or not key.endswith((".", "!", "?")):
            continue
        seen[key] = seen.get(key, 0) + 1
        if seen[key] >= times:
            return start
    return None


class ControllerError(RuntimeError):
    """The controller model cannot be used; the message says why in plain words."""


@dataclass
class ChatResult:
    text: str
    finish_reason: str  # "stop" | "length"
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def json(self):
        if self.finish_reason == "length":
            raise ControllerError("the controller ran out of tokens before finishing its reply")
        return json.loads(self.text)


Message = dict  # {"role": "system" | "user" | "assistant", "content": str}


class Controller(Protocol):
    name: str

    def chat(self, messages: list[Message], *, schema: dict | None = None, max_tokens: int = 512,
             on_token: Callable[[str], None] | None = None,
             cancel: CancelToken | None = None) -> ChatResult:
        ...


def check_gguf(path: Path) -> None:
    """Raise ControllerError unless `path` is a readable GGUF file."""
    if not path.exists():
        raise ControllerError(f"controller model not found: {path}")
    if path.is_dir():
        raise ControllerError(f"controller model is a folder, not a .gguf file: {path}")
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as error:
        raise ControllerError(f"cannot read controller model {path}: {error.strerror}") from error
    if magic != GGUF_MAGIC:
        raise ControllerError(f"{path} is not a GGUF model file (it does not start with 'GGUF')")


@dataclass
class LlamaSettings:
    path: Path
    n_ctx: int = 4096
    n_threads: int | None = None
    n_gpu_layers: int = -1  # all layers on the GPU when llama.cpp was built with one; ignored on CPU
    seed: int = 0


class LlamaController:
    """llama-cpp-python behind the Controller interface. Loads lazily, on first use."""

    def __init__(self, settings: LlamaSettings) -> None:
        check_gguf(settings.path)
        self.settings = settings
        self.name = settings.path.name
        self._llama = None
        self._lock = threading.Lock()  # one generation at a time: a llama context is not thread-safe

    def load(self):
        if self._llama is None:
            try:
                from llama_cpp import Llama
            except ImportError as error:  # pragma: no cover - set-up installs it
                raise ControllerError("llama-cpp-python is not installed; run the set-up script") from error
            try:
                self._llama = Llama(
                    model_path=str(self.settings.path),
                    n_ctx=self.settings.n_ctx,
                    n_threads=self.settings.n_threads or max(1, os.cpu_count() or 1),
                    n_gpu_layers=self.settings.n_gpu_layers,
                    seed=self.settings.seed,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as error:
                raise ControllerError(f"llama.cpp could not load {self.settings.path.name}: {error}") from error
        return self._llama

    def chat(self, messages, *, schema=None, max_tokens=512, on_token=None, cancel=None) -> ChatResult:
        with self._lock:
            llama = self.load()
            if cancel is not None:
                cancel.raise_if_cancelled()
            kwargs = {}
            if schema is not None:
                kwargs["response_format"] = {"type": "json_object", "schema": schema}
            else:
                kwargs["repeat_penalty"] = 1.15  # free text only: it would bend JSON keys
            stream = llama.create_chat_completion(
                messages=messages, temperature=0.0, top_k=1, max_tokens=max_tokens, stream=True, **kwargs)
            parts: list[str] = []
            finish = "stop"
            try:
                for chunk in stream:
                    choice = chunk["choices"][0]
                    piece = choice["delta"].get("content") or ""
                    if piece:
                        if schema is None and piece.rstrip().endswith((".", "!", "?")):
                            cut = loop_start("".join(parts) + piece)
                            if cut is not None:  # stop a repetition loop; keep what came before
                                parts = ["".join(parts)[:cut]]
                                finish = "stop"
                                break
                        parts.append(piece)
                        if on_token is not None:
                            on_token(piece)
                    if choice.get("finish_reason"):
                        finish = choice["finish_reason"]
                    if cancel is not None and cancel.cancelled:
                        raise Cancelled("cancelled")
            finally:
                stream.close()  # stops generation at once when we leave early
            return ChatResult("".join(parts), finish)
