"""The request's clauses as steps (core/planning/clauses.py): the split, with a fake embedder
where structure is what is tested; the real MiniLM's typing is in test_engine_real.py."""

from __future__ import annotations

import pytest

from core.planning.clauses import request_clauses


@pytest.mark.parametrize("request_text,clauses", [
    ("What is in this picture? Read the answer aloud.", ["What is in this picture", "Read the answer aloud"]),
    ("Describe photo.jpg, translate the description to German, and read it aloud.",
     ["Describe photo.jpg", "translate the description to German", "read it aloud"]),
    ("Transcribe memo.wav and then summarize it for me.", ["Transcribe memo.wav", "summarize it for me"]),
    ("My friend sent me this picture. What objects are in it? Then read the list out loud.",
     ["My friend sent me this picture", "What objects are in it", "read the list out loud"]),
    # a list of things is one clause; quoted text is an input, never split
    ("Is this a picture of a cat, a dog or a bird?", ["Is this a picture of a cat, a dog or a bird"]),
    ("Translate 'Where is the station, and when does it open?' into French.",
     ["Translate 'Where is the station, and when does it open?' into French"]),
    ("Read this sentence aloud: 'The train leaves at noon.'", ["Read this sentence aloud"]),
    ("Compare 'He bought a car' and 'She sold her bike'.", ["Compare 'He bought a car'"]),
    # an apostrophe inside a word opens no quote
    ("I've got a photo, beach.jpg. I'm curious: can you describe it and read it aloud?",
     ["I've got a photo", "beach.jpg", "I'm curious", "can you describe it", "read it aloud"]),
    ("", []),
    ("...", []),
])
def test_a_request_splits_where_one_ask_ends_and_the_next_begins(request_text, clauses):
    assert request_clauses(request_text) == clauses
