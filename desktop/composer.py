"""Where the person writes a request and attaches files (picker or drag and drop)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QToolButton,
                               QVBoxLayout, QWidget)

from core.plan import modality_of_path
from desktop.media import ImageThumb

FILE_FILTER = ("Media (*.png *.jpg *.jpeg *.gif *.bmp *.webp *.wav *.mp3 *.flac *.ogg *.m4a *.mp4 *.pdf *.txt);;"
               "All files (*)")


class _Input(QPlainTextEdit):
    submitted = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Enter sends, Shift+Enter starts a new line (as in every chat app).
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and not event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.submitted.emit()
            return
        super().keyPressEvent(event)


class Composer(QWidget):
    send_requested = Signal(str, list)  # request text, attachment paths
    stop_requested = Signal()

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self.attachments: list[Path] = []
        self.input = _Input()
        self.input.setPlaceholderText("Ask anything; attach images, audio or documents. Enter sends, Shift+Enter for a new line.")
        self.input.setFixedHeight(80)
        self.input.submitted.connect(self.submit)
        self.attach_button = QPushButton("Attach...")
        self.attach_button.clicked.connect(self.pick_files)
        self.send_button = QPushButton("Send")
        self.send_button.setDefault(True)
        self.send_button.clicked.connect(self._send_or_stop)
        self.strip = QHBoxLayout()
        self.strip.addStretch(1)

        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.attach_button)
        row = QHBoxLayout()
        row.addWidget(self.input, 1)
        row.addLayout(buttons)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.strip)
        layout.addLayout(row)
        self._busy = False

    # -- sending -------------------------------------------------------------------------------

    def set_busy(self, busy: bool) -> None:
        self._busy = busy
        self.send_button.setText("Stop" if busy else "Send")
        self.send_button.setEnabled(True)
        self.attach_button.setEnabled(not busy)

    def _send_or_stop(self) -> None:
        if self._busy:
            # Said at once; the button comes back as Send when the turn has really stopped.
            self.send_button.setText("Stopping...")
            self.send_button.setEnabled(False)
            self.stop_requested.emit()
        else:
            self.submit()

    def submit(self) -> None:
        if self._busy:
            return
        text = self.input.toPlainText().strip()
        if not text:
            self.input.setFocus()
            return
        self.send_requested.emit(text, list(self.attachments))
        self.input.clear()
        self.clear_attachments()

    # -- attachments ---------------------------------------------------------------------------

    def pick_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Attach files", "", FILE_FILTER)
        for path in paths:
            self.attach(Path(path))

    def attach(self, path: Path) -> None:
        if not path.is_file() or path in self.attachments:
            return
        self.attachments.append(path)
        chip = QWidget()
        chip_layout = QHBoxLayout(chip)
        chip_layout.setContentsMargins(0, 0, 0, 0)
        if modality_of_path(path.name) == "image":
            chip_layout.addWidget(ImageThumb(str(path), size=56))
        chip_layout.addWidget(QLabel(path.name))
        remove = QToolButton()
        remove.setText("✕")
        remove.setToolTip(f"Remove {path.name}")
        remove.clicked.connect(lambda: self._remove(path, chip))
        chip_layout.addWidget(remove)
        self.strip.insertWidget(self.strip.count() - 1, chip)

    def _remove(self, path: Path, chip: QWidget) -> None:
        if path in self.attachments:
            self.attachments.remove(path)
        chip.deleteLater()

    def clear_attachments(self) -> None:
        self.attachments = []
        while self.strip.count() > 1:
            item = self.strip.takeAt(0)
            if item.widget():
                item.widget().deleteLater()

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        for url in event.mimeData().urls():
            if url.isLocalFile():
                self.attach(Path(url.toLocalFile()))
        event.acceptProposedAction()
