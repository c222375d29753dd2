"""Settings: controller model and its parameters, memory, device, data folder, downloads."""

from __future__ import annotations

from dataclasses import replace

import threading

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel,
                               QLineEdit, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from app.settings import Settings, config_dir
from app.settings_checks import check


def _with_browse(edit: QLineEdit, pick) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    button = QPushButton("Browse...")
    button.clicked.connect(pick)
    layout.addWidget(button)
    return row


class _Answer(QObject):
    tested = Signal(str)  # what the controller server said, from the test thread


def _problem_label() -> QLabel:
    label = QLabel()
    label.setWordWrap(True)
    label.setStyleSheet("color: #c62828;")
    label.setVisible(False)
    return label


class SettingsPage(QWidget):
    """Each value is checked as it is typed (`app.settings_checks`, the same checks the app relies
    on); a problem shows under its field and Save waits until none is left."""

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
        self.experts_url = QLineEdit()
        self.experts_url.setPlaceholderText("empty: run the experts on this machine")
        self.experts_url.setToolTip("A Ray cluster serving the experts (`main.py experts serve`). Every task's inputs, "
                                    "files included, go to it; only this host is opened in the offline guard.")
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

        self.problems = {name: _problem_label() for name in ("controller_path", "controller_url", "experts_url",
                                                                 "data_dir", "n_ctx")}
        self.test_button = QPushButton("Test")
        self.test_button.setToolTip("Ask the server which models it serves")
        self.test_button.clicked.connect(self.test_server)
        self.test_result = QLabel()
        self.test_result.setWordWrap(True)
        self._answer = _Answer()
        self._answer.tested.connect(self.test_result.setText)
        url_row = QWidget()
        url_layout = QHBoxLayout(url_row)
        url_layout.setContentsMargins(0, 0, 0, 0)
        url_layout.addWidget(self.controller_url, 1)
        url_layout.addWidget(self.test_button)

        form = QFormLayout()
        form.addRow("Controller model (.gguf)", _with_browse(self.controller_path, self._pick_gguf))
        form.addRow("", self.problems["controller_path"])
        form.addRow("Or a controller server URL", url_row)
        form.addRow("", self.problems["controller_url"])
        form.addRow("", self.test_result)
        form.addRow("Model on that server", self.controller_model)
        form.addRow("Experts on a cluster (URL)", self.experts_url)
        form.addRow("", self.problems["experts_url"])
        form.addRow("Context size (tokens)", self.n_ctx)
        form.addRow("", self.problems["n_ctx"])
        form.addRow("CPU threads", self.n_threads)
        form.addRow("GPU layers", self.n_gpu_layers)
        form.addRow("Expert device", self.device)
        form.addRow("Memory budget", self.memory)
        form.addRow("Data folder", _with_browse(self.data_dir, self._pick_folder))
        form.addRow("", self.problems["data_dir"])
        form.addRow("", self.allow_downloads)
        self.save_button = QPushButton("Save")
        self.save_button.clicked.connect(self.save)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: #607d8b;")
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.save_button)
        layout.addWidget(self.note)
        layout.addStretch(1)
        self.show_settings(settings)
        for edit in (self.controller_path, self.controller_url, self.experts_url, self.data_dir):
            edit.textChanged.connect(self.validate)
        self.n_ctx.valueChanged.connect(self.validate)
        self.validate()

    def validate(self, *_changed) -> dict[str, str]:
        problems = check(self.current())
        for name, label in self.problems.items():
            label.setText(problems.get(name, ""))
            label.setVisible(name in problems)
        self.save_button.setEnabled(not problems)
        self.save_button.setToolTip("Fix the values marked in red first" if problems else "")
        self.test_button.setEnabled(bool(self.controller_url.text().strip()) and "controller_url" not in problems)
        return problems

    def test_server(self) -> None:
        from core.llm.controller import ControllerError
        from core.llm.openai_controller import OpenAIController

        url = self.controller_url.text().strip()
        self.test_result.setText(f"Asking {url} ...")

        def ask() -> None:
            try:
                controller = OpenAIController(url, api_key=self.settings.controller_api_key, connect_timeout=5)
                try:
                    answer = f"Reachable: it serves {controller.model}."
                finally:
                    controller.close()
            except ControllerError as error:
                answer = f"Not reachable: {error}"
            self._answer.tested.emit(answer)

        threading.Thread(target=ask, name="test controller server", daemon=True).start()

    def show_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.controller_path.setText(settings.controller_path)
        self.controller_url.setText(settings.controller_url)
        self.controller_model.setText(settings.controller_model)
        self.experts_url.setText(settings.experts_url)
        self.n_ctx.setValue(settings.n_ctx)
        self.n_threads.setValue(settings.n_threads)
        self.n_gpu_layers.setValue(settings.n_gpu_layers)
        self.device.setCurrentText(settings.device)
        self.memory.setValue(settings.memory_budget_gb)
        self.data_dir.setText(settings.data_dir)
        self.allow_downloads.setChecked(settings.allow_downloads)
        self._show_where()

    def current(self) -> Settings:
        return replace(self.settings, controller_path=self.controller_path.text().strip(),
                       controller_url=self.controller_url.text().strip(),
                       controller_model=self.controller_model.text().strip(),
                       experts_url=self.experts_url.text().strip(), n_ctx=self.n_ctx.value(),
                       n_threads=self.n_threads.value(), n_gpu_layers=self.n_gpu_layers.value(),
                       device=self.device.currentText(), memory_budget_gb=self.memory.value(),
                       data_dir=self.data_dir.text().strip(), allow_downloads=self.allow_downloads.isChecked())

    def _show_where(self) -> None:
        path = config_dir() / "settings.json"
        self.note.setText(f"Settings are kept in {path}" + ("" if path.exists() else " (not saved yet)")
                          + ". Controller changes apply to the next request.")

    def save(self) -> None:
        if self.validate():
            return
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
