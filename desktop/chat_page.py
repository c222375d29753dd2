"""The chat page: conversation, composer, and the live task graph with per-task details."""

from __future__ import annotations

import html
import json
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QLabel, QSplitter, QTextBrowser, QVBoxLayout, QWidget

from core.events import Event, TaskDone, TaskFailed
from core.executor import TaskResult
from core.history.conversation import Conversation
from core.history.store import ConversationStore
from core.turn import Turn
from desktop.bridge import RunBridge
from desktop.chat_view import ChatView, TurnWidget
from desktop.composer import Composer
from desktop.graph_view import TaskGraphView
from desktop.welcome import WelcomePanel


class ChatPage(QWidget):
    conversation_changed = Signal(str)  # id of a conversation that was created or gained a turn

    def __init__(self, store: ConversationStore, bridge: RunBridge | None, parent=None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.store = store
        self.bridge = bridge
        self.conversation: Conversation | None = None
        self.live_turn: TurnWidget | None = None
        self._task_results: dict[int, TaskResult] = {}

        self.chat = ChatView()
        self.chat.rerun_requested.connect(self.run_again)
        self.chat.retry_requested.connect(self.retry)
        self.composer = Composer()
        self.graph = TaskGraphView()
        self.node_details = QTextBrowser()
        self.node_details.setPlaceholderText("Click a task in the graph to see its inputs and outputs.")
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        self.banner.setStyleSheet("background: #fff8e1; padding: 6px; border-radius: 4px;")
        self.banner.setVisible(False)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.banner)
        self.welcome = WelcomePanel()  # in place of the chat while it has no turns
        self.welcome.example_chosen.connect(self._use_example)
        left_layout.addWidget(self.welcome, 1)
        left_layout.addWidget(self.chat, 1)
        left_layout.addWidget(self.composer)
        right = QSplitter(Qt.Orientation.Vertical)
        right.addWidget(self.graph)
        right.addWidget(self.node_details)
        right.setSizes([400, 200])
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setSizes([700, 380])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(splitter)

        self.composer.send_requested.connect(self.send)
        self.composer.stop_requested.connect(self.stop)
        self.graph.task_clicked.connect(self.show_task)
        self.set_bridge(bridge)
        self._show_welcome_if_empty()

    def _show_welcome_if_empty(self) -> None:
        empty = not self.chat.turns
        self.welcome.setVisible(empty)
        self.chat.setVisible(not empty)

    def _use_example(self, text: str) -> None:
        self.composer.input.setPlainText(text)
        self.composer.input.setFocus()

    def set_bridge(self, bridge: RunBridge | None, problem: str = "") -> None:
        """Attach the engine (or explain why there is none: the chat stays readable)."""
        self.bridge = bridge
        self.chat.recommend = getattr(bridge.engine.responder, "recommend", None) if bridge is not None else None
        if bridge is not None:
            bridge.event.connect(self._on_event)
            bridge.finished.connect(self._on_finished)
            bridge.refused.connect(self._on_refused)
            bridge.busy_changed.connect(self.composer.set_busy)
        self.composer.setEnabled(bridge is not None)
        self.banner.setText(problem)
        self.banner.setVisible(bool(problem))

    # -- conversations -----------------------------------------------------------------------------

    def open_conversation(self, conversation_id: str | None) -> None:
        if self.bridge is not None and self.bridge.busy:
            return  # the running turn keeps its conversation; switching waits until it ends
        self.conversation = self.store.open(conversation_id) if conversation_id else None
        turns = self.conversation.turns if self.conversation else []
        self.chat.load(turns)
        self._show_welcome_if_empty()
        if turns:
            self._show_turn_graph(turns[-1])
        else:
            self.graph.show_message("The plan appears here while a request runs.")
        self.node_details.clear()

    # -- running -------------------------------------------------------------------------------

    def send(self, text: str, attachments: list[Path], plan: list[dict] | None = None) -> None:
        """Run a request; `plan` runs that task list instead of planning (scripts, Run again)."""
        if self.bridge is None or self.bridge.busy:
            return
        if self.conversation is None:
            self.conversation = self.store.create(title=text[:60])
        self._task_results = {}
        self.graph.show_message("Planning...")
        self.node_details.clear()
        self.live_turn = self.chat.add_turn(text, [str(p) for p in attachments])
        self._show_welcome_if_empty()
        self.bridge.ask(text, self.conversation, attachments, plan=plan)
        self.conversation_changed.emit(self.conversation.id)

    def run_again(self, turn: Turn) -> None:
        """The turn's plan as it was, with the models installed now: no planning again."""
        if self.bridge is None or self.bridge.busy or self.conversation is None or not turn.plan:
            return
        self._task_results = {}
        self.graph.show_message("Running the plan again...")
        self.live_turn = self.chat.add_turn(turn.request, [])
        self.bridge.ask(turn.request, self.conversation, [], plan=turn.plan)

    def retry(self, turn: Turn) -> None:
        """Send a turn's request again, with those of its files that are still there."""
        self.send(turn.request, [Path(p) for p in turn.attachments if Path(p).is_file()])

    def stop(self) -> None:
        if self.bridge is not None:
            self.bridge.cancel()

    def _on_event(self, event: Event) -> None:
        if self.live_turn is not None:
            self.live_turn.apply(event)
        self.graph.apply(event)
        if isinstance(event, (TaskDone, TaskFailed)) and event.result:
            self._task_results[event.task_id] = TaskResult.from_dict(event.result)

    def _on_finished(self, turn: Turn) -> None:
        if self.live_turn is not None:
            self.live_turn.set_record(turn)
            self.live_turn = None
        self._show_turn_graph(turn)
        if self.conversation is not None:
            self.conversation_changed.emit(self.conversation.id)

    def _on_refused(self, message: str) -> None:
        if self.live_turn is not None:
            self.live_turn.show_refusal(message)
            self.live_turn = None
        self.graph.show_message(message)

    def _show_turn_graph(self, turn: Turn) -> None:
        self.graph.show_record(turn)
        self._task_results = {r.task_id: r for r in turn.results}

    def show_task(self, task_id: int) -> None:
        result = self._task_results.get(task_id)
        if result is None:
            self.node_details.setPlainText(f"Task {task_id} has not finished yet.")
            return
        esc = html.escape
        rows = [f"<h3>Task {task_id}: {esc(result.task)}</h3>",
                f"<p>Model: {esc(result.model)}<br>Status: {esc(result.status)}"
                f"{'<br>Error: ' + esc(result.error) if result.error else ''}<br>"
                f"Time: {result.seconds:.2f} s</p>"]
        for title, values in (("Inputs", result.inputs), ("Outputs", result.outputs)):
            rows.append(f"<p><b>{title}</b></p><ul>")
            for key, value in values.items():
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                if key in ("image",) and Path(str(value)).is_file():
                    rows.append(f"<li>{esc(key)}: <img src='{esc(str(value))}' width='160'></li>")
                else:
                    rows.append(f"<li>{esc(key)}: {esc(text[:500])}</li>")
            rows.append("</ul>")
        self.node_details.setHtml("".join(rows))

    # -- drag and drop anywhere on the page ------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        self.composer.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        self.composer.dropEvent(event)
