"""The answer: the product's facts at once, then the controller's prose, each sentence checked.

The facts (`facts.py`) stream first, so a person sees the results as soon as execution ends. The
controller then writes a sentence or two answering the request from the record; a sentence is
shown only when every claim in it is in the record (`claims.py`). At the first sentence that is
not, the rest of that reply is dropped and, if nothing was shown yet and the reply invented a
claim, the controller tries once more with the numbers it may use; if that fails too, the facts
stand alone. No prose is asked for when nothing ran: there is nothing true to add to the failures.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Callable

from common.cancel import CancelToken
from core.answering.claims import PLAIN_WORDS, Support, new_words, unsupported
from core.answering.facts import Recommend, describe_result, fact_lines, failure_lines, support_texts
from core.executor import TaskResult
from core.llm.controller import Controller, ControllerError
from core.templates import template

log = logging.getLogger(__name__)

SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
MAX_SENTENCES = 3
# Prose is a sentence or two (about 40 tokens); the cap keeps a rambling draft from costing seconds.
# More words than this from outside the record and plain English, and a sentence is telling its
# own story ("a positive trend for the company's growth") rather than the record's.
MAX_NEW_WORDS = 2
# The record is given to the controller as its own earlier reply; a sentence repeating that or
# the instructions is an echo, not an answer.
ECHOES = ("i ran these models", "these numbers", "these results only", "from these results")


@dataclass
class Answer:
    text: str
    prose: str = ""  # the controller's sentences that passed the check
    rejected: list[str] = field(default_factory=list)  # the claims that stopped a reply
    drafts: list[str] = field(default_factory=list)  # the controller's replies, as written


class Responder:
    def __init__(self, controller: Controller, recommend: Recommend | None = None) -> None:
        self.controller = controller
        self.recommend = recommend

    def answer(self, request: str, results: list[TaskResult], on_token: Callable[[str], None],
               cancel: CancelToken | None = None, max_tokens: int = 64) -> str:
        return self.grounded(request, results, on_token, cancel, max_tokens).text

    def grounded(self, request: str, results: list[TaskResult], on_token: Callable[[str], None],
                 cancel: CancelToken | None = None, max_tokens: int = 64) -> Answer:
        facts = failure_lines(results, self.recommend) + fact_lines(results)
        text = "\n".join(facts) if facts else "No tasks were run."
        on_token(text)
        answer = Answer(text)
        if not any(r.status == "done" for r in results):
            return answer
        support = Support.of(*support_texts(request, results), *facts, counts=len(results))
        for attempt in range(2):
            try:
                draft = self._draft(request, results, attempt, support, cancel, max_tokens)
            except ControllerError as error:  # the facts are the answer; the prose was extra
                if cancel is not None:
                    cancel.raise_if_cancelled()
                log.warning("the controller could not write the answer's prose: %s", error)
                answer.rejected.append(f"controller: {error}")
                break
            answer.drafts.append(draft)
            kept, missing = _checked(draft, support, text)
            answer.rejected += missing
            if kept:
                answer.prose = " ".join(kept)
                break
            if not missing:  # small talk, not an invention: asking again with numbers would not help
                break
        if answer.prose:
            on_token("\n\n" + answer.prose)
            answer.text += "\n\n" + answer.prose
        return answer

    def _draft(self, request: str, results: list[TaskResult], attempt: int, support: Support,
               cancel: CancelToken | None, max_tokens: int) -> str:
        record = "\n".join("- " + describe_result(r) for r in results)
        ask = template("response_ask").substitute()
        if attempt:
            allowed = ", ".join(f"{n:g}" for n in support.numbers) or "none"
            ask += " " + template("response_retry").substitute(numbers=allowed)
        # Small controllers quote results far more faithfully when the record is their own
        # earlier turn than when it is pasted into the user's message.
        messages = [
            {"role": "system", "content": template("response").substitute()},
            {"role": "user", "content": request},
            {"role": "assistant", "content": "I ran these models for your request:\n" + record},
            {"role": "user", "content": ask},
        ]
        return self.controller.chat(messages, max_tokens=max_tokens, cancel=cancel, stage="response").text.strip()


def _checked(draft: str, support: Support, facts: str) -> tuple[list[str], list[str]]:
    """The draft's sentences up to the first with an unsupported claim, and that claim list.
    Prose that never touches the results ("I'm ready to help.") or asks a question is no answer
    and is dropped whole."""
    kept = []
    sentences = [s.strip() for s in SENTENCE_END.split(draft) if s.strip()]
    if sentences and not sentences[-1].endswith((".", "!")):
        sentences.pop()  # cut off by the token limit (or a question): not an answer
    for sentence in sentences[:MAX_SENTENCES]:
        missing = unsupported(sentence, support)
        invented = new_words(sentence, support)
        if len(invented) > MAX_NEW_WORDS:
            missing += [f"new words: {', '.join(invented)}"]
        if any(echo in sentence.lower() for echo in ECHOES) or sentence.lstrip().startswith("- "):
            missing += ["an echo of the prompt"]
        tokens = re.findall(r"\w+", sentence.lower())
        if len(tokens) >= 6 and len(set(tokens)) < len(tokens) / 2:
            missing += ["a repeating sentence"]
        if missing:
            return (kept if _about(kept, facts) else []), missing
        if sentence.endswith("?"):
            break
        kept.append(sentence)
    return (kept if _about(kept, facts) else []), []


WORD = re.compile(r"[a-z][a-z-]{2,}")
# Three-letter function words; longer ones are the checker's PLAIN_WORDS.
SHORT_PLAIN = {"the", "and", "for", "are", "was", "you", "has", "had", "not", "but", "can", "all", "any", "its",
               "our", "one", "two", "out", "who", "how", "why", "yes", "her", "his", "she", "him", "did", "get"}
COMMON = PLAIN_WORDS | SHORT_PLAIN | {"ready", "help", "happy"}


def _about(sentences: list[str], facts: str) -> bool:
    """Whether the prose shares a content word or a number with the facts."""
    said = set(WORD.findall(" ".join(sentences).lower())) - COMMON
    found = set(WORD.findall(facts.lower())) - COMMON
    numbers = set(re.findall(r"\d+(?:\.\d+)?", " ".join(sentences))) & set(re.findall(r"\d+(?:\.\d+)?", facts))
    return bool(sentences) and bool(said & found or numbers)
