"""Faults in each stage of a turn, with fakes: cancellation in planning, execution and answering,
a task that raises, and a controller that fails. Each test checks that the turns saved before are
unchanged, the faulty turn is saved with its status, and the next request on the same engine and
conversation succeeds.

(Other faults are covered elsewhere: a download killed mid-file in test_downloads.py, a controller
that returns an invalid or cyclic plan in test_engine.py, kills and broken weights in test_faults.py.)
"""

from __future__ import annotations

import json

import pytest

from common.cancel import CancelToken
from core.engine import Engine
from core.history.store import ConversationStore
from core.llm.controller import ChatResult, ControllerError
from tests.fakes import FakeExperts, recorded

PLAN = {"tasks": [
    {"id": 0, "task": "sentence-similarity", "dep": [], "args": {"text": "a cat", "text2": "a kitten"}},
    {"id": 1, "task": "summarization", "dep": [0], "args": {"text": "<GENERATED>-0"}},
]}


class StageController:
    """Plans with PLAN and answers with 'answer'; `fault(stage)` may cancel or raise first."""

    name = "stages"

    def __init__(self) -> None:
        self.fault = lambda stage: None

    def chat(self, messages, *, schema=None, max_tokens=512, on_token=None, cancel=None, stage="general"):
        self.fault(stage if stage in ("planning", "response") else "execution")
        if cancel is not None:
            cancel.raise_if_cancelled()
        text = json.dumps(PLAN) if stage == "planning" else "The score is 0.9." if stage == "response" else "answer"
        if on_token:
            on_token(text)
        return ChatResult(text, "stop")


def setup(tmp_path):
    controller = StageController()
    behaviour = {"similarity": lambda inputs, cancel: {"text": "score 0.9", "score": 0.9}}
    experts = FakeExperts(sentence_similarity=lambda inputs, cancel: behaviour["similarity"](inputs, cancel))
    engine = Engine(controller, experts)
    store = recorded(engine, ConversationStore(tmp_path))
    conversation = store.create("Faults")
    first = engine.ask("compare 'a cat' and 'a kitten'", conversation)
    assert first.status == "done"
    return engine, controller, behaviour, conversation


def then_all_is_well(engine, controller, behaviour, conversation, tmp_path, fault_status):
    controller.fault = lambda stage: None
    behaviour["similarity"] = lambda inputs, cancel: {"text": "score 0.9", "score": 0.9}
    after = engine.ask("compare them again", conversation)
    assert after.status == "done" and after.answer.endswith("Summarization, by the controller: answer\n\nThe score is 0.9.")
    saved = ConversationStore(tmp_path).open(conversation.id).turns
    assert [t.status for t in saved] == ["done", fault_status, "done"]
    assert saved[0].answer == after.answer and saved[0].results[0].outputs["score"] == 0.9
    return saved


@pytest.mark.parametrize("stage", ["planning", "execution", "response"])
def test_cancelling_in_each_stage_keeps_earlier_turns_and_the_next_request_works(tmp_path, stage):
    engine, controller, behaviour, conversation = setup(tmp_path)
    cancel = CancelToken()
    controller.fault = lambda s: cancel.cancel() if s == stage else None

    def similarity(inputs, token):
        if stage == "execution":
            cancel.cancel()
        return {"text": "score 0.9", "score": 0.9}

    behaviour["similarity"] = similarity
    turn = engine.ask("compare 'a cat' and 'a dog'", conversation, cancel=cancel)
    assert turn.status == "cancelled"
    if stage == "response":
        assert [r.status for r in turn.results] == ["done", "done"]
    saved = then_all_is_well(engine, controller, behaviour, conversation, tmp_path, "cancelled")
    assert saved[1].error == "stopped by the user"


def test_a_task_that_raises_fails_alone_its_dependents_are_skipped_and_the_next_request_works(tmp_path):
    engine, controller, behaviour, conversation = setup(tmp_path)

    def broken(inputs, cancel):
        raise RuntimeError("CUDA error: device-side assert triggered")

    behaviour["similarity"] = broken
    turn = engine.ask("compare 'a cat' and 'a dog'", conversation)
    assert turn.status == "failed"  # nothing ran; the answer still reports the failure
    assert "task 0 (sentence-similarity) failed" in turn.error and "task 1" in turn.error
    assert turn.results[0].status == "failed" and "device-side assert" in turn.results[0].error
    assert turn.results[1].status == "skipped"
    saved = then_all_is_well(engine, controller, behaviour, conversation, tmp_path, "failed")
    assert saved[1].results[0].status == "failed"


def test_a_controller_that_fails_in_planning_fails_the_turn_with_its_reason_and_the_next_request_works(tmp_path):
    engine, controller, behaviour, conversation = setup(tmp_path)
    error = RuntimeError("llama_decode returned -1")

    def fault(s):
        if s == "planning":
            raise error

    controller.fault = fault
    turn = engine.ask("compare 'a cat' and 'a dog'", conversation)
    assert turn.status == "failed" and str(error) in turn.error
    saved = then_all_is_well(engine, controller, behaviour, conversation, tmp_path, "failed")
    assert str(error) in saved[1].error


def test_a_controller_that_fails_while_answering_leaves_the_facts_as_the_answer(tmp_path):
    engine, controller, behaviour, conversation = setup(tmp_path)

    def fault(s):
        if s == "response":
            raise ControllerError("the controller server closed the connection")

    controller.fault = fault
    turn = engine.ask("compare 'a cat' and 'a dog'", conversation)
    assert turn.status == "done" and [r.status for r in turn.results] == ["done", "done"]
    assert turn.answer == "Sentence similarity, by fake/sentence-similarity: score 0.9\nSummarization, by the controller: answer"
    then_all_is_well(engine, controller, behaviour, conversation, tmp_path, "done")
