"""The conversation: one TurnWidget per request, the answer streaming into the latest one."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QPushButton, QScrollArea, QTextBrowser, QToolButton,
                               QVBoxLayout, QWidget)

from core.answering.facts import NO_MODEL
from core.events import AnswerToken, Event, ModelChosen, PlanDrafted, PlanReady, StageStarted, TaskDone, TaskFailed
from core.plan import modality_of_path
from core.turn import Turn
from desktop.export import details_html
from desktop.media import media_widget

STAGE_TEXT = {"planning": "Planning...", "selection": "Choosing models...", "execution": "Running tasks...",
              "response": "Writing the answer..."}


# Turn states worth sending again: the request never got its answer.
RETRYABLE = ("interrupted", "cancelled", "failed")


def _bubble(colour: str) -> QFrame:
    frame = QFrame()
    frame.setStyleSheet(f"QFrame#bubble {{ background: {colour}; border-radius: 10px; }}")
    frame.setObjectName("bubble")
    return frame


def _text_label(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


class TurnWidget(QWidget):
    """A request and its answer, with media and an expandable record of plan, models and tasks.

    A turn with a task no installed model could do offers the catalogue's model (Install); once
    it is installed, Run again runs the same plan with it, without planning again."""

    install_requested = Signal(str)  # repo id
    rerun_requested = Signal(object)  # the Turn whose plan to run again
    retry_requested = Signal(object)  # the Turn whose request to send again

    def __init__(self, request: str, attachments: list[str], parent=None, recommend=None) -> None:
        super().__init__(parent)
        self.record: Turn | None = None
        self.recommend = recommend  # task -> catalogue entry or None
        self.missing: dict[str, str] = {}  # repo id to install -> the task type it does
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 8)

        user = _bubble("#e3f2fd")
        user_layout = QVBoxLayout(user)
        user_layout.addWidget(_text_label(request))
        if attachments:
            row = QHBoxLayout()
            for path in attachments:
                row.addWidget(media_widget(modality_of_path(path) or "file", path))
            row.addStretch(1)
            user_layout.addLayout(row)
        layout.addWidget(user)

        self.assistant = _bubble("#f5f5f5")
        assistant_layout = QVBoxLayout(self.assistant)
        self.status = QLabel("Planning...")
        self.status.setStyleSheet("color: #607d8b;")
        self.status.setWordWrap(True)
        self.answer = _text_label()
        self.media = QVBoxLayout()
        self.toggle = QToolButton()
        self.toggle.setText("Show plan and models")
        self.toggle.setCheckable(True)
        self.toggle.toggled.connect(self._toggle_details)
        self.details = QTextBrowser()
        self.details.setOpenExternalLinks(False)
        self.details.setVisible(False)
        self.details.setMinimumHeight(160)
        assistant_layout.addWidget(self.status)
        assistant_layout.addWidget(self.answer)
        assistant_layout.addLayout(self.media)
        self.install_button = QPushButton()
        self.install_button.clicked.connect(self._install)
        self.rerun_button = QPushButton("Run again")
        self.rerun_button.setToolTip("Run this turn's plan again with the models installed now")
        self.rerun_button.clicked.connect(lambda: self.record and self.rerun_requested.emit(self.record))
        self.retry_button = QPushButton("Retry")
        self.retry_button.setToolTip("Send this request again as a new turn")
        self.retry_button.clicked.connect(lambda: self.record and self.retry_requested.emit(self.record))
        actions = QHBoxLayout()
        actions.addWidget(self.install_button)
        actions.addWidget(self.rerun_button)
        actions.addWidget(self.retry_button)
        actions.addStretch(1)
        for button in (self.install_button, self.rerun_button, self.retry_button):
            button.setVisible(False)
        assistant_layout.addLayout(actions)
        assistant_layout.addWidget(self.toggle, 0, Qt.AlignmentFlag.AlignLeft)
        assistant_layout.addWidget(self.details)
        layout.addWidget(self.assistant)
        self._live_lines: list[str] = []
        # The stage and how long it has run, ticking, so a long stage never looks stuck.
        self._stage, self._stage_started, self._draft = "planning", time.monotonic(), ""
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._show_stage)
        self._clock.start()

    # -- live updates ----------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        if isinstance(event, StageStarted):
            self._stage, self._stage_started, self._draft = event.stage, time.monotonic(), ""
            self._show_stage()
        elif isinstance(event, PlanDrafted):
            named = [t["task"] for t in event.tasks if t.get("task")]
            self._draft = (f"{len(named)} task{'s' if len(named) != 1 else ''} so far: {', '.join(named)}" if named
                           else f"steps: {'; '.join(str(t.get('step', '')) for t in event.tasks)}")
            self._show_stage()
        elif isinstance(event, PlanReady):
            self._live_lines.append("Plan: " + ", ".join(f"{t['id']} {t['task']}" for t in event.plan))
        elif isinstance(event, ModelChosen):
            self._live_lines.append(f"Task {event.task_id}: {event.model or 'no model'} ({event.reason})")
        elif isinstance(event, TaskDone):
            self._live_lines.append(f"Task {event.task_id} done in {event.result['seconds']:.2f} s")
        elif isinstance(event, TaskFailed):
            self._live_lines.append(f"Task {event.task_id}: {event.error}")
        elif isinstance(event, AnswerToken):
            self.answer.setText(self.answer.text() + event.text)
        if self._live_lines and self.details.isVisible():
            self.details.setPlainText("\n".join(self._live_lines))

    def _show_stage(self) -> None:
        seconds = int(time.monotonic() - self._stage_started)
        text = STAGE_TEXT.get(self._stage, self._stage) + (f" {seconds} s" if seconds else "")
        self.status.setText(f"{text} ({self._draft})" if self._draft else text)

    def set_record(self, turn: Turn) -> None:
        """Show a finished (or loaded) turn in full."""
        self._clock.stop()
        self.record = turn
        failed = [r for r in turn.results if r.status != "done"]
        if turn.status in ("done", "partial", "failed") and turn.results:
            summary = f"{len(failed)} of {len(turn.results)} tasks did not complete"
            self.status.setText((f"{summary}: {turn.error}" if turn.error else summary) if failed else "")
            if turn.status == "failed":
                self.status.setStyleSheet("color: #c62828;")
        else:
            self.status.setText(f"{turn.status.capitalize()}: {turn.error}")
            self.status.setStyleSheet("color: #c62828;")
        self.status.setVisible(bool(self.status.text()))
        self.answer.setText(turn.answer)
        self.answer.setVisible(bool(turn.answer))
        while self.media.count():
            item = self.media.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        for kind, path in turn.media():
            self.media.addWidget(media_widget(kind, path), 0, Qt.AlignmentFlag.AlignLeft)
        self.toggle.setVisible(bool(turn.plan))
        if self.details.isVisible():
            self.details.setHtml(details_html(turn))
        self._offer_models(turn)
        # A turn that did not get to its end (the app closed, Stop, a failure) can be sent again.
        self.retry_button.setVisible(turn.status in RETRYABLE and not self.missing)

    def _offer_models(self, turn: Turn) -> None:
        self.missing = {}
        for result in turn.results:
            entry = self.recommend(result.task) if self.recommend and result.error.startswith(NO_MODEL) else None
            if entry is not None:
                self.missing.setdefault(entry.id, result.task)
        if self.missing:
            repo_id = next(iter(self.missing))
            self.install_button.setText(f"Install {repo_id}")
            self.install_button.setToolTip("Download it in the model manager, then run this turn again")
        self.install_button.setEnabled(True)
        self.install_button.setVisible(bool(self.missing))
        self.rerun_button.setVisible(False)

    def _install(self) -> None:
        if self.missing:
            self.install_button.setEnabled(False)
            self.install_button.setText(f"Installing {next(iter(self.missing))}...")
            self.install_requested.emit(next(iter(self.missing)))

    def model_installed(self, repo_id: str, error: str = "") -> None:
        """The model manager finished downloading `repo_id` (error is "" when it worked)."""
        if repo_id not in self.missing:
            return
        if error:
            self.install_button.setEnabled(True)
            self.install_button.setText(f"Install {repo_id} (failed: {error[:60]})")
            return
        self.install_button.setVisible(False)
        self.rerun_button.setVisible(True)

    def show_refusal(self, message: str) -> None:
        self._clock.stop()
        self.status.setText(message)
        self.status.setStyleSheet("color: #c62828;")

    def _toggle_details(self, shown: bool) -> None:
        self.toggle.setText("Hide plan and models" if shown else "Show plan and models")
        if self.record is not None:
            self.details.setHtml(details_html(self.record))
        else:
            self.details.setPlainText("\n".join(self._live_lines))
        self.details.setVisible(shown)


class ChatView(QScrollArea):
    install_requested = Signal(str)
    rerun_requested = Signal(object)
    retry_requested = Signal(object)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.recommend = None  # set by the page from its engine
        self.setWidgetResizable(True)
        # Turns wrap to the pane's width; a horizontal scroll bar would hide half of every line.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._inner = QWidget()
        self._layout = QVBoxLayout(self._inner)
        self._layout.addStretch(1)
        self.setWidget(self._inner)
        self.turns: list[TurnWidget] = []
        self.verticalScrollBar().rangeChanged.connect(self._stick_to_bottom)
        self._follow = True

    def clear(self) -> None:
        # Hidden and out of the layout now: deleteLater waits for the event loop, and a nested
        # one (a context menu that is open) would show the old turns above the new ones.
        for turn in self.turns:
            turn.hide()
            self._layout.removeWidget(turn)
            turn.deleteLater()
        self.turns = []

    def add_turn(self, request: str, attachments: list[str], record: Turn | None = None) -> TurnWidget:
        turn = TurnWidget(request, attachments, recommend=lambda task: self.recommend(task) if self.recommend else None)
        turn.install_requested.connect(self.install_requested)
        turn.rerun_requested.connect(self.rerun_requested)
        turn.retry_requested.connect(self.retry_requested)
        self._layout.insertWidget(self._layout.count() - 1, turn)
        self.turns.append(turn)
        if record is not None:
            turn.set_record(record)
        self._follow = True
        QTimer.singleShot(0, self._scroll_to_end)
        return turn

    def model_installed(self, repo_id: str, error: str = "") -> None:
        for turn in self.turns:
            turn.model_installed(repo_id, error)

    def load(self, turns: list[Turn]) -> None:
        self.clear()
        for turn in turns:
            self.add_turn(turn.request, turn.attachments, turn)

    def _stick_to_bottom(self, _minimum: int, maximum: int) -> None:
        if self._follow:
            self.verticalScrollBar().setValue(maximum)

    def _scroll_to_end(self) -> None:
        self.verticalScrollBar().setValue(self.verticalScrollBar().maximum())
