"""The four stages wired together, with a scripted controller and function 'models'.

The real controller runs in test_engine_real.py; these tests pin down the engine's own logic.
"""

import threading

import pytest

from common.cancel import CancelToken
from core.engine import Engine, InputError
from core.events import AnswerToken, ModelChosen, PlanReady, RunFinished, StageStarted
from core.history.store import ConversationStore
from core.turn import Turn
from tests.fakes import FakeExperts, ScriptedController, recorded

SIMILARITY_PLAN = {"tasks": [{"id": 0, "task": "sentence-similarity", "dep": [],
                              "args": {"text": "a cat", "text2": "a kitten"}}]}


def make_engine(*replies, **functions):
    controller = ScriptedController(*replies)
    engine = Engine(controller, FakeExperts(**functions))
    events = []
    engine.bus.subscribe(events.append)
    return engine, controller, events


def test_a_turn_runs_all_four_stages_in_order(tmp_path):
    engine, _, events = make_engine(SIMILARITY_PLAN, "They are similar (0.8).",
                                    sentence_similarity=lambda i, c: {"text": "score 0.8", "score": 0.8})
    conversation = recorded(engine, ConversationStore(tmp_path)).create()
    turn = engine.ask("How similar are 'a cat' and 'a kitten'?", conversation)
    assert turn.status == "done"
    assert turn.answer == "Sentence similarity, by fake/sentence-similarity: score 0.8\n\nThey are similar (0.8)."
    assert turn.results[0].outputs["score"] == 0.8
    stages = [e.stage for e in events if isinstance(e, StageStarted)]
    assert stages == ["planning", "selection", "execution", "response"]
    kinds = [type(e) for e in events]
    assert kinds.index(PlanReady) < kinds.index(ModelChosen) < kinds.index(AnswerToken) < kinds.index(RunFinished)
    assert ConversationStore(tmp_path).open(conversation.id).turns[0].answer == turn.answer


def test_text_task_without_an_expert_is_done_by_the_controller(tmp_path):
    plan = {"tasks": [{"id": 0, "task": "translation", "dep": [], "args": {"text": "Hello", "language": "German"}}]}
    engine, controller, _ = make_engine(plan, "Hallo", "It says Hallo.")
    turn = engine.ask("Translate 'Hello' to German", ConversationStore(tmp_path).create())
    assert turn.selections[0].model == "controller"
    assert turn.results[0].outputs["text"] == "Hallo"
    assert "German" in controller.calls[1][-1]["content"]


def test_task_with_no_model_fails_with_advice_and_the_answer_says_so(tmp_path):
    plan = {"tasks": [{"id": 0, "task": "text-to-image", "dep": [], "args": {"text": "a boat"}}]}
    engine, controller, _ = make_engine(plan, "I drew a lovely boat.")
    turn = engine.ask("Draw a boat", ConversationStore(tmp_path).create())
    assert turn.status == "failed" and turn.results[0].status == "failed"
    assert "install one in the model manager" in turn.results[0].error
    # Nothing ran: the answer is the product's account of the failure, and the controller is not
    # asked to talk about results that do not exist.
    assert turn.answer.startswith("Text-to-image (task 0) could not run: no installed model can do text-to-image.")
    assert "lovely" not in turn.answer and len(controller.calls) == 1


def test_several_candidates_are_chosen_by_the_controller_with_a_reason(tmp_path):
    class TwoModels(FakeExperts):
        def candidates(self, task):
            from tests.fakes import FakeModel
            return [FakeModel("small/model", task, "small"), FakeModel("big/model", task, "accurate")]

    controller = ScriptedController(SIMILARITY_PLAN, {"id": "big/model", "reason": "more accurate"}, "done")
    experts = TwoModels(sentence_similarity=lambda i, c: {"text": "0.9"})
    turn = Engine(controller, experts).ask("compare 'a' and 'b'", ConversationStore(tmp_path).create())
    assert turn.selections[0].model == "big/model"
    assert turn.selections[0].reason == "more accurate"
    assert turn.selections[0].candidates == ["small/model", "big/model"]


def test_invalid_plan_is_retried_with_the_error_then_fails_clearly(tmp_path):
    cyclic = {"tasks": [{"id": 0, "task": "summarization", "dep": [1], "args": {"text": "<GENERATED>-1"}},
                        {"id": 1, "task": "summarization", "dep": [0], "args": {"text": "<GENERATED>-0"}}]}
    engine, controller, events = make_engine(cyclic, cyclic)
    conversation = recorded(engine, ConversationStore(tmp_path)).create()
    turn = engine.ask("summarize", conversation)
    assert turn.status == "failed"
    assert "could not make a valid plan" in turn.error
    assert "cannot run" in controller.calls[1][-1]["content"]  # the retry carried the error
    assert isinstance(events[-1], RunFinished) and events[-1].status == "failed"
    # The conversation is intact and usable afterwards.
    engine2, _, _ = make_engine(SIMILARITY_PLAN, "fine", sentence_similarity=lambda i, c: {"text": "1"})
    recorded(engine2, ConversationStore(tmp_path))
    assert engine2.ask("again", conversation).status == "done"
    assert len(ConversationStore(tmp_path).open(conversation.id).turns) == 2


