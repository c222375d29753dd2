"""The store as a listener of the engine's event stream: each turn is saved as its events arrive."""

from __future__ import annotations

import logging

from core.events import Event, ModelChosen, PlanReady, RunFinished, TaskDone, TaskFailed, TurnStarted
from core.history.store import ConversationStore, StorageError
from core.turn import Turn

log = logging.getLogger(__name__)

# Events after which the saved turn is brought up to date. Tokens are not among them (a write per
# token would cost more than the answer); the answer is saved whole with RunFinished.
SAVED_AFTER = (PlanReady, ModelChosen, TaskDone, TaskFailed, RunFinished)


class TurnRecorder:
    """Subscribe to an engine's bus; the engine runs one turn at a time, so events between a
    TurnStarted and its RunFinished belong to that turn.

    A storage fault (a full disk) does not stop the turn: it is logged once as `problem`, and the
    next save tries again, so a turn whose disk came back is saved whole."""

    def __init__(self, store: ConversationStore) -> None:
        self.store = store
        self.problem: str | None = None  # why the current turn is not (fully) saved
        self._turn: Turn | None = None
        self._conversation_id = ""
        self._index: int | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, TurnStarted):
            self._turn, self._conversation_id = Turn.started(event), event.conversation_id
            self._index, self.problem = None, None
            self._save()
            return
        if self._turn is None:
            return
        self._turn.apply(event)
        if isinstance(event, SAVED_AFTER):
            self._save()
        if isinstance(event, RunFinished):
            self._turn = None

    def _save(self) -> None:
        try:
            if self._index is None:
                self._index = self.store.add_turn(self._conversation_id, self._turn)
            else:
                self.store.update_turn(self._conversation_id, self._index, self._turn)
        except StorageError as error:
            if self.problem is None:
                self.problem = f"this turn is not saved: {error}"
                log.error("%s", self.problem)
