"""Conversation ids are names, never paths: hostile ids touch nothing outside conversations/, and
two processes writing one conversation add their turns beside each other."""

import multiprocessing
import os
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

from core.history.store import ConversationIdError, ConversationStore, check_conversation_id
from core.turn import Turn
from tests.conftest import ROOT

HOSTILE = ["../x", "../../data", "/tmp/abs", "a/b", ".", "..", "", "x" * 300, "a\0b", "caf\udce9", "-rf", "a b"]


@pytest.mark.parametrize("conversation_id", HOSTILE)
def test_hostile_ids_are_refused_by_every_entry_of_the_store(tmp_path, conversation_id):
    store = ConversationStore(tmp_path / "data")
    for call in (lambda: store.create(conversation_id=conversation_id), lambda: store.open(conversation_id),
                 lambda: store.open_or_create(conversation_id),
                 lambda: store.add_turn(conversation_id, Turn("hello"))):
        with pytest.raises(ConversationIdError, match="is not allowed"):
            call()
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["conversations"]
    assert [p.name for p in store.root.iterdir() if not p.name.startswith("conversations.sqlite3")] == []


def test_delete_never_leaves_the_root(tmp_path):
    store = ConversationStore(tmp_path / "data")
    precious = tmp_path / "data" / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("mine")
    # A row an older version wrote for `ask --conversation ../precious`, and a folder that is a link.
    with store.transaction() as db:
        db.execute("INSERT INTO conversations VALUES ('../precious', 't', 0, 0)")
    store.delete("../precious")
    linked = store.create(conversation_id="linked")
    linked.folder.symlink_to(precious)
    store.delete("linked")
    assert (precious / "keep.txt").read_text() == "mine"
    assert store.list() == []


def _cli(tmp_path, *args):
    env = {**os.environ, "JARVIS_DATA_DIR": str(tmp_path / "data"), "JARVIS_CONFIG_DIR": str(tmp_path / "config")}
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], env=env, cwd=ROOT,
                          capture_output=True, timeout=120)


@pytest.mark.parametrize("conversation_id", ["../x", "/tmp/abs-conversation", "x" * 300, os.fsdecode(b"caf\xe9")])
def test_ask_refuses_a_path_like_conversation_id_in_one_line(tmp_path, conversation_id):
    done = _cli(tmp_path, "ask", "hello", "--conversation", conversation_id)
    assert done.returncode == 2
    error = done.stderr.decode("utf-8", "replace").strip()
    assert "is not allowed" in error and "Traceback" not in error and len(error.splitlines()) == 1
    assert not (tmp_path / "data" / "x").exists() and not os.path.exists("/tmp/abs-conversation")


def _write_turns(data_dir, name, count):
    store = ConversationStore(data_dir)
    for n in range(count):
        store.add_turn("shared", Turn(f"{name} {n}"))


def test_two_processes_writing_one_conversation_lose_nothing(tmp_path):
    ConversationStore(tmp_path).create(conversation_id="shared")
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_write_turns, args=(tmp_path, name, 25)) for name in ("window", "cli")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=120)
        assert writer.exitcode == 0
    requests = [turn.request for turn in ConversationStore(tmp_path).open("shared").turns]
    assert sorted(requests) == sorted(f"{name} {n}" for name in ("window", "cli") for n in range(25))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_id_is_either_a_plain_name_or_refused(conversation_id):
    try:
        checked = check_conversation_id(conversation_id)
    except ConversationIdError as error:
        assert "\n" not in str(error)
        return
    assert "/" not in checked and "\\" not in checked and checked not in (".", "..")
    assert os.path.basename(checked) == checked