def test_bad_input_is_refused_with_a_message(tmp_path):
    engine, _, _ = make_engine()
    conversation = ConversationStore(tmp_path).create()
    with pytest.raises(InputError, match="empty"):
        engine.ask("   ", conversation)
    with pytest.raises(InputError, match="no such file"):
        engine.ask("look", conversation, [tmp_path / "missing.png"])
    with pytest.raises(InputError, match="limit"):
        engine.ask("x" * 10_000, conversation)


def test_attachments_are_copied_into_the_conversation(tmp_path):
    source = tmp_path / "in" / "clip.wav"
    source.parent.mkdir()
    source.write_bytes(b"RIFF....")
    plan = {"tasks": [{"id": 0, "task": "automatic-speech-recognition", "dep": [], "args": {"audio": "clip.wav"}}]}
    seen = {}
    engine, _, _ = make_engine(plan, "transcribed",
                               automatic_speech_recognition=lambda i, c: seen.update(i) or {"text": "hi"})
    conversation = ConversationStore(tmp_path / "conv").create()
    engine.ask("transcribe clip.wav", conversation, [source])
    assert seen["audio"].startswith(str(conversation.folder))
    assert open(seen["audio"], "rb").read() == b"RIFF...."


@pytest.mark.parametrize("stage", ["planning", "execution", "response"])
def test_cancellation_in_each_stage(tmp_path, stage):
    cancel = CancelToken()

    class CancellingController(ScriptedController):
        def chat(self, messages, **kwargs):
            if stage == "planning" or (stage == "response" and len(self.calls) == 1):
                cancel.cancel()
            return super().chat(messages, **kwargs)

    def task(inputs, token):
        if stage == "execution":
            cancel.cancel()
        return {"text": "x"}

    controller = CancellingController(SIMILARITY_PLAN, "answer")
    engine = Engine(controller, FakeExperts(sentence_similarity=task))
    events = []
    engine.bus.subscribe(events.append)
    conversation = recorded(engine, ConversationStore(tmp_path)).create()
    turn = engine.ask("compare 'a' and 'b'", conversation, cancel=cancel)
    assert turn.status == "cancelled"
    assert events[-1].status == "cancelled"
    assert ConversationStore(tmp_path).open(conversation.id).turns[0].status == "cancelled"


def test_multi_turn_history_reaches_the_planner(tmp_path):
    plan2 = {"tasks": [{"id": 0, "task": "translation", "dep": [],
                        "args": {"text": "score 0.8", "language": "German"}}]}
    engine, controller, _ = make_engine(SIMILARITY_PLAN, "The score is 0.8.", plan2, "Punktzahl 0.8", "done",
                                        sentence_similarity=lambda i, c: {"text": "score 0.8"})
    conversation = ConversationStore(tmp_path).create()
    engine.ask("How similar are 'a cat' and 'a kitten'?", conversation)
    engine.ask("now translate that to German", conversation)
    planning_messages = controller.calls[2]
    last = planning_messages[-1]["content"]
    assert "How similar are 'a cat' and 'a kitten'?" in last
    assert "score 0.8" in last
    assert last.endswith("Now: now translate that to German")


def test_store_survives_reopen_search_rename_delete_and_interrupted_turns(tmp_path):
    store = ConversationStore(tmp_path)
    engine, _, _ = make_engine(SIMILARITY_PLAN, "similar.", sentence_similarity=lambda i, c: {"text": "similar 0.8"})
    recorded(engine, store)
    first = store.create("Cats")
    engine.ask("How similar are 'a cat' and 'a kitten'?", first)
    second = store.create("Other")
    store.rename(second.id, "Dogs and wolves")
    # A turn left "running" by a killed process.
    store.add_turn(second.id, Turn("draw a wolf"))

    reopened = ConversationStore(tmp_path)
    assert reopened.recover_interrupted() == 1
    assert reopened.open(second.id).turns[0].status == "interrupted"
    assert [c.title for c in reopened.list()] == ["Dogs and wolves", "Cats"]
    assert [c.id for c in reopened.list("kitten")] == [first.id]
    assert [c.id for c in reopened.list("wolves")] == [second.id]
    assert reopened.list("100%") == []
    assert reopened.open(first.id).turns[0].answer.endswith("similar 0.8\n\nsimilar.")
    reopened.delete(first.id)
    assert reopened.open(first.id) is None and not first.folder.exists()


