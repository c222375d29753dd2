from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMainWindow


class MainWindow(QMainWindow):
    def __init__(self) -> None:
        super().__init__()
        self.setWindowTitle("Jarvis Desktop")
        self.resize(1100, 720)
        placeholder = QLabel("Local HuggingGPT. Use `python main.py ask \"...\"` until the chat view lands.")
        placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setCentralWidget(placeholder)
        self.statusBar().showMessage("Offline")
