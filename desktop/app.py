"""The desktop application: for now the main window frame; the chat lands with the desktop issue."""

from __future__ import annotations

import sys


def run_desktop() -> int:
    from PySide6.QtWidgets import QApplication

    from desktop.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Jarvis Desktop")
    window = MainWindow()
    window.show()
    return app.exec()