def test_attachments_with_the_same_name_do_not_overwrite_each_other(tmp_path):
    one, two = tmp_path / "a" / "photo.png", tmp_path / "b" / "photo.png"
    for path, content in ((one, b"first"), (two, b"second")):
        path.parent.mkdir()
        path.write_bytes(content)
    plan = {"tasks": [{"id": 0, "task": "conversational", "dep": [], "args": {"text": "hi"}}]}
    engine, _, _ = make_engine(plan, "hello", "ok", plan, "hello", "ok")
    conversation = ConversationStore(tmp_path / "conv").create()
    first = engine.ask("look at photo.png", conversation, [one])
    second = engine.ask("and this photo.png", conversation, [two])
    assert open(first.attachments[0], "rb").read() == b"first"
    assert open(second.attachments[0], "rb").read() == b"second"
    assert first.attachments[0] != second.attachments[0]
    assert set(second.files) >= {"photo.png", "photo-2.png"}


def test_gguf_chat_templates_render_in_a_sandbox():
    import jinja2.exceptions
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    # The formatter llama-cpp-python builds from a GGUF's chat template: a template that reaches
    # for Python internals must be refused, not executed.
    hostile = "{{ ''.__class__.__mro__[1].__subclasses__() }}{% for m in messages %}{{ m.content }}{% endfor %}"
    formatter = Jinja2ChatFormatter(template=hostile, eos_token="", bos_token="")
    with pytest.raises(jinja2.exceptions.SecurityError):
        formatter(messages=[{"role": "user", "content": "hi"}])


def test_models_of_waiting_tasks_load_while_earlier_tasks_run(tmp_path):

    prefetched = threading.Event()
    order = []

    class PrefetchingExperts(FakeExperts):
        def prefetch(self, model_id, task):
            order.append(("prefetch", task))
            prefetched.set()

    def first(inputs, cancel):
        assert prefetched.wait(5), "the dependent task's model was not loading during this task"
        order.append(("run", "image-to-text"))
        return {"text": "a cat"}

    plan = {"tasks": [{"id": 0, "task": "image-to-text", "dep": [], "args": {"image": "a.png"}},
                      {"id": 1, "task": "text-to-speech", "dep": [0], "args": {"text": "<GENERATED>-0"}}]}
    experts = PrefetchingExperts(image_to_text=first, text_to_speech=lambda i, c: {"audio": "/tmp/x.wav"})
    source = tmp_path / "a.png"
    source.write_bytes(b"png")
    turn = Engine(ScriptedController(plan, "done"), experts).ask("caption a.png and read it",
                                                                   ConversationStore(tmp_path).create(), [source])
    assert [r.status for r in turn.results] == ["done", "done"]
    assert order[0] == ("prefetch", "text-to-speech")


def test_a_request_with_its_own_attachment_is_planned_on_it_without_earlier_turns(tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"\x89PNG fake")
    caption = {"tasks": [{"id": 0, "task": "image-to-text", "dep": [], "args": {"image": "photo.png"}}]}
    engine, controller, _ = make_engine(SIMILARITY_PLAN, "The score is 0.8.", caption, "A cat.",
                                        sentence_similarity=lambda i, c: {"text": "score 0.8"},
                                        image_to_text=lambda i, c: {"text": "a cat"})
    conversation = ConversationStore(tmp_path / "c").create()
    engine.ask("How similar are 'a cat' and 'a kitten'?", conversation)
    turn = engine.ask("Describe this picture", conversation, [photo])
    planning = controller.calls[2][-1]["content"]
    assert "Earlier in this conversation" not in planning and "a kitten" not in planning
    assert turn.plan[0]["task"] == "image-to-text"


def test_only_a_request_that_refers_back_gets_the_history():
    from core.planning.context import planning_context

    history = [{"request": "How similar are 'a' and 'b'?", "summary": "score 0.8"}]
    known = {"old.png": "/c/old.png"}
    assert planning_context("Now translate that into German", {}, known, history) == (known, history)
    assert planning_context("Translate 'good morning' into German", {}, known, history) == (known, [])
    assert planning_context("What is the capital of France?", {}, known, history) == (known, [])
    new = {"new.png": "/c/new.png"}
    assert planning_context("Describe this picture", new, {**known, **new}, history) == (new, [])
    assert planning_context("Compare new.png with old.png", new, {**known, **new}, history)[0] == {**known, **new}
