"""Storage faults: a damaged or newer database, a full disk, a folder that cannot be used. Each is
one line naming the file or folder, and nothing already saved is lost."""

import hashlib
import logging
import sqlite3

import pytest

from app.settings import Settings
from core.events import PlanReady, RunFinished, TurnStarted
from core.history.recorder import TurnRecorder
from core.history.store import SCHEMA_VERSION, ConversationStore, StorageError
from core.turn import Turn


def database(data_dir):
    return data_dir / "conversations" / "conversations.sqlite3"


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_that_is_not_a_database_is_moved_aside_and_a_fresh_one_started(tmp_path):
    path = database(tmp_path)
    path.parent.mkdir(parents=True)
    garbage = bytes(range(256)) * 40
    path.write_bytes(garbage)
    store = ConversationStore(tmp_path)
    [notice] = store.notices
    assert "damaged" in notice and "\n" not in notice
    [kept] = path.parent.glob("conversations.sqlite3.corrupt-*")
    assert kept.name in notice and kept.read_bytes() == garbage  # the user's bytes are all still there
    store.add_turn("c1", Turn("hello"))
    assert [t.request for t in ConversationStore(tmp_path).open("c1").turns] == ["hello"]
    assert ConversationStore(tmp_path).notices == []  # the new database is healthy


def test_a_database_failing_its_quick_check_is_moved_aside(tmp_path):
    store = ConversationStore(tmp_path)
    for n in range(200):
        store.add_turn("c1", Turn(f"request {n} " + "x" * 500))
    store.close()
    path = database(tmp_path)
    with sqlite3.connect(path) as db:  # fold the WAL in, so the damage below is in the file read
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    data[3 * page + 8:3 * page + 400] = b"\xff" * 392  # scribble over the cells of an interior page
    path.write_bytes(bytes(data))
    reopened = ConversationStore(tmp_path)
    assert reopened.notices and "damaged (quick_check" in reopened.notices[0]
    assert reopened.list() == []
    assert list(path.parent.glob("conversations.sqlite3.corrupt-*"))


def test_a_newer_schema_is_refused_and_its_file_left_exactly_as_it_was(tmp_path):
    store = ConversationStore(tmp_path)
    store.add_turn("c1", Turn("from the future"))
    store.close()
    path = database(tmp_path)
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=DELETE")  # one file, so its hash is the whole database
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    before = sha(path)
    with pytest.raises(StorageError, match="newer version") as error:
        ConversationStore(tmp_path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)
    assert sha(path) == before and not list(path.parent.glob("*.corrupt-*"))


def test_a_data_folder_that_cannot_be_made_is_one_line_naming_it(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(StorageError, match="cannot create the conversations folder") as error:
        ConversationStore(blocker / "data")
    assert str(blocker / "data") in str(error.value)


def full_store(tmp_path) -> ConversationStore:
    """A store whose database may not grow: SQLite's own 'database or disk is full' path."""
    store = ConversationStore(tmp_path)
    store.add_turn("c1", Turn("saved before the disk filled"))
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    return store


def test_a_full_disk_is_a_storage_error_and_keeps_what_was_saved(tmp_path):
    store = full_store(tmp_path)
    with pytest.raises(StorageError, match="full") as error:
        for n in range(50):
            store.add_turn("c1", Turn("y" * 20_000))
    assert str(database(tmp_path)) in str(error.value)
    requests = [t.request for t in ConversationStore(tmp_path).open("c1").turns]
    assert requests[0] == "saved before the disk filled" and all(len(r) == 20_000 for r in requests[1:])
    assert store.open("c1") is not None


def test_the_recorder_says_once_that_a_turn_is_not_saved_and_the_turn_goes_on(tmp_path, caplog):
    store = full_store(tmp_path)
    recorder = TurnRecorder(store)
    plan = [{"id": 0, "task": "sentence-similarity", "dep": [], "args": {"text": "a" * 30_000, "text2": "b"}}]
    with caplog.at_level(logging.ERROR, logger="core.history.recorder"):
        recorder(TurnStarted("c1", "z" * 30_000, {}, []))
        recorder(PlanReady(plan, []))
        recorder(RunFinished("done", "the answer"))
    assert recorder.problem and recorder.problem.startswith("this turn is not saved")
    assert [r.getMessage() for r in caplog.records] == [recorder.problem]


def test_the_window_opens_with_a_damaged_database_and_says_so(qtbot, tmp_path):
    from desktop.main_window import MainWindow

    path = database(tmp_path / "data")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage" * 100)
    window = MainWindow(Settings(data_dir=str(tmp_path / "data")), app_factory=_no_engine)
    qtbot.addWidget(window)
    assert "moved to conversations.sqlite3.corrupt-" in window.statusBar().currentMessage()
    assert window.store.path == path


def test_the_window_keeps_working_when_the_data_folder_cannot_be_used(qtbot, tmp_path):
    from desktop.main_window import MainWindow

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    window = MainWindow(Settings(data_dir=str(blocker / "data")), app_factory=_no_engine)
    qtbot.addWidget(window)
    message = window.statusBar().currentMessage()
    assert message.startswith("Conversations are not saved this session: cannot create")
    conversation = window.store.create(title="still works")
    assert window.store.open(conversation.id).title == "still works"
    temporary = window.temporary_history
    assert temporary is not None and window.store.path.is_relative_to(temporary)
    window.close()  # not saved means not left behind in the temporary folder either
    assert not temporary.exists()


def _no_engine(settings, **wiring):
    from core.llm.controller import ControllerError

    raise ControllerError("no controller in this test")
