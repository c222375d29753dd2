"""Which of the controller's listed steps a plan should follow.

A small controller sometimes copies a demo's step or the instructions' wording instead of the
request's, repeats a step, or turns the user's own story into a step: "I snapped a photo of a
traffic scene, example.jpg ... how many cars are in it?" -> ["snap a photo of a traffic scene",
"count the cars"]. Each of those would become a task that nobody asked for.

What tells the story apart is structural, not a list of benchmark wordings: the step's verb is in
the past tense (lemminflect's inflection tables) in a sentence of the request that asks for
nothing, which the step-type classifier decides (its "none" class, the one it uses for clauses).
"""

from __future__ import annotations

import re
from typing import Sequence

from lemminflect import getInflection

from core.plan import FILE_NAME
from core.planning.prompting import Embed
from core.planning.step_types import NOT_A_STEP, clause_types

_WORD = re.compile(r"[a-z0-9]+")
# Words that say nothing about what a step does; the rest must come from the request.
FILLER = frozenset("a an the it its this that these those of to in on for from with and or into as "
                    "by me my i you your please can could would then also".split())
# A step in the first person ("I recorded a talk ...") tells what the user has or did.
_NARRATION = re.compile(r"^(?:i|i'[a-z]+|my|we)\b", re.I)
_SENTENCE = re.compile(r"[^.?!]+(?:[.?!]+|$)")


def past_forms(verb: str) -> set[str]:
    """The simple past and past participle of an English verb, regular or irregular."""
    forms = set(getInflection(verb, tag="VBD")) | set(getInflection(verb, tag="VBN"))
    # "read", "put", "cut": a past form spelled as the base says nothing about tense, and an
    # imperative ("Read it aloud.") must not pass for narration.
    forms.discard(verb)
    return forms


def telling_sentences(embed: Embed, request: str, allowed: set[str] | None = None) -> list[set[str]]:
    """The words of each sentence of the request that asks for no task: the step-type classifier
    reads it as its "none" class ("I snapped a photo of a traffic scene.")."""
    sentences = [s.strip() for s in _SENTENCE.findall(FILE_NAME.sub(" ", request)) if s.strip()]
    return [set(_WORD.findall(sentence.lower()))
            for sentence, (name, _) in zip(sentences, clause_types(embed, sentences, allowed)) if name == NOT_A_STEP]


def narrated(step: str, telling: Sequence[set[str]]) -> bool:
    """Whether the step retells the user's own doing: its verb is in the past tense in one of the
    `telling` sentences (`telling_sentences`), beside at least half of the step's other words."""
    words = _WORD.findall(FILE_NAME.sub(" ", step).lower())
    if not words:
        return False
    forms = past_forms(words[0])
    rest = [w for w in words[1:] if w not in FILLER]
    return any(forms & sentence and sum(w in sentence for w in rest) * 2 >= len(rest) for sentence in telling)


def _own_words(step: str) -> list[str]:
    return [w for w in _WORD.findall(FILE_NAME.sub(" ", step).lower()) if w not in FILLER]


def grounded(step: str, request: str) -> bool:
    """Whether at least half of the step's own words are the request's."""
    words, request_words = _own_words(step), set(_WORD.findall(request.lower()))
    return bool(words) and sum(w in request_words for w in words) * 2 >= len(words)


def grounded_steps(steps: list[str], request: str, telling: Sequence[set[str]] = ()) -> list[str]:
    """The listed steps a plan should follow: those whose words come from the request and that do
    not retell the user's own story (`telling`: the request's sentences that ask for nothing). If
    none is left, those that at least do not retell it; if none of those either, the steps as
    they are."""
    asked = [step for step in dict.fromkeys(s.strip() for s in steps)
             if _own_words(step) and not _NARRATION.match(step) and not narrated(step, telling)]
    return [step for step in asked if grounded(step, request)] or asked or list(dict.fromkeys(steps))
