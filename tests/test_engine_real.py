"""The real controller GGUF (SmolLM2 through llama.cpp) and the real MiniLM, end to end. No fakes."""

import json
import subprocess
import sys
import threading
import time

import pytest

from app.settings import Settings
from app.wiring import build_app
from core.events import AnswerToken
from core.history.store import ConversationStore
from tests.conftest import ROOT

SIMILARITY = "How similar are 'A cat sits on the mat.' and 'A kitten rests on the rug.'?"


@pytest.fixture(scope="module")
def app(real_controller, tmp_path_factory):
    settings = Settings(data_dir=str(tmp_path_factory.mktemp("data")))
    return build_app(settings, controller=real_controller)  # share the session's loaded GGUF


def test_real_controller_plans_the_similarity_request(app):
    outcome = app.engine.planner.plan(SIMILARITY, [])
    (task,) = outcome.graph.tasks
    assert task.type == "sentence-similarity"
    assert {task.args["text"].value, task.args["text2"].value} == {"A cat sits on the mat.", "A kitten rests on the rug."}


def test_real_controller_lists_steps_and_plans_one_task_per_step(app, real_controller):
    from app.wiring import planner_for

    planner = planner_for(app.settings)(real_controller, steps="listed")
    assert planner.demos.embed is not None  # MiniLM chooses the demos and ranks the task types
    request = "Transcribe talk.wav and then summarize the transcript."
    steps = planner.list_steps(request, [])
    assert steps and all(0 < len(step) <= 100 for step in steps)
    outcome = planner.plan(request, [])  # valid, or it raises
    if not any("without the listed steps" in note for note in outcome.repairs):
        assert [task.step for task in outcome.graph.tasks] == steps
    assert outcome.graph.tasks[0].type in {"automatic-speech-recognition", "audio-classification", "audio-to-audio"}


@pytest.mark.parametrize("step, expected", [
    ("put the voice memo into text", "automatic-speech-recognition"),  # sound in, words out
    ("convert the speech into written text", "automatic-speech-recognition"),  # same words as TTS's
    ("how far away is the tree in the picture", "depth-estimation"),
    ("what object appears most often and how many of those objects are red", "visual-question-answering"),
    ("identify all the objects in the picture", "object-detection"),
])
def test_real_minilm_ranks_the_task_type_that_fits_a_step_first(app, step, expected):
    from core.planning.step_types import rank_step_types

    (ranked,) = rank_step_types(app.engine.planner.demos.embed, [step], files=["photo.jpg", "memo.wav"])
    assert ranked[0] == expected


def test_real_minilm_reads_a_chain_as_a_whole(app):
    """Alone, "make an audio version of the poem" reads as writing a poem; after a step that
    writes one, the chain search takes it as reading that text aloud."""
    from core.planning.step_types import rank_step_types

    embed = app.engine.planner.demos.embed
    steps = ["write a short poem about the sea", "make an audio version of the poem"]
    assert [ranked[0] for ranked in rank_step_types(embed, steps)] == ["text-generation", "text-to-speech"]


def test_real_turn_runs_minilm_and_streams_an_answer_with_the_score(app, tmp_path):
    tokens = []
    unsubscribe = app.engine.bus.subscribe(lambda e: tokens.append(e.text) if isinstance(e, AnswerToken) else None)
    try:
        turn = app.engine.ask(SIMILARITY, ConversationStore(tmp_path).create())
    finally:
        unsubscribe()
    assert turn.status == "done", turn.error
    (result,) = turn.results
    assert result.model == "sentence-transformers/all-MiniLM-L6-v2"
    assert 0.5 < result.outputs["score"] < 0.9  # a paraphrase, measured by the real model
    assert turn.answer and "".join(tokens).strip() == turn.answer
    assert f"{result.outputs['score']:.2f}" in turn.answer
    # Every number, quotation and model id in the answer is in the request or the record.
    from core.answering.claims import Support
    from core.answering.evaluation import claims_in
    from core.answering.facts import support_texts

    assert claims_in(turn.answer, Support.of(*support_texts(SIMILARITY, turn.results), counts=1)) == []


def test_a_request_no_installed_model_can_do_says_what_to_install_and_exits_1(tmp_path):
    plan = tmp_path / "draw.json"
    plan.write_text(json.dumps([{"id": 0, "task": "text-to-image", "dep": [], "args": {"text": "a red boat"}}]))
    env = {**__import__("os").environ, "JARVIS_DATA_DIR": str(tmp_path / "data"),
           "JARVIS_CONFIG_DIR": str(tmp_path / "config")}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "ask", "Draw a red boat", "--plan", str(plan),
                           "--json"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr
    record = json.loads(done.stdout)
    assert record["status"] == "failed"
    answer = record["answer"]
    assert answer.startswith("Text-to-image (task 0) could not run: no installed model can do text-to-image.")
    assert "main.py models download stable-diffusion-v1-5/stable-diffusion-v1-5" in answer and "licence" in answer


def test_real_multi_turn_request_refers_to_the_earlier_result(app, tmp_path):
    conversation = ConversationStore(tmp_path).create()
    first = app.engine.ask(SIMILARITY, conversation)
    assert first.status == "done"
    second = app.engine.ask("Now translate the first sentence into French.", conversation)
    assert second.status == "done", second.error
    planning_request = app.engine.planner.messages("x", [], conversation.history(exclude=second))[-1]["content"]
    assert "A cat sits on the mat." in planning_request  # the earlier turn reached the planner
    translation = next(t for t in second.plan if t["task"] == "translation")
    assert "cat" in translation["args"]["text"].lower()
    assert translation["args"]["language"].lower() == "french"


