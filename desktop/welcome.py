"""The empty chat: what is installed, what this machine has, a starter set to download with one
button, and example requests that the installed models can answer (one click puts it in the
composer)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFrame, QLabel, QPushButton, QVBoxLayout

from app.recommend import GB, FirstRun


def _size(count: int) -> str:
    return f"{count / GB:.1f} GB" if count >= GB else f"{count / 1_000_000:.0f} MB"


def _label(text: str = "", style: str = "") -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if style:
        label.setStyleSheet(style)
    return label


class WelcomePanel(QFrame):
    example_chosen = Signal(str)
    download_requested = Signal(list)  # catalogue ids (a controller as repo/file)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.facts: FirstRun | None = None
        self.downloads_allowed = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 16, 16, 16)
        layout.addWidget(_label("<h2>Ask for something</h2>A local model plans your request, expert models "
                                "on this machine do the work, and nothing leaves it."))
        self.machine = _label("Looking at this machine...", "color: #455a64;")
        self.installed = _label("")
        self.recommended = _label("")
        self.download_button = QPushButton("Download the recommended set")
        self.download_button.clicked.connect(self._download)
        self.download_button.setVisible(False)
        layout.addWidget(self.machine)
        layout.addWidget(self.installed)
        layout.addWidget(self.recommended)
        layout.addWidget(self.download_button, 0, Qt.AlignmentFlag.AlignLeft)
        self.examples_title = _label("<b>Try</b>")
        layout.addWidget(self.examples_title)
        self.examples = QVBoxLayout()
        layout.addLayout(self.examples)
        layout.addStretch(1)

    def show_facts(self, facts: FirstRun, downloads_allowed: bool) -> None:
        self.facts, self.downloads_allowed = facts, downloads_allowed
        self.machine.setText(f"This machine: {facts.machine.describe()}.")
        experts = ", ".join(facts.experts) if facts.experts else "none yet"
        self.installed.setText(f"<b>Installed</b>: controller {facts.controller}; experts: {experts}.")
        plan = facts.recommendation
        if plan.ids:
            lines = ([f"controller {plan.controller.name} ({_size(plan.controller.size_bytes)})"] if plan.controller
                     else []) + [f"{e.task}: {e.id} ({_size(e.download_bytes)})" for e in plan.experts]
            self.recommended.setText("<b>Recommended for this machine</b>:<br>" + "<br>".join(lines)
                                     + f"<br>In all {_size(plan.download_bytes)} to download, about "
                                       f"{_size(plan.memory_bytes)} of memory when all are loaded.")
            self.download_button.setText(f"Download the recommended set ({_size(plan.download_bytes)})")
            if not downloads_allowed:
                self.recommended.setText(self.recommended.text() + "<br><i>Downloads are off: turn on Allow "
                                         "downloads in Settings to fetch them.</i>")
        else:
            self.recommended.setText("Everything recommended for this machine is installed.")
        self.download_button.setVisible(bool(plan.ids))
        self.download_button.setEnabled(downloads_allowed)
        self.download_button.setToolTip("" if downloads_allowed else
                                        "Downloads are off: turn them on in Settings (Allow downloads)")
        while self.examples.count():
            item = self.examples.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        for text in facts.examples:
            button = QPushButton(text)
            button.setFlat(True)
            button.setStyleSheet("text-align: left; color: #1565c0;")
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.clicked.connect(lambda _checked=False, t=text: self.example_chosen.emit(t))
            self.examples.addWidget(button)
        self.examples_title.setVisible(bool(facts.examples))

    def _download(self) -> None:
        if self.facts is not None and self.facts.recommendation.ids:
            self.download_requested.emit(self.facts.recommendation.ids)
