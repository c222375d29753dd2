"""Media in the chat: image thumbnails that open full size, and an inline audio player."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QUrl, Qt, Signal
from PySide6.QtGui import QDesktopServices, QPixmap
from PySide6.QtWidgets import (QDialog, QHBoxLayout, QLabel, QPushButton, QScrollArea, QSlider, QVBoxLayout,
                               QWidget)

log = logging.getLogger(__name__)
THUMB = 220


class ImageThumb(QLabel):
    """A clickable thumbnail; a click opens the image full size."""

    clicked = Signal(str)

    def __init__(self, path: str, size: int = THUMB, parent=None) -> None:
        super().__init__(parent)
        self.path = path
        pixmap = QPixmap(path)
        if pixmap.isNull():
            self.setText(f"(cannot show {Path(path).name})")
        else:
            self.setPixmap(pixmap.scaled(size, size, Qt.AspectRatioMode.KeepAspectRatio,
                                         Qt.TransformationMode.SmoothTransformation))
        self.setToolTip(f"{path}\nclick to open full size")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setStyleSheet("border: 1px solid #cfd8dc; border-radius: 4px; padding: 2px; background: white;")

    def mousePressEvent(self, event) -> None:
        self.clicked.emit(self.path)
        ImageDialog(self.path, self.window()).show()


class ImageDialog(QDialog):
    def __init__(self, path: str, parent=None) -> None:
        super().__init__(parent)
        self.setWindowTitle(Path(path).name)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        label = QLabel()
        label.setPixmap(QPixmap(path))
        scroll = QScrollArea()
        scroll.setWidget(label)
        layout = QVBoxLayout(self)
        layout.addWidget(scroll)
        open_button = QPushButton("Open in default viewer")
        open_button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(path)))
        layout.addWidget(open_button)
        self.resize(min(1000, label.pixmap().width() + 40), min(800, label.pixmap().height() + 80))


def _multimedia():
    """QtMultimedia, or None when the platform lacks it (then audio opens in the system player)."""
    try:
        from PySide6.QtMultimedia import QAudioOutput, QMediaPlayer
    except ImportError as error:
        log.info("inline audio unavailable: %s", error)
        return None
    return QAudioOutput, QMediaPlayer


class AudioPlayer(QWidget):
    """Play / pause, a position slider and the file name; falls back to the system player."""

    def __init__(self, path: str, parent=None) -> None:
        super().__init__(parent)
        self.path = path
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.button = QPushButton("▶ Play")
        self.button.setFixedWidth(80)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setEnabled(False)
        layout.addWidget(self.button)
        layout.addWidget(self.slider, 1)
        layout.addWidget(QLabel(Path(path).name))
        self.player = None
        classes = _multimedia()
        if classes is None:
            self.button.setText("Open")
            self.button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(path)))
            return
        QAudioOutput, QMediaPlayer = classes
        self.output = QAudioOutput(self)
        self.player = QMediaPlayer(self)
        self.player.setAudioOutput(self.output)
        self.player.setSource(QUrl.fromLocalFile(path))
        self.player.durationChanged.connect(lambda ms: (self.slider.setRange(0, ms), self.slider.setEnabled(ms > 0)))
        self.player.positionChanged.connect(self._moved)
        self.player.playbackStateChanged.connect(self._state_changed)
        self.slider.sliderMoved.connect(self.player.setPosition)
        self.button.clicked.connect(self.toggle)

    def toggle(self) -> None:
        if self.player.playbackState() == self.player.PlaybackState.PlayingState:
            self.player.pause()
        else:
            self.player.play()

    def _moved(self, ms: int) -> None:
        if not self.slider.isSliderDown():
            self.slider.setValue(ms)

    def _state_changed(self, state) -> None:
        playing = state == self.player.PlaybackState.PlayingState
        self.button.setText("❚❚ Pause" if playing else "▶ Play")


def media_widget(kind: str, path: str, parent=None) -> QWidget:
    if kind == "image":
        return ImageThumb(path, parent=parent)
    if kind == "audio":
        return AudioPlayer(path, parent)
    button = QPushButton(f"Open {Path(path).name}", parent)
    button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(path)))
    return button
