"""Greedy decoding under a grammar, checking the grammar against the best token first.

llama-cpp-python's sampler chain runs the grammar over the whole vocabulary (49k tokens for
SmolLM2) at every step before picking the best one; with a plan schema's grammar that costs about
as much as the model itself. At temperature 0 the answer is the highest-logit token the grammar
accepts, so this sampler asks the grammar about the highest-logit token alone and falls back to
the whole vocabulary only when that token is refused (llama.cpp's own common sampler does the same).
The tokens chosen are exactly those of the full check.

Used through `GreedyGrammarLlama`, a `Llama` whose greedy grammar decoding takes this path, and
whose decoding Stop can abort mid-batch (`AbortFlag`).

A plan is mostly text the model copies: JSON keys and punctuation its demos show, the request's
words in steps and arguments. `LookupDraft` guesses the next tokens from the prompt and the reply
so far; the guesses are read in one batch with the token before them and kept up to the first one
the model would not have chosen (prompt lookup decoding), so a copied run costs one batch instead
of one decode per token. The reply is what one decode per token gives up to rounding: a batch's
logits round a little differently, so a near tie can go the other way (docs/planning.md).
"""

from __future__ import annotations

import ctypes
import json
import math
import sys

import llama_cpp
import numpy as np
from llama_cpp import Llama

_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)


class StopRequested(Exception):
    """Raised out of a prompt evaluation when the chat was cancelled; the controller turns it into
    the app's Cancelled."""


def _strlen_address() -> int | None:
    """The C library's `strlen`, or None where it cannot be found."""
    try:
        libc = ctypes.CDLL(None) if sys.platform != "win32" else ctypes.cdll.msvcrt
        return ctypes.cast(libc.strlen, ctypes.c_void_p).value
    except (OSError, AttributeError):
        return None


class AbortFlag:
    """One byte that llama.cpp reads between the nodes of a decode, to stop it mid-batch.

    llama.cpp asks a context's abort callback before each node of the compute graph (hundreds per
    decode). A Python callback would take the GIL every time, and wait up to the interpreter's
    switch interval whenever another thread holds it; so the callback is the C library's `strlen`
    over a one-byte string, which returns 1 (abort) once the byte is set and 0 while it is clear,
    without entering Python. A CPU decode then stops within one graph node of Stop; a GPU backend
    finishes its batch first.
    """

    def __init__(self) -> None:
        self._byte = ctypes.create_string_buffer(2)  # the byte and the terminating zero
        self._callback = None  # kept referenced while llama.cpp holds the pointer

    def install(self, ctx) -> bool:
        """Make `ctx` (a llama_context pointer) abort while the flag is set; False if it cannot."""
        address = _strlen_address()
        try:
            setter = llama_cpp.llama_cpp._lib.llama_set_abort_callback  # not bound by llama-cpp-python
            setter.argtypes = [ctypes.c_void_p, llama_cpp.ggml_abort_callback, ctypes.c_void_p]
            setter.restype = None
            if address is None:
                return False
            self._callback = llama_cpp.ggml_abort_callback(address)
            setter(ctx, self._callback, ctypes.cast(self._byte, ctypes.c_void_p))
        except (AttributeError, TypeError, ctypes.ArgumentError):  # another llama.cpp build
            return False
        return True

    def set(self) -> None:
        self._byte[0] = b"\x01"

    def clear(self) -> None:
        self._byte[0] = b"\x00"

    @property
    def is_set(self) -> bool:
        return self._byte[0] != b"\x00"


def forced_prefixes(schema) -> list[str]:
    """The text each object in a JSON schema must start with, as far as its leading properties are
    constants: `{"step": "read it aloud", "id": 1, "task": "text-to-speech", "dep": ` for a plan
    position whose step and type are known. Objects with no leading constant give nothing."""
    found = []

    def walk(node) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        properties = node.get("properties")
        if isinstance(properties, dict):
            parts = []
            for key, value in properties.items():
                if not (isinstance(value, dict) and "const" in value):
                    parts.append(f"{json.dumps(key)}: ")
                    break
                # escaped as llama-cpp-python's grammar writes a constant (plain json.dumps)
                parts.append(f"{json.dumps(key)}: {json.dumps(value['const'])}")
            if len(parts) > 1 or (parts and not parts[0].endswith(": ")):
                found.append("{" + ", ".join(parts))
        for value in node.values():
            walk(value)

    walk(schema)
    return found


