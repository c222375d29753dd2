"""The desktop application: the Qt application, logging for the Log page, and the main window."""

from __future__ import annotations

import logging
import sys


def run_desktop() -> int:
    from PySide6.QtWidgets import QApplication

    from desktop.main_window import MainWindow

    # The Log page shows the app's own progress (info and up); libraries stay at warnings.
    logging.getLogger().setLevel(logging.WARNING)
    for name in ("app", "core", "models", "desktop", "common"):
        logging.getLogger(name).setLevel(logging.INFO)
    app = QApplication.instance() or QApplication(sys.argv)
    app.setApplicationName("Jarvis Desktop")
    window = MainWindow()
    window.show()
    return app.exec()
