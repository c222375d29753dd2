"""Diagnostics: the application's log, live, with a level filter."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget

LEVELS = {"Debug": logging.DEBUG, "Info": logging.INFO, "Warning": logging.WARNING, "Error": logging.ERROR}


class _Emitter(QObject):
    record = Signal(int, str)  # level, the formatted line (the Log page)
    error = Signal(str)  # the bare message of an ERROR record (the status bar)


class QtLogHandler(logging.Handler):
    """Forwards log records from any thread to the GUI thread through a queued signal."""

    def __init__(self) -> None:
        super().__init__()
        self.emitter = _Emitter()
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.emitter.record.emit(record.levelno, self.format(record))
            if record.levelno >= logging.ERROR:
                self.emitter.error.emit(record.getMessage().splitlines()[0] if record.getMessage() else "")
        except RuntimeError:  # the window is gone at shutdown
            pass


class LogView(QWidget):
    MAX_LINES = 5000

    def __init__(self, handler: QtLogHandler, parent=None) -> None:
        super().__init__(parent)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setMaximumBlockCount(self.MAX_LINES)
        self.level = QComboBox()
        self.level.addItems(list(LEVELS))
        self.level.setCurrentText("Info")
        clear = QPushButton("Clear")
        clear.clicked.connect(self.text.clear)
        copy = QPushButton("Copy")
        copy.setToolTip("Copy the whole log, to paste into a bug report")
        copy.clicked.connect(self.copy)
        top = QHBoxLayout()
        top.addWidget(QLabel("Show from level:"))
        top.addWidget(self.level)
        top.addStretch(1)
        top.addWidget(copy)
        top.addWidget(clear)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.text)
        handler.emitter.record.connect(self.append)

    def copy(self) -> None:
        from PySide6.QtGui import QGuiApplication

        QGuiApplication.clipboard().setText(self.text.toPlainText())

    def append(self, level: int, line: str) -> None:
        if level >= LEVELS[self.level.currentText()]:
            self.text.appendPlainText(line)
