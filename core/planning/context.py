"""What of the conversation a new request is planned with.

Earlier turns help a request that refers back ("translate that", "the picture") and hijack one
that does not: a small controller shown an earlier similarity turn planned "Describe this
picture", asked with its own image attached, as sentence-similarity on the earlier sentences.
So the history and the earlier files are offered only when the request needs them:

- a turn with its own attachment is planned on that attachment, unless it names an earlier file;
- a request that brings its own material (quoted text, a file name) stands alone;
- otherwise the request gets the history when it refers back, which English marks with a closed
  class of words (pronouns, demonstratives, words like "again" and "previous"): grammar, not
  a list of task cues.
"""

from __future__ import annotations

import re

from core.planning.planner import mentioned_files

QUOTED = re.compile(r"(?:^|[\s(:])['\"“‘][^'\"”’]{2,}['\"”’]")
# English anaphora and deixis: words whose meaning is something said before.
REFERRING = re.compile(r"\b(?:it|its|that|this|these|those|them|they|their|same|again|above|previous|"
                       r"earlier|before|last|first|second|third|both|result|results|output)\b", re.IGNORECASE)


def planning_context(request: str, attached: dict[str, str], known: dict[str, str],
                     history: list[dict]) -> tuple[dict[str, str], list[dict]]:
    """(files, history) to plan `request` with. `attached` are this turn's attachments, `known`
    every file of the conversation (name -> path), `history` the earlier turns' summaries."""
    named = set(mentioned_files(request))
    if attached and not named - set(attached):
        return dict(attached), []
    if QUOTED.search(request) or named:
        return known, []
    return known, (history if REFERRING.search(request) else [])
