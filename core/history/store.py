"""Conversations in SQLite: a schema version with migrations, one transaction per write.

The database holds the record of every turn; each conversation also has a folder for its
attachments and generated files. Turns are written as their events arrive
(`core.history.recorder`), each write one transaction in WAL mode, so a killed process leaves its
running turn saved up to its last event; `recover_interrupted` marks it on the next start. A new
turn takes its index inside the transaction that inserts it, so two processes writing to one
conversation (the window and a command line) add turns beside each other instead of over them.
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
        self.root.mkdir(parents=True, exist_ok=True)
        self.path = self.root / "conversations.sqlite3"
        self._lock = threading.Lock()  # one connection shared by the GUI and worker threads
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    # -- plumbing ------------------------------------------------------------------------------

    @contextmanager
    def transaction(self):
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(f"{self.path} was written by a newer version (schema {version}); "
                               "update the app to open it")
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