def run_cli(*args, env_dirs):
    env = {"JARVIS_DATA_DIR": str(env_dirs / "data"), "JARVIS_CONFIG_DIR": str(env_dirs / "config"),
           "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_cli_ask_json_end_to_end(tmp_path):
    done = run_cli("ask", SIMILARITY, "--json", env_dirs=tmp_path)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout)
    assert set(record) >= {"plan", "selections", "results", "answer"}
    assert record["plan"][0]["task"] == "sentence-similarity"
    assert record["selections"][0]["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert record["results"][0]["outputs"]["score"] > 0.5
    assert record["answer"]


@pytest.mark.parametrize("args, message", [
    (["ask", "  "], "the request is empty"),
    (["ask", "describe it", "--file", "/no/such/photo.png"], "no such file"),
    (["ask", "describe it", "--file", "/proc/self/mem"], "cannot be read"),
    (["ask", "describe it", "--file", "/tmp"], "not a file"),
    (["ask", "hello", "--controller", str(ROOT / "README.md")], "is not a GGUF model file"),
    (["ask", "hello", "--controller", "/no/such/model.gguf"], "controller model not found"),
])
def test_cli_bad_input_gets_a_clear_message_not_a_traceback(tmp_path, args, message):
    done = run_cli(*args, env_dirs=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_real_request_with_its_own_picture_is_planned_on_the_picture_not_the_earlier_turn(app, tmp_path):
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (32, 32), "red").save(photo)
    conversation = ConversationStore(tmp_path).create()
    assert app.engine.ask(SIMILARITY, conversation).status == "done"
    turn = app.engine.ask("Describe this picture", conversation, [photo])
    assert turn.plan and turn.plan[0]["task"] != "sentence-similarity"
    assert "photo.png" in json.dumps(turn.plan) and "kitten" not in json.dumps(turn.plan)


@pytest.mark.parametrize("request_text,files,expected", [
    ("Write a short poem about the sea and read it aloud.", [], ["text-generation", "text-to-speech"]),
    ("Transcribe lecture.wav and then summarize it for me.", ["lecture.wav"],
     ["automatic-speech-recognition", "summarization"]),
    # the user's story is no step (not a wording the classifier was fitted on)
    ("My uncle filmed a lecture and saved the sound as lecture.wav. Please transcribe it.", ["lecture.wav"],
     ["automatic-speech-recognition"]),
])
def test_real_minilm_reads_the_steps_from_the_requests_clauses(app, request_text, files, expected):
    from core.planning.clauses import clause_steps
    from core.planning.step_types import rank_step_types

    embed = app.engine.planner.demos.embed
    steps = clause_steps(embed, request_text)
    assert [ranked[0] for ranked in rank_step_types(embed, steps, None, files)] == expected


def test_real_minilm_adds_the_clause_a_listing_left_out(app):
    from core.planning.clauses import with_missing_clauses

    request = "Describe harbour.jpg and read the description aloud."
    assert with_missing_clauses(app.engine.planner.demos.embed, ["describe harbour.jpg"], request, None,
                                ["harbour.jpg"]) == ["describe harbour.jpg", "read the description aloud"]


def test_a_listing_with_nothing_from_the_request_gives_way_to_the_requests_clauses(app):
    from core.planning.planner import Planner
    from tests.fakes import ScriptedController

    # a small model's listing of a follow-up: the earlier turn, not what is asked now
    listing = {"steps": ["Earlier in this conversation:", "I asked: Write a haiku about winter."]}
    planner = Planner(ScriptedController(listing), embed=app.engine.planner.demos.embed, steps="listed")
    history = [{"request": "Write a haiku about winter.", "summary": "text-generation: snow on the old roof"}]
    steps, rankings = planner.request_steps("Lovely. Say it out loud.", history, [])
    assert steps == ["Say it out loud"] and rankings[0][0] == "text-to-speech"


def test_the_default_controller_plans_from_the_clauses_in_one_controller_pass(app, real_controller, monkeypatch):
    """`auto` reads the small default controller's steps from the request: no listing pass, one
    task per clause, each task's step the clause's words."""
    stages = []
    chat = real_controller.chat
    monkeypatch.setattr(real_controller, "chat", lambda *a, **k: stages.append(k.get("stage")) or chat(*a, **k))
    planner = app.engine.planner
    assert planner.steps == "clauses"
    outcome = planner.plan("Write a short poem about the sea and read it aloud.", [])
    assert "steps" not in stages and stages.count("planning") == outcome.attempts
    assert [t.type for t in outcome.graph.tasks] == ["text-generation", "text-to-speech"]
    assert [t.step for t in outcome.graph.tasks] == ["Write a short poem about the sea", "read it aloud"]


def test_stop_does_not_wait_for_another_generation_to_let_go_of_the_controller(real_controller):
    """A turn whose controller is busy (a warm-up load, a turn still being cancelled) stops at
    once when cancelled, instead of waiting for the other generation to end."""
    from common.cancel import Cancelled, CancelToken

    cancel = CancelToken()
    outcome: list[object] = []

    def chat() -> None:
        try:
            outcome.append(real_controller.chat([{"role": "user", "content": "Say hello."}], max_tokens=8,
                                                cancel=cancel))
        except Cancelled as stopped:
            outcome.append(stopped)

    with real_controller._lock:  # another generation holds the controller for as long as this block
        waiting = threading.Thread(target=chat)
        waiting.start()
        time.sleep(0.3)
        cancel.cancel()
        waiting.join(timeout=5)
        assert not waiting.is_alive(), "Stop waited for the other generation"
    assert len(outcome) == 1 and isinstance(outcome[0], Cancelled)
