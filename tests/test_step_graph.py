"""What the task graph says about a request's steps once they are typed (the real MiniLM types
them): a task between a step and the result it points back at, the clause that asks for an
attached file no step uses, a listed step replaced by its clause where the two readings
disagree, and a step that says the one before it again joined to it."""

from __future__ import annotations

import pytest

from core.planning.clauses import voted_steps, with_clauses_for_attached
from core.planning.data_flow import bridged, converters, joined_repeats, repeats
from core.planning.step_types import rank_step_types


def test_only_a_step_pointing_back_at_a_result_it_cannot_take_needs_a_task_between():
    between = converters("text-to-image", "text-to-speech", "say what it shows out loud")
    assert "image-to-text" in between and "text-to-speech" not in between
    assert all(name not in between for name in ("object-detection", "text-to-image"))  # image out, or no image in
    assert converters("text-to-image", "text-to-speech", "read a poem about the sea aloud") == []  # no pointer
    assert converters("text-to-image", "text-to-speech", "convert this text into speech") == []  # the user's text
    assert converters("text-to-image", "text-generation", "write a poem that rhymes") == []  # a relative clause
    assert converters("text-generation", "text-to-speech", "read it aloud") == []  # takes the text itself
    assert converters("text-to-image", "image-to-text", "describe it") == []  # takes the image itself
    assert converters("text-to-image", "text-to-speech", "read this aloud: 'good night'") == []  # its own text
    assert converters("text-to-image", "text-to-speech", "say what it shows", {"text-to-speech"}) == []


def test_a_step_that_speaks_what_a_picture_shows_reads_the_picture_first(minilm_embed):
    steps = ["create an image of a robot reading a book", "say what it shows out loud"]
    rankings = rank_step_types(minilm_embed, steps)
    assert [ranked[0] for ranked in rankings] == ["text-to-image", "text-to-speech"]
    bridged_steps, bridged_rankings = bridged(minilm_embed, steps, rankings)
    assert [ranked[0] for ranked in bridged_rankings] == ["text-to-image", "image-to-text", "text-to-speech"]
    assert bridged_steps == [steps[0], steps[1], steps[1]]  # the step the task between serves


@pytest.mark.parametrize("step", ["Could you read it out loud to me", "read the letter out loud"])
def test_an_attached_picture_no_step_takes_is_read_before_the_first_step_speaks_it(minilm_embed, step):
    rankings = rank_step_types(minilm_embed, [step], files=["letter.png"])
    assert rankings[0][0] == "text-to-speech"
    steps, ranked = bridged(minilm_embed, [step], rankings, attached=["letter.png"])
    assert steps == [step, step] and ranked[1][0] == "text-to-speech"
    assert ranked[0][0] in ("image-to-text", "document-question-answering")
    # without the attachment, or with one the step's type takes itself, nothing goes between
    assert bridged(minilm_embed, [step], rankings) == ([step], rankings)
    assert bridged(minilm_embed, [step], rankings, attached=["notes.txt"]) == ([step], rankings)
    # a later step is fed by the step before it, not by the attachment
    two = ["write a poem about autumn", step]
    two_ranked = rank_step_types(minilm_embed, two, files=["letter.png"])
    assert bridged(minilm_embed, two, two_ranked, attached=["letter.png"]) == (two, two_ranked)


def test_an_attached_file_no_step_uses_brings_back_the_clause_that_asks_for_it(minilm_embed):
    request = "What is in this picture? Read the answer aloud."
    steps = ["read the answer aloud"]
    rankings = rank_step_types(minilm_embed, steps, files=["photo.jpg"])
    assert with_clauses_for_attached(minilm_embed, steps, rankings, request, ["photo.jpg"]) == [
        "What is in this picture", "read the answer aloud"]
    # named in the text only, a file may be where a result goes: nothing added
    assert with_clauses_for_attached(minilm_embed, steps, rankings, request, []) == steps


def test_a_listed_step_gives_way_to_its_clause_where_the_clause_reads_surer(minilm_embed):
    request = "Now read that description aloud."
    listed = ["read this conversation"]  # a small model's listing of a follow-up
    rankings = rank_step_types(minilm_embed, listed)
    assert rankings[0][0] != "text-to-speech"
    assert voted_steps(minilm_embed, listed, rankings, request) == ["Now read that description aloud"]
    agreeing = ["read that description aloud"]
    assert voted_steps(minilm_embed, agreeing, rank_step_types(minilm_embed, agreeing), request) == agreeing


def test_only_the_same_task_said_again_is_a_repeat():
    assert repeats("automatic-speech-recognition", "automatic-speech-recognition", "write down what is said")
    assert not repeats("text-to-image", "text-to-image", "then draw a dog")  # its own description
    assert repeats("text-to-image", "text-to-image", "make it bigger")  # points back: the same picture
    assert not repeats("image-to-text", "image-to-text", "describe the second photo", ["a.jpg", "b.jpg"])
    assert not repeats("image-to-text", "image-to-text", "describe b.jpg", ["a.jpg"])  # its own file
    assert not repeats("image-editing", "image-editing", "then make it brighter")  # takes its own result
    assert not repeats("image-to-text", "summarization", "sum it up")


@pytest.mark.parametrize("steps,files,expected", [
    # one transcription asked in two clauses
    (["listen to call.wav", "write down what is said", "translate it into English"], ["call.wav"],
     ["listen to call.wav, write down what is said", "translate it into English"]),
    # the same type on two files of their own, or two pictures described, are two tasks each
    (["describe a.jpg", "describe b.jpg"], ["a.jpg", "b.jpg"], ["describe a.jpg", "describe b.jpg"]),
    (["draw a cat", "then draw a dog"], [], ["draw a cat", "then draw a dog"]),
])
def test_a_step_that_says_the_one_before_again_is_joined_to_it(minilm_embed, steps, files, expected):
    assert joined_repeats(minilm_embed, steps, None, files) == expected


def test_the_planner_checks_its_steps_against_the_graph(minilm_embed):
    from core.planning.planner import Planner
    from tests.fakes import ScriptedController

    listing = Planner(ScriptedController({"steps": ["read the answer aloud"]}), embed=minilm_embed, steps="listed")
    steps, rankings = listing.request_steps("What is in this picture? Read the answer aloud.", [], ["photo.jpg"],
                                            attached=["photo.jpg"])
    assert [ranked[0] for ranked in rankings] in (["image-to-text", "text-to-speech"],
                                                  ["visual-question-answering", "text-to-speech"])
    clauses = Planner(ScriptedController(), embed=minilm_embed, steps="clauses")
    steps, rankings = clauses.request_steps(
        "Create an image of a robot reading a book, then say what it shows out loud.", [], [])
    assert [ranked[0] for ranked in rankings] == ["text-to-image", "image-to-text", "text-to-speech"]
    assert len(steps) == 3
