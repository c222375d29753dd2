"""Which of the controller's listed steps a plan should follow.

A small controller sometimes copies a demo's step or the instructions' wording instead of the
request's, repeats a step, or turns the user's own story into a step: "I snapped a photo of a
traffic scene, example.jpg ... how many cars are in it?" -> ["snap a photo of a traffic scene",
"count the cars"]. Each of those would become a task that nobody asked for.
"""

from __future__ import annotations

import re

from core.plan import FILE_NAME

_WORD = re.compile(r"[a-z0-9]+")
# Words that say nothing about what a step does; the rest must come from the request.
FILLER = frozenset("a an the it its this that these those of to in on for from with and or into as "
                    "by me my i you your please can could would then also".split())
# A step that tells what the user has or did ("I recorded a talk ...") asks for nothing.
_NARRATION = re.compile(r"^(?:i|i'[a-z]+|my|we)\b", re.I)
# A sentence that asks for something; narration is a sentence that does not.
_ASKS = re.compile(r"\byou\b|\?|\bplease\b|\bhelp\b|\bi (?:need|want)\b|\blike\b|^\s*let's\b", re.I)
_SENTENCE = re.compile(r"[^.?!]+(?:[.?!]+|$)")
_IRREGULAR_PAST = {
    "buy": ("bought",), "come": ("came",), "draw": ("drew", "drawn"), "find": ("found",),
    "get": ("got", "gotten"), "give": ("gave", "given"), "have": ("had",), "hear": ("heard",),
    "make": ("made",), "read": ("read",), "see": ("saw", "seen"), "send": ("sent",),
    "shoot": ("shot",), "take": ("took", "taken"), "write": ("wrote", "written"),
}


def past_forms(verb: str) -> set[str]:
    """The simple past and past participle of an English verb, regular or common irregular."""
    forms = set(_IRREGULAR_PAST.get(verb, ())) | {verb + "ed", verb + "d"}
    # "read", "put", "cut": a past form spelled as the base says nothing about tense, and an
    # imperative ("Read it aloud.") must not pass for narration.
    forms.discard(verb)
    if verb.endswith("y"):
        forms.add(verb[:-1] + "ied")
    if len(verb) > 2 and verb[-1] not in "aeiouwxy" and verb[-2] in "aeiou" and verb[-3] not in "aeiou":
        forms.add(verb + verb[-1] + "ed")  # snap -> snapped
    return forms


# What the user will do with the result themselves: "... so that I can review it".
_OWN_PURPOSE = re.compile(r"\bso(?: that)? (?:i|we) (?:can|could|may|might) (?:\w+ly )?(\w+)", re.I)


def narrated(step: str, request: str) -> bool:
    """Whether the step retells the user's own doing: its verb is in the past tense in a sentence
    of the request that asks for nothing, beside (most of) the step's other words, or it is what
    the user says they will then do themselves ("so that I can review it")."""
    words = _WORD.findall(FILE_NAME.sub(" ", step).lower())
    if not words:
        return False
    if words[0] in {verb.lower() for verb in _OWN_PURPOSE.findall(request)}:
        return True
    forms = past_forms(words[0])
    rest = [w for w in words[1:] if w not in FILLER]
    for sentence in _SENTENCE.findall(FILE_NAME.sub(" ", request)):
        sentence_words = set(_WORD.findall(sentence.lower()))
        if forms & sentence_words and not _ASKS.search(sentence):
            if sum(w in sentence_words for w in rest) * 2 >= len(rest):
                return True
    return False


def _own_words(step: str) -> list[str]:
    return [w for w in _WORD.findall(FILE_NAME.sub(" ", step).lower()) if w not in FILLER]


def grounded(step: str, request: str) -> bool:
    """Whether at least half of the step's own words are the request's."""
    words, request_words = _own_words(step), set(_WORD.findall(request.lower()))
    return bool(words) and sum(w in request_words for w in words) * 2 >= len(words)


def grounded_steps(steps: list[str], request: str) -> list[str]:
    """The listed steps a plan should follow: those whose words come from the request and that do
    not retell the user's own story. If none is left, those that at least do not retell it; if
    none of those either, the steps as they are."""
    asked = [step for step in dict.fromkeys(s.strip() for s in steps)
             if _own_words(step) and not _NARRATION.match(step) and not narrated(step, request)]
    return [step for step in asked if grounded(step, request)] or asked or list(dict.fromkeys(steps))