class LookupDraft:
    """Guesses for the next tokens: what followed the reply's last tokens in the text the grammar
    forces (`forced`, tokenised forced_prefixes), else what followed their latest earlier
    occurrence in the prompt and reply. Longest match first (at most `max_ngram` tokens); forced
    text is drafted up to `max_forced` tokens, because the grammar admits nothing else, other text
    up to `max_tokens`, because a wrong guess costs a longer batch.

    llama-cpp-python's LlamaPromptLookupDecoding takes the earliest occurrence in the prompt; the
    latest is the one to copy here, because the plan written so far and the demo nearest the
    request come last, and it knows nothing of the grammar.
    """

    # Chosen on six plans of product requests by the decodes they cost (a decode here costs about
    # 11 ms + 5.7 ms a token): 0.59 of one decode per token, against 0.64 with context alone and
    # 0.61-0.66 with drafts of 2, 4, 8 or 16 tokens (a throw-away script, docs/planning.md); a
    # speed setting: what is drafted changes a plan only through rounding (module docstring).
    def __init__(self, max_ngram: int = 6, max_tokens: int = 3, max_forced: int = 12) -> None:
        self.max_ngram = max_ngram
        self.max_tokens = max_tokens
        self.max_forced = max_forced
        self.forced = np.empty(0, dtype=np.intc)

    def force(self, texts: list[list[int]]) -> None:
        """The forced texts, tokenised, kept as one array with -1 (no token) between them."""
        self.forced = np.asarray([t for text in texts for t in [*text, -1]], dtype=np.intc)

    def __call__(self, ids: np.ndarray, /, **_) -> np.ndarray:
        ids = np.asarray(ids)
        # at least two tokens of context: one alone is too often a quote or a comma
        draft = _continuation(ids, self.forced, self.max_ngram, 2, self.max_forced, agreed=True)
        end = np.flatnonzero(draft < 0)
        draft = draft[:end[0]] if end.size else draft
        if draft.size:
            return draft
        return _continuation(ids, ids, self.max_ngram, 1, self.max_tokens, own=True)


def _continuation(ids: np.ndarray, corpus: np.ndarray, max_ngram: int, min_ngram: int, count: int,
                  own: bool = False, agreed: bool = False) -> np.ndarray:
    """Up to `count` tokens that follow, in `corpus`, the latest occurrence of the longest suffix
    of `ids` (`max_ngram` tokens down to `min_ngram`) that has a continuation there. `own`: the
    corpus is `ids` itself, whose last n-gram is not an occurrence. `agreed`: only the tokens
    that follow every occurrence alike (several branches of a schema start alike)."""
    searched = corpus[:-1] if own else corpus
    for n in range(min(max_ngram, len(ids), len(searched)), min_ngram - 1, -1):
        windows = np.lib.stride_tricks.sliding_window_view(searched, n)
        found = np.flatnonzero((windows == ids[-n:]).all(axis=1))
        found = found[found + n < len(corpus)]
        if not found.size:
            continue
        draft = corpus[int(found[-1]) + n:][:count]
        if agreed:
            for start in found[:-1] + n:
                other = corpus[int(start):][:len(draft)]
                same = np.flatnonzero(other != draft[:len(other)])
                draft = draft[:same[0] if same.size else len(other)]
        return np.asarray(draft, dtype=np.intc)
    return np.empty(0, dtype=np.intc)


class GreedyGrammarSampler:
    """The parts of llama-cpp-python's sampler interface that `Llama.generate` uses."""

    def __init__(self, llama: Llama, grammar) -> None:
        self.n_vocab = llama.n_vocab()
        self.grammar = llama_cpp.llama_sampler_init_grammar(
            llama._model.vocab, grammar._grammar.encode("utf-8"), grammar._root.encode("utf-8"))
        if not self.grammar:
            raise ValueError("llama.cpp could not parse the grammar")
        self._one = (llama_cpp.llama_token_data * 1)()
        self._all = (llama_cpp.llama_token_data * self.n_vocab)()
        self._all_view = np.ctypeslib.as_array(ctypes.cast(self._all, ctypes.POINTER(ctypes.c_uint8)),
                                               shape=(self.n_vocab * _TOKEN_DATA.itemsize,)).view(_TOKEN_DATA)

    def sample(self, ctx, idx: int = -1) -> int:
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx.ctx, idx), shape=(self.n_vocab,))
        token = int(np.argmax(logits))
        if not self._allows(token, float(logits[token])):
            token = self._best_allowed(logits)
        llama_cpp.llama_sampler_accept(self.grammar, token)
        return token

    def _allows(self, token: int, logit: float) -> bool:
        self._one[0].id, self._one[0].logit, self._one[0].p = token, logit, 0.0
        candidates = llama_cpp.llama_token_data_array(data=self._one, size=1, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(candidates))
        return not math.isinf(self._one[0].logit)

    def _best_allowed(self, logits: np.ndarray) -> int:
        view = self._all_view
        view["id"] = np.arange(self.n_vocab, dtype=np.int32)
        view["logit"] = logits
        view["p"] = 0.0
        candidates = llama_cpp.llama_token_data_array(data=self._all, size=self.n_vocab, selected=-1, sorted=False)
        llama_cpp.llama_sampler_apply(self.grammar, ctypes.byref(candidates))
        return int(view["id"][int(np.argmax(view["logit"]))])

    def accept(self, token: int) -> None:
        llama_cpp.llama_sampler_accept(self.grammar, token)

    def reset(self) -> None:
        llama_cpp.llama_sampler_reset(self.grammar)

    def close(self) -> None:
        if self.grammar:
            llama_cpp.llama_sampler_free(self.grammar)
            self.grammar = None

    def __del__(self) -> None:
        self.close()


