"""A conversation: its turns and its folder of attachments and artifacts.

Persisted through `core.store.ConversationStore` (SQLite); the engine only needs `history`, the
folders and `save`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.store import ConversationStore


@dataclass
class Conversation:
    folder: Path
    id: str
    title: str = "New conversation"
    store: "ConversationStore | None" = None
    turns: list[Any] = field(default_factory=list)  # core.engine.Turn while live, dicts once loaded

    def files_dir(self) -> Path:
        path = self.folder / "files"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def new_turn_dir(self) -> Path:
        path = self.folder / f"turn-{len(self.turns) + 1:03d}"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def records(self) -> list[dict]:
        return [t if isinstance(t, dict) else t.to_dict() for t in self.turns]

    def history(self, exclude=None) -> list[dict]:
        """What the planner sees of earlier turns: request, plan and a one-line result summary."""
        from core.responder import describe_record

        history = []
        for turn in self.turns:
            if turn is exclude:
                continue
            data = turn if isinstance(turn, dict) else turn.to_dict()
            if not data.get("plan"):
                continue
            # Results, not the answer: they are what the models said, the answer is a retelling.
            summary = " | ".join(describe_record(r) for r in data.get("results", [])) or data.get("answer", "")
            history.append({"request": data["request"], "plan": data["plan"], "summary": summary})
        return history

    def known_files(self) -> dict[str, str]:
        """Attachments and artifacts of earlier turns, by base name, that still exist."""
        files: dict[str, str] = {}
        for data in self.records():
            files.update({k: v for k, v in data.get("files", {}).items() if Path(v).is_file()})
            for result in data.get("results", []):
                for key in ("image", "audio", "video"):
                    value = result.get("outputs", {}).get(key)
                    if isinstance(value, str) and Path(value).is_file():
                        files[Path(value).name] = value
        return files

    def save(self, turn=None) -> None:
        """Persist `turn` (default: the latest one)."""
        if self.store is None or not self.turns:
            return
        turn = self.turns[-1] if turn is None else turn
        index = next(i for i, t in enumerate(self.turns) if t is turn)
        record = turn if isinstance(turn, dict) else turn.to_dict()
        self.store.save_turn(self.id, index, record)
