"""Faults: each test checks that nothing already saved is lost and the program still works after."""

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

from app.settings import Settings
from app.wiring import build_app
from core.history.store import ConversationStore
from models.store import LocalStore
from tests.conftest import ROOT

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
SIMILARITY_PLAN = [{"id": 0, "task": "sentence-similarity", "dep": [], "args": {"text": "a cat", "text2": "a kitten"}}]


def cli(tmp_path, *args, **popen):
    env = {**os.environ, "JARVIS_DATA_DIR": str(tmp_path / "data"), "JARVIS_CONFIG_DIR": str(tmp_path / "config")}
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), *args], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def test_sigkill_mid_run_loses_only_the_running_turn(tmp_path):
    plan = tmp_path / "slow.json"
    plan.write_text(json.dumps([{"id": 0, "task": "text-generation", "dep": [],
                                 "args": {"text": "Write a very long story about the sea and its ships."}}]))
    (tmp_path / "first.json").write_text(json.dumps(SIMILARITY_PLAN))
    first = cli(tmp_path, "ask", "compare", "--plan", str(tmp_path / "first.json"), "--conversation", "c1")
    assert first.wait(timeout=300) == 0, first.stderr.read()

    victim = cli(tmp_path, "ask", "tell a story", "--plan", str(plan), "--conversation", "c1")
    database = tmp_path / "data" / "conversations" / "conversations.sqlite3"
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until the second turn is on disk as running
        rows = sqlite3.connect(database).execute("SELECT status FROM turns WHERE conversation_id='c1'").fetchall()
        if len(rows) == 2 and rows[1][0] == "running":
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the second turn never started")
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)

    store = ConversationStore(tmp_path / "data")
    assert store.recover_interrupted() == 1
    turns = store.open("c1").turns
    assert turns[0].status == "done" and turns[0].results[0].outputs["score"] > 0.5
    assert turns[1].status == "interrupted"
    again = cli(tmp_path, "ask", "compare", "--plan", str(tmp_path / "first.json"), "--conversation", "c1")
    assert again.wait(timeout=300) == 0
    assert [t.status for t in ConversationStore(tmp_path / "data").open("c1").turns] == ["done", "interrupted", "done"]


def test_sigkill_mid_execution_keeps_the_turn_with_every_finished_task(tmp_path):
    """The store records the turn from the event stream: killed while its second task runs, the
    turn is on disk with its plan, its models and the first task's result."""
    plan = tmp_path / "two.json"
    plan.write_text(json.dumps(SIMILARITY_PLAN + [
        {"id": 1, "task": "text-generation", "dep": [0],
         "args": {"text": "Write a very long story about the sea and its ships."}}]))
    victim = cli(tmp_path, "ask", "compare, then tell a story", "--plan", str(plan), "--conversation", "c2")
    database = tmp_path / "data" / "conversations" / "conversations.sqlite3"
    deadline = time.time() + 120
    while time.time() < deadline:  # wait until the first task's result is on disk, the turn still running
        try:
            rows = sqlite3.connect(database).execute("SELECT status, record FROM turns WHERE conversation_id='c2'").fetchall()
        except sqlite3.OperationalError:  # not created yet
            rows = []
        if rows and rows[0][0] == "running" and json.loads(rows[0][1])["results"]:
            break
        time.sleep(0.05)
    else:
        victim.kill()
        raise AssertionError("the first task never finished: " + victim.stderr.read()[-2000:])
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)

    store = ConversationStore(tmp_path / "data")
    assert store.recover_interrupted() == 1
    [turn] = store.open("c2").turns
    assert turn.status == "interrupted"
    assert [t["task"] for t in turn.plan] == ["sentence-similarity", "text-generation"]
    assert [s.model for s in turn.selections][0] == MINILM
    [finished] = turn.results
    assert finished.task_id == 0 and finished.status == "done" and finished.outputs["score"] > 0.5


def _engine(tmp_path, **settings):
    return build_app(Settings(data_dir=str(tmp_path / "data"), **settings))


def _import_copy(tmp_path, name, model_id):
    """Install a copy of MiniLM under another id, the way an imported model is stored."""
    source = LocalStore(tmp_path).get(MINILM).path
    target = tmp_path / "data" / "models" / name
    shutil.copytree(source, target)
    (target / "jarvis-model.json").write_text(json.dumps({"id": model_id, "task": "sentence-similarity"}))
    return target


def test_corrupted_weights_fail_that_task_only(tmp_path):
    broken = _import_copy(tmp_path, "broken", "local/broken-minilm")
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:4096])  # truncated mid-file
    app = _engine(tmp_path)
    conversation = app.conversations().create()
    plan = [
        {"id": 0, "task": "sentence-similarity", "dep": [], "args": {"text": "a", "text2": "b"}},
        {"id": 1, "task": "translation", "dep": [], "args": {"text": "hello", "language": "German"}},
    ]
    # Force the broken copy: it is the only candidate left once the packaged one is set aside.
    app.runtime.store.list = lambda original=app.runtime.store.list: [r for r in original() if r.id != MINILM]
    turn = app.engine.ask("compare and translate", conversation, plan=plan)
    assert turn.status == "partial" and turn.error.startswith("task 0 (sentence-similarity) failed")
    assert turn.results[0].status == "failed"
    assert "could not be loaded" in turn.results[0].error and "local/broken-minilm" in turn.results[0].error
    assert turn.results[1].status == "done"
    assert app.conversations().open(conversation.id).turns[0].results[1].status == "done"


def test_memory_budget_too_small_fails_with_a_clear_message(tmp_path):
    app = _engine(tmp_path, memory_budget_gb=0.01)
    conversation = app.conversations().create()
    turn = app.engine.ask("compare", conversation, plan=SIMILARITY_PLAN)
    assert turn.status == "failed" and turn.results[0].status == "failed"
    assert "memory budget" in turn.results[0].error
    # Raising the budget makes the same request work: nothing was left half-loaded.
    app = _engine(tmp_path, memory_budget_gb=4)
    turn = app.engine.ask("compare", app.conversations().open(conversation.id), plan=SIMILARITY_PLAN)
    assert turn.results[0].status == "done"


def test_ask_exits_1_with_status_partial_when_a_task_could_not_run(tmp_path):
    plan = tmp_path / "partial.json"
    plan.write_text(json.dumps(SIMILARITY_PLAN + [
        {"id": 1, "task": "text-to-image", "dep": [], "args": {"text": "a red boat"}}]))  # no such model here
    run = cli(tmp_path, "ask", "compare, and draw a boat", "--plan", str(plan), "--json")
    out, err = run.communicate(timeout=300)
    assert run.returncode == 1, err
    record = json.loads(out)
    assert record["status"] == "partial"
    assert [r["status"] for r in record["results"]] == ["done", "failed"]
    assert "task 1 (text-to-image) failed" in record["error"]
