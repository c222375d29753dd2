"""The store as a listener of the engine's event stream: each turn is saved as its events arrive."""

from __future__ import annotations

import logging

from core.events import Event, ModelChosen, PlanReady, RunFinished, TaskDone, TaskFailed, TurnStarted
from core.history.store import ConversationStore
from core.turn import Turn

log = logging.getLogger(__name__)

# Events after which the saved turn is brought up to date. Tokens are not among them (a write per
# token would cost more than the answer); the answer is saved whole with RunFinished.
SAVED_AFTER = (PlanReady, ModelChosen, TaskDone, TaskFailed, RunFinished)


class TurnRecorder:
    """Subscribe to an engine's bus; the engine runs one turn at a time, so events between a
    TurnStarted and its RunFinished belong to that turn."""

    def __init__(self, store: ConversationStore) -> None:
        self.store = store
        self._turn: Turn | None = None
        self._where: tuple[str, int] | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, TurnStarted):
            self._turn = Turn.started(event)
            self._where = (event.conversation_id, self.store.add_turn(event.conversation_id, self._turn))
            return
        if self._turn is None or self._where is None:
            return
        self._turn.apply(event)
        if isinstance(event, SAVED_AFTER):
            self.store.update_turn(*self._where, self._turn)
        if isinstance(event, RunFinished):
            self._turn = self._where = None
