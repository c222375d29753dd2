"""Conversations in SQLite: a schema version with migrations, one transaction per write.

The database holds the record of every turn; each conversation also has a folder for its
attachments and generated files. Turns are written as their events arrive
(`core.history.recorder`), each write one transaction in WAL mode, so a killed process leaves its
running turn saved up to its last event; `recover_interrupted` marks it on the next start. A new
turn takes its index inside the transaction that inserts it, so two processes writing to one
conversation (the window and a command line) add turns beside each other instead of over them.

Storage faults end in `StorageError`, one line naming the file or folder: a folder that cannot be
written, a full disk, a database of a newer schema (refused before anything is written). A file that
is not a database, or fails SQLite's quick check, is moved aside as
`conversations.sqlite3.corrupt-<time>` and a fresh one is made; `notices` says so.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.history.conversation import Conversation
from core.turn import Turn

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
# A conversation id names its folder under conversations/: a fixed pattern, never a path.
CONVERSATION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class StorageError(Exception):
    """The conversation database or its folder cannot be used; the message is one line."""


class ConversationIdError(ValueError):
    """A conversation id that is not a plain name; the message says what is allowed."""


def check_conversation_id(conversation_id: str) -> str:
    if not isinstance(conversation_id, str) or not CONVERSATION_ID.fullmatch(conversation_id):
        shown = ascii(conversation_id)[:70]  # printable on any terminal, whatever the id held
        raise ConversationIdError(f"conversation id {shown} is not allowed: use 1 to 64 letters, digits, "
                                  "'-' or '_', starting with a letter or digit")
    return conversation_id

_MIGRATIONS = {
    1: """
        CREATE TABLE conversations (
            id TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            created REAL NOT NULL,
            updated REAL NOT NULL
        );
        CREATE TABLE turns (
            conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            request TEXT NOT NULL,
            status TEXT NOT NULL,
            record TEXT NOT NULL,
            created REAL NOT NULL,
            PRIMARY KEY (conversation_id, idx)
        );
    """,
}


@dataclass(frozen=True)
class ConversationInfo:
    id: str
    title: str
    created: float
    updated: float
    turns: int


class ConversationStore:
    def __init__(self, data_dir: Path) -> None:
        self.root = Path(data_dir).resolve() / "conversations"
        self.path = self.root / "conversations.sqlite3"
        self.notices: list[str] = []  # what opening had to do, for the window and the CLI to say
        self._lock = threading.Lock()  # one connection shared by the GUI and worker threads
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StorageError(f"cannot create the conversations folder {self.root}: "
                               f"{error.strerror or error}") from None
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise StorageError(f"the conversations folder {self.root} is not writable")
        if self.path.exists() and not self.path.is_file():
            raise StorageError(f"{self.path} is not a regular file; move it away")
        try:
            self._db = self._connect()
        except _Damaged as damage:
            moved = self._move_aside()
            self.notices.append(f"the conversation database {self.path} was damaged ({damage}); it was moved "
                                f"to {moved.name} and a new one started")
            log.error("%s", self.notices[-1])
            self._db = self._connect()
        self._migrate()

    def _connect(self) -> sqlite3.Connection:
        """A checked connection: the schema is not newer than ours and the file passes quick_check."""
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as error:
            raise StorageError(f"cannot open {self.path}: {error}") from None
        try:
            # Read the version before any pragma that writes (WAL mode rewrites the header), so a
            # newer app's file is left exactly as it was.
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                db.close()
                raise StorageError(f"{self.path} was written by a newer version of the app (schema {version}, "
                                   f"this one reads {SCHEMA_VERSION}); update the app to open it")
            problems = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
            if problems != ["ok"]:
                db.close()
                raise _Damaged(f"quick_check: {problems[0]}"[:200])
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA foreign_keys=ON")
        except sqlite3.DatabaseError as error:
            db.close()
            if _is_storage_fault(error):
                raise StorageError(f"cannot use {self.path}: {error}") from None
            raise _Damaged(str(error)) from None
        return db

    def _move_aside(self) -> Path:
        """Keep the damaged file (and its WAL) beside the new one, named by the time it was found."""
        target = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        while target.exists():
            target = target.with_name(target.name + "-1")
        try:
            self.path.rename(target)
            for suffix in ("-wal", "-shm"):
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    side.rename(target.with_name(target.name + suffix))
        except OSError as error:
            raise StorageError(f"the conversation database {self.path} is damaged and cannot be moved aside: "
                               f"{error.strerror or error}") from None
        return target

    # -- plumbing ------------------------------------------------------------------------------

    @contextmanager
    def transaction(self):
        """One write transaction; SQLite's errors (a full disk, a read-only file) become StorageError."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as error:
                raise StorageError(f"cannot write {self.path}: {error}") from None
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException as error:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                if isinstance(error, sqlite3.Error):
                    raise StorageError(f"cannot write {self.path}: {error}") from None
                raise

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self.transaction() as db:
                # Statement by statement: executescript() would commit mid-transaction.
                for statement in _split(_MIGRATIONS[target]):
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {target}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- conversations -------------------------------------------------------------------------

    def create(self, title: str = "New conversation", conversation_id: str | None = None) -> Conversation:
        conversation_id = check_conversation_id(uuid.uuid4().hex[:12] if conversation_id is None else conversation_id)
        now = time.time()
        with self.transaction() as db:
            db.execute("INSERT INTO conversations VALUES (?, ?, ?, ?)", (conversation_id, title, now, now))
        return Conversation(self._folder(conversation_id), conversation_id, title=title)

    def _folder(self, conversation_id: str) -> Path:
        """The conversation's folder: a direct child of the root, checked after resolving links."""
        folder = self.root / check_conversation_id(conversation_id)
        if folder.resolve().parent != self.root:
            raise ConversationIdError(f"the folder of conversation {conversation_id} points outside {self.root}")
        return folder

    def open(self, conversation_id: str) -> Conversation | None:
        check_conversation_id(conversation_id)
        with self._lock:
            row = self._db.execute("SELECT title FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
            if row is None:
                return None
            records = self._db.execute("SELECT record FROM turns WHERE conversation_id = ? ORDER BY idx",
                                       (conversation_id,)).fetchall()
        return Conversation(self._folder(conversation_id), conversation_id, title=row[0],
                            turns=[Turn.from_dict(json.loads(r[0])) for r in records])

    def open_or_create(self, conversation_id: str) -> Conversation:
        return self.open(conversation_id) or self.create(conversation_id=conversation_id)

    def list(self, search: str = "") -> list[ConversationInfo]:
        """Newest first; `search` matches titles and requests, case-insensitively."""
        query = """SELECT c.id, c.title, c.created, c.updated, COUNT(t.idx) FROM conversations c
                   LEFT JOIN turns t ON t.conversation_id = c.id"""
        params: tuple = ()
        if search:
            query += """ WHERE c.title LIKE ? ESCAPE '\\' OR c.id IN
                         (SELECT conversation_id FROM turns WHERE request LIKE ? ESCAPE '\\')"""
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params = (pattern, pattern)
        query += " GROUP BY c.id ORDER BY c.updated DESC"
        with self._lock:
            return [ConversationInfo(*row) for row in self._db.execute(query, params).fetchall()]

    def rename(self, conversation_id: str, title: str) -> None:
        with self.transaction() as db:
            db.execute("UPDATE conversations SET title = ?, updated = ? WHERE id = ?",
                       (title.strip() or "Untitled", time.time(), conversation_id))

    def delete(self, conversation_id: str) -> None:
        """Forget the conversation and remove its folder, only ever a folder inside the root (a row
        written by an older version with a path-like id loses its row, and nothing outside)."""
        try:
            folder = self._folder(conversation_id)
        except ConversationIdError as error:
            log.warning("%s; removing its record only", error)
            folder = None
        with self.transaction() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
        if folder is not None and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)

    def add_turn(self, conversation_id: str, turn: Turn) -> int:
        """Append `turn` to the conversation (created if it is not stored yet); returns its index."""
        check_conversation_id(conversation_id)
        now = time.time()
        with self.transaction() as db:
            db.execute("INSERT OR IGNORE INTO conversations VALUES (?, ?, ?, ?)",
                       (conversation_id, turn.request[:60] or "New conversation", now, now))
            index = db.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM turns WHERE conversation_id = ?",
                               (conversation_id,)).fetchone()[0]
            db.execute("INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?)",
                       (conversation_id, index, turn.request, turn.status, _record(turn), now))
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))
        return index

    def update_turn(self, conversation_id: str, index: int, turn: Turn) -> None:
        now = time.time()
        with self.transaction() as db:
            db.execute("UPDATE turns SET status = ?, record = ? WHERE conversation_id = ? AND idx = ?",
                       (turn.status, _record(turn), conversation_id, index))
            db.execute("UPDATE conversations SET updated = ? WHERE id = ?", (now, conversation_id))

    def recover_interrupted(self) -> int:
        """Turns left 'running' by a process that died are marked interrupted; returns how many."""
        with self.transaction() as db:
            rows = db.execute("SELECT conversation_id, idx, record FROM turns WHERE status = 'running'").fetchall()
            interrupted = 0
            for conversation_id, idx, record in rows:
                data = json.loads(record)
                if _alive(data.get("owner_pid")):
                    continue  # another window or command line is still running this turn
                interrupted += 1
                data["status"], data["error"] = "interrupted", "the app stopped before this turn finished"
                db.execute("UPDATE turns SET status = 'interrupted', record = ? WHERE conversation_id = ? AND idx = ?",
                           (json.dumps(data, ensure_ascii=False), conversation_id, idx))
        return interrupted


class _Damaged(Exception):
    """The database file is not a usable SQLite database (opening moves it aside)."""


def _is_storage_fault(error: sqlite3.Error) -> bool:
    """Faults of the disk or the permissions, which moving the file aside would not cure."""
    text = str(error).lower()
    return any(word in text for word in ("disk", "readonly", "read-only", "unable to open", "locked"))


def _record(turn: Turn) -> str:
    record = turn.to_dict()
    if turn.status == "running":  # whose it is, so another process's start does not mark it interrupted
        record["owner_pid"] = os.getpid()
    return json.dumps(record, ensure_ascii=False)


def _alive(pid) -> bool:
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _split(script: str) -> list[str]:
    return [statement.strip() for statement in script.split(";") if statement.strip()]
