"""Settings: controller model and its parameters, memory, device, data folder, downloads."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from app.settings import Settings, config_dir


def _with_browse(edit: QLineEdit, pick) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    button = QPushButton("Browse...")
    button.clicked.connect(pick)
    layout.addWidget(button)
    return row


class SettingsPage(QWidget):
    saved = Signal(object)  # the new Settings

    def __init__(self, settings: Settings, parent=None) -> None:
        super().__init__(parent)
        self.controller_path = QLineEdit()
        self.controller_path.setPlaceholderText("default: SmolLM2-135M-Instruct Q4_1 (installed by set-up)")
        self.controller_url = QLineEdit()
        self.controller_url.setPlaceholderText("empty: run the GGUF above on this machine")
        self.controller_url.setToolTip("An OpenAI-compatible server (llama.cpp server, vLLM, Ollama). Your requests, "
                                       "the conversation so far and the models' text results are sent to it; "
                                       "only this host is opened in the offline guard.")
        self.controller_model = QLineEdit()
        self.controller_model.setPlaceholderText("empty: the first model the server lists")
        self.n_ctx = QSpinBox()
        self.n_ctx.setRange(512, 131072)
        self.n_ctx.setSingleStep(512)
        self.n_threads = QSpinBox()
        self.n_threads.setRange(0, 256)
        self.n_threads.setSpecialValueText("all cores")
        self.n_gpu_layers = QSpinBox()
        self.n_gpu_layers.setRange(-1, 999)
        self.n_gpu_layers.setSpecialValueText("all layers")
        self.device = QComboBox()
        self.device.addItems(["auto", "cpu", "cuda"])
        self.memory = QDoubleSpinBox()
        self.memory.setRange(0, 4096)
        self.memory.setSuffix(" GiB")
        self.memory.setSpecialValueText("no limit")
        self.data_dir = QLineEdit()
        self.data_dir.setPlaceholderText("default: the platform's data folder")
        self.allow_downloads = QCheckBox("Allow model downloads (the only network use; off = fully offline)")

        form = QFormLayout()
        form.addRow("Controller model (.gguf)", _with_browse(self.controller_path, self._pick_gguf))
        form.addRow("Or a controller server URL", self.controller_url)
        form.addRow("Model on that server", self.controller_model)
        form.addRow("Context size (tokens)", self.n_ctx)
        form.addRow("CPU threads", self.n_threads)
        form.addRow("GPU layers", self.n_gpu_layers)
        form.addRow("Expert device", self.device)
        form.addRow("Memory budget", self.memory)
        form.addRow("Data folder", _with_browse(self.data_dir, self._pick_folder))
        form.addRow("", self.allow_downloads)
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save)
        self.note = QLabel(f"Saved in {config_dir() / 'settings.json'}. Controller changes apply to the next request.")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #607d8b;")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.save_button)
        layout.addWidget(self.note)
        layout.addStretch(1)
        self.show_settings(settings)

    def show_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.controller_path.setText(settings.controller_path)
        self.controller_url.setText(settings.controller_url)
        self.controller_model.setText(settings.controller_model)
        self.n_ctx.setValue(settings.n_ctx)
        self.n_threads.setValue(settings.n_threads)
        self.n_gpu_layers.setValue(settings.n_gpu_layers)
        self.device.setCurrentText(settings.device)
        self.memory.setValue(settings.memory_budget_gb)
        self.data_dir.setText(settings.data_dir)
        self.allow_downloads.setChecked(settings.allow_downloads)

    def current(self) -> Settings:
        return replace(self.settings, controller_path=self.controller_path.text().strip(),
                       controller_url=self.controller_url.text().strip(),
                       controller_model=self.controller_model.text().strip(), n_ctx=self.n_ctx.value(),
                       n_threads=self.n_threads.value(), n_gpu_layers=self.n_gpu_layers.value(),
                       device=self.device.currentText(), memory_budget_gb=self.memory.value(),
                       data_dir=self.data_dir.text().strip(), allow_downloads=self.allow_downloads.isChecked())

    def save(self) -> None:
        settings = self.current()
        try:
            path = settings.save()
        except OSError as error:
            self.note.setText(f"Not saved: {error.strerror} ({error.filename}).")
            return
        self.settings = settings
        self.note.setText(f"Saved to {path}.")
        self.saved.emit(settings)

    def _pick_gguf(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Controller model", "", "GGUF models (*.gguf)")
        if path:
            self.controller_path.setText(path)

    def _pick_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Data folder")
        if path:
            self.data_dir.setText(path)