class GreedyGrammarLlama(Llama):
    """A `Llama` that decodes greedily under a grammar with `GreedyGrammarSampler`; every other
    combination of sampling settings goes through llama-cpp-python's own sampler chain.

    A long prompt takes seconds on a CPU, and Stop must act within a fraction of one: `stop_on`
    makes a cancellation abort the decode in progress (`AbortFlag`). Where the abort callback
    cannot be installed, prompts are read in chunks of EVAL_CHUNK tokens with Stop asked between
    them (which costs about 5% of prompt time at 128). An aborted decode is not counted in
    `n_tokens`, and llama-cpp-python drops whatever it left in the KV cache beyond that on the
    next eval."""

    EVAL_CHUNK = 128  # only without the abort callback

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._abort = AbortFlag()
        self.aborts_mid_batch = self._abort.install(self._ctx.ctx)
        self._watched = None
        self._lookup = LookupDraft()
        self.drafts = True  # prompt lookup drafts under a grammar (off: one decode per token)
        self._score_next = False

    def stop_on(self, cancel) -> None:
        """Abort decoding once `cancel` (a CancelToken, or None) fires, until the next call."""
        self._abort.clear()
        self._watched = cancel
        if cancel is not None:
            cancel.on_cancel(lambda: self._abort.set()
                             if self._watched is cancel and self.aborts_mid_batch else None)

    def draft_from(self, texts: list[str]) -> None:
        """Draft the next chat's reply from these texts first (forced_prefixes of its schema)."""
        self._lookup.force([self.tokenize(text.encode("utf-8"), add_bos=False) for text in texts])

    def _stop_asked(self) -> bool:
        return self._watched is not None and self._watched.cancelled

    def eval(self, tokens) -> None:
        tokens = list(tokens)
        scored, self._score_next = self._score_next, False
        if scored:  # a sampled token and its draft: logits at every position, to check the draft
            self._decode(tokens, scored=True)
            return
        # With the callback, llama.cpp's own batch size; Stop is also asked between batches,
        # because a GPU backend does not read the flag inside one.
        chunk = max(self.n_batch, 1) if self.aborts_mid_batch else self.EVAL_CHUNK
        for start in range(0, len(tokens), chunk):
            self._decode(tokens[start:start + chunk])

    def _decode(self, tokens: list[int], scored: bool = False) -> None:
        if self._stop_asked():
            raise StopRequested("stopped while decoding")
        try:
            self._decode_once(tokens, scored)
        except RuntimeError:  # llama_decode returned 2 (aborted): the batch is not counted
            if not self._abort.is_set:
                raise
            if self._stop_asked():  # the token is the truth: a flag left over from an
                raise StopRequested("stopped while decoding") from None  # earlier chat is not
            self._abort.clear()
            self._decode_once(tokens, scored)

    def _decode_once(self, tokens: list[int], scored: bool) -> None:
        if not scored:
            super().eval(tokens)
            return
        # Llama.eval with logits for every position, without keeping them in `scores` (the
        # sampler reads them from the context); what Llama.eval does besides, done here too.
        self._ctx.kv_cache_seq_rm(-1, self.n_tokens, -1)
        self._batch.set_batch(batch=tokens, n_past=self.n_tokens, logits_all=True)
        self._ctx.decode(self._batch)
        self.input_ids[self.n_tokens:self.n_tokens + len(tokens)] = tokens
        self.n_tokens += len(tokens)
        self._requires_eval = False

    def _draft(self, ids, /, **kwargs) -> np.ndarray:
        draft = self._lookup(ids, **kwargs)
        self._score_next = True  # the next eval is the sampled token with its draft
        return draft

    def _init_sampler(self, *args, **kwargs):
        grammar = kwargs.get("grammar")
        plain = (kwargs.get("temp") == 0.0 and kwargs.get("repeat_penalty", 1.0) == 1.0
                 and not kwargs.get("frequency_penalty") and not kwargs.get("presence_penalty")
                 and kwargs.get("logits_processor") is None)
        greedy_grammar = grammar is not None and plain and not args
        # Llama.generate drafts when `draft_model` is set (this class scores only the drafted
        # batches; the library's own way needs logits for the whole prompt). Not for recurrent or
        # hybrid models: their state cannot be cut back to before a rejected draft.
        recurrent = getattr(self, "_is_recurrent", False) or getattr(self, "_is_hybrid", False)
        self.draft_model = self._draft if greedy_grammar and self.drafts and not recurrent else None
        self._score_next = False
        if greedy_grammar:
            return GreedyGrammarSampler(self, grammar)
        return super()._init_sampler(*args, **kwargs)
