"""A conversation: its turns and its folder of attachments and artifacts.

Turns are `core.turn.Turn` objects, live or loaded. They are persisted by
`core.history.recorder.TurnRecorder` from the engine's events; the engine only needs `history`,
`known_files` and the folders.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from core.answering.facts import describe_result
from core.turn import Turn


@dataclass
class Conversation:
    folder: Path
    id: str
    title: str = "New conversation"
    turns: list[Turn] = field(default_factory=list)

    def files_dir(self) -> Path:
        path = self.folder / "files"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def new_turn_dir(self) -> Path:
        """A folder no other turn uses, even one written by another process beside this one."""
        number = len(self.turns) + 1
        self.folder.mkdir(parents=True, exist_ok=True)
        while True:
            path = self.folder / f"turn-{number:03d}"
            try:
                path.mkdir()
                return path
            except FileExistsError:
                number += 1

    def history(self, exclude: Turn | None = None) -> list[dict]:
        """What the planner sees of earlier turns: request, plan and a one-line result summary."""
        history = []
        for turn in self.turns:
            if turn is exclude or not turn.plan:
                continue
            # Results, not the answer: they are what the models said, the answer is a retelling.
            summary = " | ".join(describe_result(r) for r in turn.results) or turn.answer
            history.append({"request": turn.request, "plan": turn.plan, "summary": summary})
        return history

    def known_files(self) -> dict[str, str]:
        """Attachments and artifacts of earlier turns, by base name, that still exist."""
        files: dict[str, str] = {}
        for turn in self.turns:
            files.update({k: v for k, v in turn.files.items() if Path(v).is_file()})
            files.update({Path(path).name: path for _, path in turn.media()})
        return files
