"""A conversation: its turns and its folder of attachments and artifacts.

Saved as JSON written atomically (temp file + rename), so a killed process never leaves a torn
file. The desktop issue moves this into SQLite; the engine only needs `history` and the folders.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RECORD = "conversation.json"


@dataclass
class Conversation:
    folder: Path
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    turns: list[Any] = field(default_factory=list)  # core.engine.Turn, or dicts from disk

    @classmethod
    def create(cls, root: Path, conversation_id: str | None = None) -> "Conversation":
        conversation_id = conversation_id or uuid.uuid4().hex[:12]
        folder = root / conversation_id
        folder.mkdir(parents=True, exist_ok=True)
        return cls(folder, conversation_id)

    @classmethod
    def open(cls, root: Path, conversation_id: str) -> "Conversation":
        """The saved conversation with this id, or a new empty one."""
        conversation = cls.create(root, conversation_id)
        record = conversation.folder / RECORD
        if record.exists():
            conversation.turns = json.loads(record.read_text(encoding="utf-8")).get("turns", [])
        return conversation

    def files_dir(self) -> Path:
        path = self.folder / "files"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def new_turn_dir(self) -> Path:
        path = self.folder / f"turn-{len(self.turns) + 1:03d}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _as_dicts(self) -> list[dict]:
        return [t if isinstance(t, dict) else t.to_dict() for t in self.turns]

    def history(self, exclude=None) -> list[dict]:
        """What the planner sees of earlier turns: request, plan and a one-line result summary."""
        from core.responder import describe_result  # noqa: avoid an import cycle at module load
        from core.executor import TaskResult

        history = []
        for turn in self.turns:
            if turn is exclude:
                continue
            data = turn if isinstance(turn, dict) else turn.to_dict()
            if not data.get("plan"):
                continue
            results = [TaskResult(r["id"], r["task"], r["model"], r["status"], outputs=r["outputs"],
                                  error=r["error"]) for r in data.get("results", [])]
            # Results, not the answer: they are what the models said, the answer is a retelling.
            summary = " | ".join(describe_result(r) for r in results) or data.get("answer", "")
            history.append({"request": data["request"], "plan": data["plan"], "summary": summary})
        return history

    def known_files(self) -> dict[str, str]:
        """Attachments and artifacts of earlier turns, by base name, that still exist."""
        files: dict[str, str] = {}
        for data in self._as_dicts():
            files.update({k: v for k, v in data.get("files", {}).items() if Path(v).is_file()})
            for result in data.get("results", []):
                for key in ("image", "audio", "video"):
                    value = result.get("outputs", {}).get(key)
                    if isinstance(value, str) and Path(value).is_file():
                        files[Path(value).name] = value
        return files

    def save(self) -> None:
        record = self.folder / RECORD
        temp = record.with_suffix(".tmp")
        temp.write_text(json.dumps({"id": self.id, "turns": self._as_dicts()}, indent=1, ensure_ascii=False),
                        encoding="utf-8")
        os.replace(temp, record)
