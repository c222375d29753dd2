"""The controller LLM: a GGUF chat model run in-process by llama.cpp.

Every stage talks to it through `Controller.chat`: the model's own chat template, temperature 0,
streaming, optional JSON-schema-constrained output, and cancellation between tokens.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Protocol

from common.cancel import Cancelled, CancelToken, wait_unless_cancelled
from common.listeners import Listeners

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
    first_token_s: float = 0.0
    seconds: float = 0.0

    def json(self):
        if self.finish_reason == "length":
            raise ControllerError("the controller ran out of tokens before finishing its reply")
        return json.loads(self.text)


Message = dict  # {"role": "system" | "user" | "assistant", "content": str}


class Controller(Protocol):
    name: str

    def chat(self, messages: list[Message], *, schema: dict | None = None, max_tokens: int = 512,
             on_token: Callable[[str], None] | None = None, cancel: CancelToken | None = None,
             stage: str = "general") -> ChatResult:
        """`stage` names the prompt family, so a backend can keep a warm prefix per stage."""


def check_gguf(path: Path) -> None:
    """Raise ControllerError unless `path` is a readable GGUF file."""
    if not path.exists():
        raise ControllerError(f"controller model not found: {path}")
    if path.is_dir():
        raise ControllerError(f"controller model is a folder, not a .gguf file: {path}")
    if not path.is_file():  # a FIFO or a device would block the read below, or never end
        raise ControllerError(f"controller model is not a regular file: {path}")
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
    """llama-cpp-python behind the Controller interface. Loads lazily, on first use.

    Prompt caching: llama.cpp reuses the evaluated state of the longest common token prefix of
    consecutive prompts. Stages have different fixed prefixes (planning instructions and task
    list; answer instructions), so each stage that asks for it gets its own context, and a request
    pays only for the tokens after its stage's prefix. On CPU the contexts share the weights
    through the memory-mapped file; when llama.cpp offloads to a GPU, every context would copy
    the weights into VRAM, so there is one context for all stages.
    """

    PLANNING = "planning"
    GENERAL = "general"

    def __init__(self, settings: LlamaSettings) -> None:
        check_gguf(settings.path)
        self.settings = settings
        self.name = settings.path.name
        self._contexts: dict[str, object] = {}
        self._lock = threading.Lock()  # one generation at a time: contexts share threads and weights
        # Bytes the loaded weights and contexts hold, sent after each load and close: the wiring
        # reserves them in the expert runtime, so experts and controller share one budget.
        self.memory: Listeners[tuple[int, str]] = Listeners()

    def load(self, stage: str = GENERAL):
        key = self._context_key(stage)
        if key not in self._contexts:
            self._contexts[key] = self._new_context()
            self.memory.emit((self.memory_bytes(), "cuda:0" if self._gpu_offload() else "cpu"))
        return self._contexts[key]

    @property
    def contexts_open(self) -> int:
        return len(self._contexts)

    def memory_bytes(self) -> int:
        """The weights once (every context maps the same file; on a GPU there is one context) and
        each context's KV cache in f16, from the model's own metadata."""
        if not self._contexts:
            return 0
        return self.settings.path.stat().st_size + sum(_kv_cache_bytes(c) for c in self._contexts.values())

    def close(self) -> None:
        with self._lock:
            for context in self._contexts.values():
                getattr(context, "close", lambda: None)()
            self._contexts.clear()
        self.memory.emit((0, "cpu"))

    def _context_key(self, stage: str) -> str:
        if stage == self.GENERAL or self._gpu_offload():
            return self.GENERAL
        return stage

    def _gpu_offload(self) -> bool:
        import llama_cpp

        return self.settings.n_gpu_layers != 0 and bool(llama_cpp.llama_supports_gpu_offload())

    def _new_context(self):
        try:
            from core.llm import llama_output
            from core.llm.greedy_grammar import GreedyGrammarLlama
        except ImportError as error:  # pragma: no cover - set-up installs it
            raise ControllerError("llama-cpp-python is not installed; run the set-up script") from error
        llama_output.install()
        try:
            return GreedyGrammarLlama(
                model_path=str(self.settings.path),
                n_ctx=self.settings.n_ctx,
                n_threads=self.settings.n_threads or max(1, os.cpu_count() or 1),
                n_gpu_layers=self.settings.n_gpu_layers,
                seed=self.settings.seed,
                verbose=False,
            )
        except (ValueError, RuntimeError) as error:
            raise ControllerError(f"llama.cpp could not load {self.settings.path.name}: {error}") from error

    @property
    def loaded(self) -> bool:
        return bool(self._contexts)

    @contextlib.contextmanager
    def _one_at_a_time(self, cancel):
        """The controller's lock, waited for with Stop honoured: another generation (a warm-up
        load, a turn being cancelled) may hold it for seconds, and Stop must not wait for that."""
        while not self._lock.acquire(timeout=0.05):
            if cancel is not None:
                cancel.raise_if_cancelled()
        try:
            yield
        finally:
            self._lock.release()

    def chat(self, messages, *, schema=None, max_tokens=512, on_token=None, cancel=None,
             stage: str = GENERAL) -> ChatResult:
        with self._one_at_a_time(cancel):
            llama = self.load(stage)
            from core.llm.greedy_grammar import StopRequested, forced_prefixes  # loaded with the model, above

            if cancel is not None:
                cancel.raise_if_cancelled()
            kwargs = {}
            if schema is not None:
                # key order matters: it is the output order
                kwargs["grammar"] = _grammar_unless_cancelled(json.dumps(schema), cancel)
            llama.draft_from(forced_prefixes(schema) if schema is not None else [])
            if schema is None:
                kwargs["repeat_penalty"] = 1.15  # free text only: it would bend JSON keys
            start = time.perf_counter()
            first_token = None
            llama.stop_on(cancel)
            stream = llama.create_chat_completion(
                messages=messages, temperature=0.0, top_k=1, max_tokens=max_tokens, stream=True, **kwargs)
            parts: list[str] = []
            finish = "stop"
            pieces = 0
            try:
                for chunk in stream:
                    choice = chunk["choices"][0]
                    piece = choice["delta"].get("content") or ""
                    if piece:
                        pieces += 1
                        first_token = first_token or time.perf_counter() - start
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
            except StopRequested:  # cancelled in the middle of a decode
                raise Cancelled("cancelled") from None
            finally:
                llama.stop_on(None)
                stream.close()  # stops generation at once when we leave early
            return ChatResult("".join(parts), finish, completion_tokens=pieces,
                              first_token_s=first_token or 0.0, seconds=time.perf_counter() - start)


def _kv_cache_bytes(llama) -> int:
    meta = getattr(llama, "metadata", {}) or {}
    arch = meta.get("general.architecture", "")
    shape = {key[len(arch) + 1:]: value for key, value in meta.items() if key.startswith(arch + ".")}
    return kv_cache_bytes(shape, llama.n_ctx())


# The architecture's metadata keys (without the `<arch>.` prefix) that size a context.
KV_SHAPE_KEYS = ("block_count", "embedding_length", "attention.head_count", "attention.head_count_kv")


def kv_cache_bytes(shape: dict, n_ctx: int) -> int:
    """K and V for every layer and position of a context, f16 (llama.cpp's default), plus a tenth
    for its compute buffers; `shape` holds the KV_SHAPE_KEYS values. 0 when they are missing."""
    try:
        layers = int(shape["block_count"])
        width = int(shape["embedding_length"])
        heads = int(shape.get("attention.head_count", 1))
        kv_heads = int(shape.get("attention.head_count_kv", heads))
    except (KeyError, TypeError, ValueError):
        return 0
    kv = 2 * layers * n_ctx * (width * kv_heads // max(heads, 1)) * 2
    return int(kv * 1.1)


_compiler = None  # one thread compiling grammars, so a wait for one can be cut short by Stop


def _grammar_unless_cancelled(schema_json: str, cancel: CancelToken | None):
    """`_grammar`, waited for with Stop honoured: a new plan schema takes a second or more to
    compile; the compile goes on in the background and is cached for the next request."""
    global _compiler
    if cancel is None:
        return _grammar(schema_json)
    from concurrent.futures import ThreadPoolExecutor

    with _compiler_lock:
        _compiler = _compiler or ThreadPoolExecutor(max_workers=1, thread_name_prefix="grammar")
    return wait_unless_cancelled(_compiler.submit(_grammar, schema_json), cancel)


_compiler_lock = threading.Lock()


@lru_cache(maxsize=32)
def _grammar(schema_json: str):
    """The GBNF grammar of a JSON schema, built once per schema (plans reuse a handful)."""
    from llama_cpp import LlamaGrammar

    return LlamaGrammar.from_json_schema(schema_json, verbose=False)
