"""Greedy decoding under a grammar, checking the grammar against the best token first.

llama-cpp-python's sampler chain runs the grammar over the whole vocabulary (49k tokens for
SmolLM2) at every step before picking the best one; with a plan schema's grammar that costs about
as much as the model itself. At temperature 0 the answer is the highest-logit token the grammar
accepts, so this sampler asks the grammar about the highest-logit token alone and falls back to
the whole vocabulary only when that token is refused (llama.cpp's own common sampler does the same).
The tokens chosen are exactly those of the full check.

Used through `GreedyGrammarLlama`, a `Llama` whose greedy grammar decoding takes this path.
"""

from __future__ import annotations

import ctypes
import math

import llama_cpp
import numpy as np
from llama_cpp import Llama

_TOKEN_DATA = np.dtype([("id", np.int32), ("logit", np.float32), ("p", np.float32)], align=True)


class StopRequested(Exception):
    """Raised out of a prompt evaluation when the chat was cancelled; the controller turns it into
    the app's Cancelled."""


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

    Prompts are evaluated in chunks of EVAL_CHUNK tokens with `stop_requested` asked between
    them: a long prompt takes seconds on a CPU, and Stop must act within a fraction of one."""

    EVAL_CHUNK = 128
    stop_requested = None  # () -> bool, set by the controller for the length of one chat

    def eval(self, tokens) -> None:
        tokens = list(tokens)
        for start in range(0, len(tokens), self.EVAL_CHUNK):
            if self.stop_requested is not None and self.stop_requested():
                raise StopRequested("stopped while reading the prompt")
            super().eval(tokens[start:start + self.EVAL_CHUNK])

    def _init_sampler(self, *args, **kwargs):
        grammar = kwargs.get("grammar")
        plain = (kwargs.get("temp") == 0.0 and kwargs.get("repeat_penalty", 1.0) == 1.0
                 and not kwargs.get("frequency_penalty") and not kwargs.get("presence_penalty")
                 and kwargs.get("logits_processor") is None)
        if grammar is not None and plain and not args:
            return GreedyGrammarSampler(self, grammar)
        return super()._init_sampler(*args, **kwargs)
