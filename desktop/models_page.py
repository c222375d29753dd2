"""The model manager page: installed models, the catalogue, downloads, import, verify, delete.

Every disk scan, hash, copy and download runs off the GUI thread; results come back as signals.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QHBoxLayout, QHeaderView, QLabel, QLineEdit,
                               QMessageBox, QProgressBar, QPushButton, QTableWidget, QTableWidgetItem, QTabWidget,
                               QVBoxLayout, QWidget)

from app.memory_share import memory_share
from app.settings import Settings
from common.cancel import CancelToken
from core.offline import netguard
from desktop.workers import run_in_background


def human(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"


def _table(headers: list[str]) -> QTableWidget:
    table = QTableWidget(0, len(headers))
    table.setHorizontalHeaderLabels(headers)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.verticalHeader().setVisible(False)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    return table


def _item(text: str, data=None) -> QTableWidgetItem:
    item = QTableWidgetItem(text)
    if data is not None:
        item.setData(Qt.ItemDataRole.UserRole, data)
    return item


class _DownloadSignals(QObject):
    progress = Signal(object)  # models.progress.ProgressEvent
    finished = Signal(str, str)  # repo id, error message ("" when it worked)


class DownloadRow(QWidget):
    """One download: progress in bytes with speed and ETA, cancel, and resume after a stop."""

    def __init__(self, repo_id: str, start, parent=None) -> None:
        super().__init__(parent)
        self.repo_id = repo_id
        self._start = start
        self.cancel = CancelToken()
        self.label = QLabel(repo_id)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.detail = QLabel("starting...")
        self.detail.setMinimumWidth(280)
        self.button = QPushButton("Cancel")
        self.button.clicked.connect(self._cancel_or_resume)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.bar, 1)
        layout.addWidget(self.detail)
        layout.addWidget(self.button)
        self.running = True
        self.fetched = 0  # bytes that arrived: a stopped download with some can resume

    def show_progress(self, event) -> None:
        self.fetched = max(self.fetched, event.done_bytes or 0)
        self.bar.setValue(int(event.fraction * 1000))
        parts = [f"{human(event.done_bytes)} of {human(event.total_bytes)}"] if event.total_bytes else []
        if event.phase == "downloading" and event.speed_bps:
            parts.append(f"{human(event.speed_bps)}/s")
            if event.eta_s is not None:
                parts.append(f"ETA {int(event.eta_s // 60)}:{int(event.eta_s % 60):02d}")
        if event.phase not in ("downloading",):
            parts.append(event.message or event.phase)
        self.detail.setText(" · ".join(parts))

    def finish(self, error: str) -> None:
        self.running = False
        if not error:
            self.bar.setValue(1000)
            self.detail.setText("installed")
            self.button.setEnabled(False)
        else:
            self.detail.setText(error)
            self.detail.setToolTip(error)  # the whole message, however long
            self.detail.setWordWrap(True)
            # Resume continues the files that arrived; with none, it is a plain retry.
            self.button.setText("Resume" if self.fetched else "Retry")

    def _cancel_or_resume(self) -> None:
        if self.running:
            self.cancel.cancel()
            self.button.setText("Cancelling...")
        else:
            self.cancel = CancelToken()
            self.running = True
            self.button.setText("Cancel")
            self._start(self)


class ModelsPage(QWidget):
    controller_chosen = Signal(str)  # path of a GGUF to use as the controller

    def __init__(self, settings: Settings, store, parent=None) -> None:
        super().__init__(parent)
        self.settings = settings
        self.store = store
        self.records = []
        self.downloads: dict[str, DownloadRow] = {}
        self.signals = _DownloadSignals()
        self.signals.progress.connect(self._on_progress)
        self.signals.finished.connect(self._on_download_finished)

        self.installed = _table(["Model", "Task", "Format", "Size", "Status", "Memory budget", "Source"])
        self.total = QLabel()
        self.total.setWordWrap(True)
        self.status = QLabel()
        self.status.setWordWrap(True)
        buttons = QHBoxLayout()
        self.buttons: dict[str, QPushButton] = {}
        for text, slot in (("Refresh", self.refresh), ("Import folder...", self.import_folder),
                           ("Import GGUF...", self.import_gguf), ("Verify", self.verify_selected),
                           ("Use as controller", self.use_as_controller), ("Delete...", self.delete_selected)):
            button = QPushButton(text)
            button.clicked.connect(lambda _=False, s=slot: s())
            buttons.addWidget(button)
            self.buttons[text] = button
        self.installed.itemSelectionChanged.connect(self._selection_changed)
        buttons.addStretch(1)
        installed_tab = QWidget()
        installed_layout = QVBoxLayout(installed_tab)
        installed_layout.addLayout(buttons)
        installed_layout.addWidget(self.installed)
        installed_layout.addWidget(self.total)  # below the table: the button row must fit 700 px

        self.search = QLineEdit()
        self.search.setPlaceholderText("Search the catalogue")
        self.search.textChanged.connect(self.show_catalogue)
        self.task_filter = QComboBox()
        self.task_filter.currentTextChanged.connect(self.show_catalogue)
        self.catalogue = _table(["Model", "Task", "Description", "License", "Download", "Memory", "Safetensors"])
        # The numbers stay in view at any width: ids are elided in the middle, the description
        # takes what is left (its full text is the cell's tooltip).
        header = self.catalogue.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.catalogue.setColumnWidth(0, 300)
        self.catalogue.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.catalogue.setWordWrap(False)
        self.download_button = QPushButton("Download selected")
        self.download_button.clicked.connect(self.download_selected)
        self.downloads_note = QLabel()
        self.downloads_note.setWordWrap(True)
        filters = QHBoxLayout()
        filters.addWidget(self.search, 1)
        filters.addWidget(self.task_filter)
        filters.addWidget(self.download_button)
        catalogue_tab = QWidget()
        catalogue_layout = QVBoxLayout(catalogue_tab)
        catalogue_layout.addLayout(filters)
        catalogue_layout.addWidget(self.downloads_note)
        catalogue_layout.addWidget(self.catalogue)

        self.tabs = QTabWidget()
        self.tabs.addTab(installed_tab, "Installed")
        self.tabs.addTab(catalogue_tab, "Catalogue")
        self.downloads_box = QVBoxLayout()
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs, 1)
        layout.addLayout(self.downloads_box)
        layout.addWidget(self.status)
        self.apply_settings(settings)
        self._load_catalogue()
        self.refresh()

    def apply_settings(self, settings: Settings, store=None) -> None:
        self.settings = settings
        if store is not None:
            self.store = store
        allowed = settings.allow_downloads
        self.download_button.setEnabled(allowed)
        self.downloads_note.setText("" if allowed else
                                    "Downloads are off (the app is offline). Turn them on in Settings to download; "
                                    "importing from a folder or a .gguf file always works.")

    # -- installed ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        self.total.setText("Scanning installed models...")
        settings = self.settings
        # The controller's part of the one budget is not the experts'; reading it opens the GGUF.
        run_in_background(lambda: (self.store.list(), memory_share(settings)),
                          lambda listed: self._show_installed(*listed), self._show_error, owner=self)

    def _show_installed(self, records, share) -> None:
        self.records = records
        self.installed.setRowCount(len(records))
        for row, record in enumerate(records):
            room = share.budget_bytes if record.format == "gguf" else share.experts_bytes  # a GGUF is a controller
            fits = "fits" if record.size_bytes <= room else "too large"
            values = [record.id, record.task, record.format, human(record.size_bytes),
                      "installed" if record.complete else "partial", fits, record.source]
            for column, value in enumerate(values):
                self.installed.setItem(row, column, _item(value, record if column == 0 else None))
            self.installed.item(row, 0).setToolTip(f"{record.path}\n{record.description}")
        total = sum(r.size_bytes for r in records)
        self.total.setText(f"{len(records)} models · {human(total)} on disk · {share.describe(human)}")
        if getattr(self, "entries", None) is not None:
            self.show_catalogue()  # its installed marks follow

    def _selection_changed(self) -> None:
        """What cannot be done to the selected model is disabled, with the reason as its tooltip."""
        record = self.selected_record()
        delete = self.buttons["Delete..."]
        packaged = record is not None and record.source == "package"
        delete.setEnabled(not packaged)
        delete.setToolTip("Installed with the app as a Python package; it is not a file the app may delete"
                          if packaged else "")
        use = self.buttons["Use as controller"]
        use.setEnabled(record is None or record.format == "gguf")
        use.setToolTip("" if record is None or record.format == "gguf" else "Only a GGUF model can be the controller")

    def selected_record(self):
        row = self.installed.currentRow()
        return self.installed.item(row, 0).data(Qt.ItemDataRole.UserRole) if row >= 0 else None

    def import_folder(self, path: str | None = None, task: str | None = None) -> None:
        path = path or QFileDialog.getExistingDirectory(self, "Import a model folder")
        if path:
            self._import(path, task)

    def import_gguf(self, path: str | None = None) -> None:
        path = path or QFileDialog.getOpenFileName(self, "Import a GGUF model", "", "GGUF models (*.gguf)")[0]
        if path:
            self._import(path, None)

    def _import(self, path: str, task: str | None) -> None:
        from models.importer import import_model

        self.status.setText(f"Checking and importing {Path(path).name}...")
        run_in_background(lambda: import_model(self.store, path, task=task),
                          lambda record: (self.status.setText(f"Imported {record.id} ({record.task})."),
                                          self.refresh()),
                          self._show_error, owner=self)

    def verify_selected(self) -> None:
        from models.maintenance import verify

        record = self.selected_record()
        if record is None:
            self.status.setText("Select a model to verify.")
            return
        self.status.setText(f"Verifying {record.id}: hashing every file...")
        run_in_background(lambda: verify(self.store, record.id), self._show_verify, self._show_error, owner=self)

    def _show_verify(self, report) -> None:
        if report.ok:
            note = f" ({len(report.unchecked)} file(s) had no recorded hash)" if report.unchecked else ""
            self.status.setText(f"{report.id}: all {len(report.checked)} files are intact{note}.")
        else:
            self.status.setText(f"{report.id} is damaged: " + "; ".join(report.problems))

    def delete_selected(self, confirm: bool = True) -> None:
        from models.maintenance import remove

        record = self.selected_record()
        if record is None:
            self.status.setText("Select a model to delete.")
            return
        if confirm and QMessageBox.question(
                self, "Delete model", f"Delete {record.id} ({human(record.size_bytes)}) from disk?") \
                != QMessageBox.StandardButton.Yes:
            return
        run_in_background(lambda: remove(self.store, record.id),
                          lambda removed: (self.status.setText(f"Deleted {removed.id}: {human(removed.bytes_freed)} freed."),
                                           self.refresh()),
                          self._show_error, owner=self)

    def use_as_controller(self) -> None:
        record = self.selected_record()
        if record is None or record.format != "gguf":
            self.status.setText("Select a GGUF model to use it as the controller.")
            return
        self.controller_chosen.emit(record.path)
        self.status.setText(f"{record.id} is now the controller.")

    def _show_error(self, error: Exception) -> None:
        self.status.setText(str(error) or type(error).__name__)

    # -- catalogue and downloads -------------------------------------------------------------------

    def _load_catalogue(self) -> None:
        from models.catalogue import load_catalogue

        self.entries = load_catalogue()
        self.task_filter.addItem("All tasks")
        self.task_filter.addItems(["controller"] + self.entries.tasks())
        self.show_catalogue()

    def show_catalogue(self, *_args) -> None:
        text = self.search.text().strip().lower()
        task = self.task_filter.currentText()
        rows = [(e.id, e.task, e.description, e.license, e.download_bytes, e.memory_bytes,
                 "yes" if e.safetensors else "no") for e in self.entries.experts]
        rows += [(c.id, "controller", f"{c.name} ({c.quantization}): {c.description}", c.license, c.size_bytes,
                  c.memory_bytes, "GGUF") for c in self.entries.controllers]
        rows = [r for r in rows if (task in ("", "All tasks") or r[1] == task)
                and (not text or text in r[0].lower() or text in r[2].lower())]
        installed = {r.id for r in getattr(self, "records", [])}
        self.catalogue.setRowCount(len(rows))
        for index, (model_id, task_name, description, license_, download, memory, weights) in enumerate(rows):
            shown = f"✓ {model_id}" if model_id in installed else model_id
            for column, value in enumerate((shown, task_name, description, license_, human(download),
                                            human(memory), weights)):
                self.catalogue.setItem(index, column, _item(value, model_id if column == 0 else None))
            self.catalogue.item(index, 0).setToolTip(f"{model_id}: installed" if model_id in installed else model_id)
            self.catalogue.item(index, 2).setToolTip(description)

    CONFIRM_ABOVE = 1_000_000_000  # bytes: a download this big is confirmed with its size and free disk

    def download_selected(self, confirm: bool = True) -> None:
        row = self.catalogue.currentRow()
        if row < 0:
            self.status.setText("Select a model in the catalogue to download.")
            return
        model_id = self.catalogue.item(row, 0).data(Qt.ItemDataRole.UserRole)
        if confirm and not self.confirm_download(model_id):
            return
        self.download(model_id)

    def confirm_download(self, model_id: str) -> bool:
        """Ask before a download over 1 GB, saying its size and the disk space left."""
        from models.record import free_bytes

        entry = self.entries.expert(model_id) or self.entries.controller(model_id)
        size = getattr(entry, "download_bytes", 0) or getattr(entry, "size_bytes", 0)
        if size <= self.CONFIRM_ABOVE:
            return True
        self.store.models_dir.mkdir(parents=True, exist_ok=True)
        free = free_bytes(self.store.models_dir)
        answer = QMessageBox.question(self, "Download model",
                                      f"Download {model_id}: {human(size)}?\n{human(free)} free on the disk "
                                      f"of {self.store.models_dir}.")
        return answer == QMessageBox.StandardButton.Yes

    def download(self, model_id: str, endpoint: str | None = None) -> DownloadRow | None:
        if not self.settings.allow_downloads:
            self.status.setText("Downloads are off: turn them on in Settings.")
            return None
        repo_id, include = model_id, ()
        entry = self.entries.controller(model_id)
        if entry is not None:
            repo_id, include = entry.repo, (entry.file,)
        if repo_id in self.downloads and self.downloads[repo_id].running:
            return self.downloads[repo_id]
        row = DownloadRow(repo_id, lambda r: self._start(r, include, endpoint))
        self.downloads[repo_id] = row
        self.downloads_box.addWidget(row)
        self._start(row, include, endpoint)
        return row

    def _start(self, row: DownloadRow, include, endpoint) -> None:
        from models.downloads import Downloader
        from models.progress import DownloadProgress

        progress = DownloadProgress()
        progress.subscribe(self.signals.progress.emit)
        downloader = Downloader(self.store, endpoint=endpoint, network_window=netguard.allowing)
        cancel = row.cancel

        def work() -> None:
            try:
                downloader.download(row.repo_id, include=include, progress=progress, cancel=cancel)
            except Exception as error:  # shown on the row, in plain words
                self.signals.finished.emit(row.repo_id, str(error) or type(error).__name__)
            else:
                self.signals.finished.emit(row.repo_id, "")

        threading.Thread(target=work, name=f"download {row.repo_id}", daemon=True).start()

    def _on_progress(self, event) -> None:
        row = self.downloads.get(event.repo_id)
        if row is not None:
            row.show_progress(event)

    def _on_download_finished(self, repo_id: str, error: str) -> None:
        row = self.downloads.get(repo_id)
        if row is not None:
            row.finish(error)
        self.refresh()
