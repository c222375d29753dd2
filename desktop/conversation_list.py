"""The conversation list: new, search, rename, delete, export."""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFileDialog, QHBoxLayout, QInputDialog, QLineEdit, QListWidget, QListWidgetItem, QMenu,
                               QMessageBox, QPushButton, QVBoxLayout, QWidget)

from core.history.store import ConversationStore
from desktop.export import export_conversation


class ConversationList(QWidget):
    selected = Signal(object)  # conversation id, or None for a new empty chat
    deleted = Signal(str)

    def __init__(self, store: ConversationStore, parent=None) -> None:
        super().__init__(parent)
        self.store = store
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search conversations")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.refresh)
        self.new_button = QPushButton("New chat")
        self.new_button.clicked.connect(self.new_chat)
        self.list = QListWidget()
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.customContextMenuRequested.connect(self._menu)
        self.list.currentItemChanged.connect(self._current_changed)
        top = QHBoxLayout()
        top.addWidget(self.new_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.search)
        layout.addWidget(self.list, 1)
        self.setMinimumWidth(170)
        self._quiet = False
        self.refresh()

    def current_id(self) -> str | None:
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else None

    def refresh(self, *_args, keep: str | None = None) -> None:
        keep = keep or self.current_id()
        self._quiet = True
        self.list.clear()
        for info in self.store.list(self.search.text().strip()):
            when = time.strftime("%d %b %H:%M", time.localtime(info.updated))
            item = QListWidgetItem(f"{info.title}\n{when} · {info.turns} turn{'s' if info.turns != 1 else ''}")
            item.setData(Qt.ItemDataRole.UserRole, info.id)
            item.setToolTip(info.title)
            self.list.addItem(item)
            if info.id == keep:
                self.list.setCurrentItem(item)
        self._quiet = False

    def select(self, conversation_id: str) -> None:
        self.refresh(keep=conversation_id)

    def new_chat(self) -> None:
        self.list.clearSelection()
        self.list.setCurrentItem(None)
        self.selected.emit(None)

    def _current_changed(self, current, _previous) -> None:
        if not self._quiet and current is not None:
            self.selected.emit(current.data(Qt.ItemDataRole.UserRole))

    def _menu(self, position) -> None:
        item = self.list.itemAt(position)
        if item is None:
            return
        conversation_id = item.data(Qt.ItemDataRole.UserRole)
        menu = QMenu(self)
        menu.addAction("Rename...", lambda: self.rename(conversation_id))
        menu.addAction("Export as Markdown...", lambda: self.export(conversation_id, "md"))
        menu.addAction("Export as HTML...", lambda: self.export(conversation_id, "html"))
        menu.addSeparator()
        menu.addAction("Delete...", lambda: self.delete(conversation_id))
        menu.exec(self.list.mapToGlobal(position))

    def rename(self, conversation_id: str, title: str | None = None) -> None:
        if title is None:
            current = self.store.open(conversation_id)
            title, ok = QInputDialog.getText(self, "Rename conversation", "Title:", text=current.title if current else "")
            if not ok:
                return
        self.store.rename(conversation_id, title)
        self.refresh(keep=conversation_id)

    def delete(self, conversation_id: str, confirm: bool = True) -> None:
        if confirm:
            answer = QMessageBox.question(self, "Delete conversation",
                                          "Delete this conversation and its files? This cannot be undone.")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.store.delete(conversation_id)
        self.refresh()
        self.deleted.emit(conversation_id)

    def export(self, conversation_id: str, fmt: str, target: str | None = None) -> str | None:
        conversation = self.store.open(conversation_id)
        if conversation is None:
            return None
        if target is None:
            suggested = f"{conversation.title[:40].strip() or 'conversation'}.{fmt}"
            target, _ = QFileDialog.getSaveFileName(self, "Export conversation", suggested,
                                                    "Markdown (*.md)" if fmt == "md" else "HTML (*.html)")
            if not target:
                return None
        return str(export_conversation(conversation, target))
