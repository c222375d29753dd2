"""Does a sentence say only what the request and the record hold?

A claim is a number (with its rounding), a quoted string, a model id or a file name. Each must be
found in the support text: the request and the record rendered as text. Words are not checked: a
checker that judged meaning would need a model as large as the one it checks; these four kinds
are where small controllers invent (scores, accuracies, misquoted sentences, models never run).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A number standing alone: not the 6 of "L6", the 2 of "v2" or a digit inside a file name.
NUMBER = re.compile(r"(?<![\w.\-/])(-?\d+(?:\.\d+)?)(\s?%|(?![\w/]))")
# Quotes open after a space or bracket and close before punctuation or a space, so the
# apostrophes of "it's" and "don't" are not quotes.
QUOTED = re.compile(r"(?:^|(?<=[\s(\[:]))(?:'([^'\n]{2,300}?)'|\"([^\"\n]{2,300}?)\"|“([^”\n]{2,300}?)”)"
                    r"(?=$|[\s.,;:!?)\]])")
MODEL_ID = re.compile(r"(?<![\w./-])([A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*[A-Za-z0-9])")
# Other tokens with a digit in them: sizes ("512x512"), times ("3pm"), versions ("L6", "v2").
DIGIT_TOKEN = re.compile(r"(?<![\w./-])([A-Za-z]*\d[\w.-]*[A-Za-z0-9]|[A-Za-z]+\d)(?![\w/])")
FILE_NAME = re.compile(r"(?<![\w./-])([\w.-]+\.(?:png|jpe?g|gif|webp|bmp|wav|mp3|flac|ogg|mp4|webm|txt))\b",
                       re.IGNORECASE)


@dataclass(frozen=True)
class Support:
    """What an answer may draw on, prepared once per answer."""

    text: str  # lower-cased, spaces collapsed
    numbers: tuple[float, ...]
    percents: tuple[float, ...]  # numbers the support itself writes with a % sign
    counts: int  # small whole numbers up to this are counting words ("2 tasks", "task 1")

    @classmethod
    def of(cls, *texts: str, counts: int = 0) -> "Support":
        joined = " ".join(texts)
        found = [(float(m.group(1)), bool(m.group(2).strip())) for m in NUMBER.finditer(joined)]
        return cls(_normal(joined), tuple(n for n, _ in found), tuple(n for n, pct in found if pct), counts)


def unsupported(sentence: str, support: Support) -> list[str]:
    """The claims in `sentence` that `support` does not hold, as written."""
    missing = []
    for match in NUMBER.finditer(sentence):
        if not _number_supported(match.group(1), bool(match.group(2).strip()), support):
            missing.append(match.group(0).strip())
    for match in QUOTED.finditer(sentence):
        quoted = next(g for g in match.groups() if g is not None)
        if _normal(quoted).strip(" .,;:!?") not in support.text:
            missing.append(match.group(0))
    for match in DIGIT_TOKEN.finditer(sentence):
        token = match.group(1)
        if not re.fullmatch(r"-?\d+(?:\.\d+)?", token) and _normal(token) not in support.text:
            missing.append(token)
    for pattern in (MODEL_ID, FILE_NAME):
        for match in pattern.finditer(sentence):
            if _normal(match.group(1)) not in support.text:
                missing.append(match.group(1))
    return missing


WORD = re.compile(r"[A-Za-z][a-z]{3,}")
# English function words and the vocabulary of saying what a result is; any other word of four
# letters or more in the prose must come from the request or the record.
PLAIN_WORDS = frozenset("""
about above after again also although among another anything around because been before being below
between both but came come could does doing done down during each either else enough even ever every
from further gave give given gives going good had has have having here hers herself himself into itself
just keep kept know known like likely made make makes many more most much must near neither never next
none nothing once only other ours over same seem seems shall should show showed shown shows since some
such sure than that their theirs them then there these they this those though through thus together
under until upon very want well were what when where whether which while whom whose will with within
without would your yours yourself also asked answer answers found finds result results model models
task tasks request says said saying according score scored scores label labels labelled means mean
meaning value values output outputs produced produces returned returns gave here's there's that's
it's picture image images file files audio video text sentence sentences word words first second third
last both least highest lowest higher lower high most likely probably confidence certain certainty
percent point points number numbers total likely ranked rank top best list listed following follows
""".split())


def new_words(sentence: str, support: Support) -> list[str]:
    """Words of the sentence that are neither plain English nor in the request and record."""
    new = []
    for word in WORD.findall(sentence):
        lower = word.lower()
        if lower in PLAIN_WORDS or lower in support.text:
            continue
        stem = re.sub(r"(?:ies|es|s|ed|ing|ly)$", "", lower)
        if len(stem) >= 3 and stem in support.text:
            continue
        new.append(word)
    return new


def _number_supported(written: str, percent: bool, support: Support) -> bool:
    value = float(written)
    decimals = len(written.split(".")[1]) if "." in written else 0
    if percent and _near(value, decimals, support.percents):  # the record said "64%" itself
        return True
    if percent:  # 64% of a 0.6357 score: the same number, two places further
        value, decimals = value / 100, decimals + 2
    if not percent and decimals == 0 and 0 <= value <= support.counts:
        return True
    return _near(value, decimals, support.numbers)


def _near(value: float, decimals: int, numbers: tuple[float, ...]) -> bool:
    for number in numbers:
        if number == value:
            return True
        # Rounding: only to a stated number of places, never a score rounded to a whole number.
        if decimals > 0 and abs(number - value) <= 0.5 * 10 ** -decimals + 1e-12:
            return True
    return False


def _normal(text: str) -> str:
    return " ".join(text.replace("’", "'").lower().split())
