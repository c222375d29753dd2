"""The main window: conversations on the left, pages (chat, models, settings, log) on the right."""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMessageBox, QSplitter, QStackedWidget, QToolBar

from app.settings import Settings
from core.history.store import ConversationIdError, ConversationStore, StorageError
from core.llm.controller import ControllerError
from core.offline import netguard
from desktop.bridge import RunBridge
from desktop.chat_page import ChatPage
from desktop.conversation_list import ConversationList
from desktop.log_view import LogView, QtLogHandler
from desktop.models_page import ModelsPage
from desktop.settings_page import SettingsPage
from desktop.workers import run_in_background

log = logging.getLogger(__name__)


class _BlockedSignal(QObject):
    blocked = Signal(object)  # netguard.BlockedAttempt, from whatever thread tried to connect


class MainWindow(QMainWindow):
    def __init__(self, settings: Settings | None = None, app_factory=None) -> None:
        """`app_factory(settings, history=store) -> app.wiring.App` (`build_app`); tests pass one with a
        scripted controller."""
        super().__init__()
        from app.wiring import build_app

        self.log_handler = QtLogHandler()
        logging.getLogger().addHandler(self.log_handler)
        # An error of any part (a turn that cannot be saved) is said where the user looks.
        self.log_handler.emitter.error.connect(lambda message: self.statusBar().showMessage(
            f"{message[:1].upper()}{message[1:]} (details on the Log page)"))
        problems: list[str] = []
        if settings is None:
            settings, problems = Settings.load_checked()
        for problem in problems:
            log.warning("%s", problem)  # the Log page lists each one
        self.settings = settings
        self.app_factory = app_factory or build_app
        self.setWindowTitle("Jarvis Desktop")
        self.resize(1280, 800)
        self.store, storage_notices, self.temporary_history = open_history(self.settings)
        problems += storage_notices
        interrupted = self.store.recover_interrupted()

        self.conversations = ConversationList(self.store)
        self.chat = ChatPage(self.store, None)
        from models.store import LocalStore

        self.models_page = ModelsPage(self.settings, LocalStore(self.settings.data_path))
        self.settings_page = SettingsPage(self.settings)
        self.log_view = LogView(self.log_handler)
        self.pages = QStackedWidget()
        self.page_index = {}
        for name, widget in (("Chat", self.chat), ("Models", self.models_page), ("Settings", self.settings_page),
                             ("Log", self.log_view)):
            self.page_index[name] = self.pages.addWidget(widget)
        # A stacked widget is as wide as its widest page; only the page in view should count, so
        # a narrow window is possible whatever page was opened before.
        self.pages.currentChanged.connect(self._fit_to_page)
        self._fit_to_page(self.pages.currentIndex())
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.conversations)
        self.splitter.addWidget(self.pages)
        self.splitter.setSizes([240, 1040])
        self.setCentralWidget(self.splitter)
        self._build_toolbar()
        self._build_menus()
        self.offline_label = QLabel()
        self.statusBar().addPermanentWidget(self.offline_label)
        self._blocked_signal = _BlockedSignal(self)
        self._blocked_signal.blocked.connect(self._show_network_state)
        self._stop_listening = netguard.on_blocked(self._blocked_signal.blocked.emit)

        self.conversations.selected.connect(self._open_conversation)
        self.conversations.deleted.connect(self._conversation_deleted)
        self.chat.conversation_changed.connect(self.conversations.select)
        self.settings_page.saved.connect(self.apply_settings)
        self.models_page.controller_chosen.connect(self._use_controller)
        self.chat.chat.install_requested.connect(self.install_model)
        self.chat.welcome.download_requested.connect(self.download_recommended)
        self._installing: set[str] = set()  # downloads started from a turn's Install
        self.models_page.signals.finished.connect(self._download_finished)
        self.bridge: RunBridge | None = None
        self.apply_settings(self.settings)
        if interrupted:
            # Said for a while, not for good: each such turn shows it too, with its Retry button.
            self.statusBar().showMessage(f"{interrupted} unfinished turn(s) from last time were marked "
                                         "interrupted; Retry on a turn sends it again.", 20000)
        self.restore_state()
        if problems:
            self.statusBar().showMessage(problems[0] + (f" (and {len(problems) - 1} more on the Log page)"
                                                        if len(problems) > 1 else ""))

    def _build_toolbar(self) -> None:
        toolbar = QToolBar("Pages")
        toolbar.setMovable(False)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        group = QActionGroup(self)
        self.page_actions = {}
        for number, name in enumerate(self.page_index, start=1):
            action = QAction(name, self, checkable=True)
            action.setShortcut(QKeySequence(f"Ctrl+{number}"))
            action.triggered.connect(lambda _checked=False, n=name: self.show_page(n))
            group.addAction(action)
            toolbar.addAction(action)
            self.page_actions[name] = action
        self.page_actions["Chat"].setChecked(True)

    def _build_menus(self) -> None:
        """File, View, Models, Help; every shortcut is on a menu item, where people look for it."""
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        new_chat = file_menu.addAction("New chat", self.conversations.new_chat)
        new_chat.setShortcut(QKeySequence.StandardKey.New)
        file_menu.addSeparator()
        quit_action = file_menu.addAction("Quit", self.close)
        quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        view = menus.addMenu("&View")
        for action in self.page_actions.values():
            view.addAction(action)
        models = menus.addMenu("&Models")
        models.addAction("Model manager", lambda: self.show_page("Models"))
        models.addAction("Import a model folder...", lambda: (self.show_page("Models"), self.models_page.import_folder()))
        models.addAction("Import a GGUF file...", lambda: (self.show_page("Models"), self.models_page.import_gguf()))
        help_menu = menus.addMenu("&Help")
        help_menu.addAction("Keyboard shortcuts", self._show_shortcuts)

    def _show_shortcuts(self) -> None:
        from PySide6.QtWidgets import QMessageBox

        lines = [f"{a.shortcut().toString()}  {a.text()}" for a in self.page_actions.values()]
        lines += ["Ctrl+N  New chat", "Ctrl+Q  Quit", "Enter  Send, Shift+Enter  new line"]
        QMessageBox.information(self, "Keyboard shortcuts", "\n".join(lines))

    # -- window state, kept between runs -----------------------------------------------------------

    def _state_path(self) -> Path:
        from app.settings import config_dir

        return config_dir() / "window.json"

    def restore_state(self) -> None:
        """Geometry, splitter and the open conversation from the last run (a damaged file is ignored)."""
        import base64
        import json

        from PySide6.QtCore import QByteArray

        try:
            state = json.loads(self._state_path().read_text(encoding="utf-8"))
            self.restoreGeometry(QByteArray(base64.b64decode(state["geometry"])))
            sizes = [int(n) for n in state.get("splitter", [])]
            if len(sizes) == 2 and all(n > 0 for n in sizes):
                self.splitter.setSizes(sizes)
            conversation = state.get("conversation")
        except (OSError, ValueError, KeyError, TypeError):
            return
        try:
            found = isinstance(conversation, str) and self.store.open(conversation) is not None
        except ConversationIdError:
            found = False
        if found:
            self.conversations.select(conversation)
            if self.chat.conversation is None or self.chat.conversation.id != conversation:
                self._open_conversation(conversation)

    def save_state(self) -> None:
        import base64
        import json

        current = self.chat.conversation.id if self.chat.conversation is not None else None
        state = {"geometry": base64.b64encode(bytes(self.saveGeometry())).decode(),
                 "splitter": self.splitter.sizes(), "conversation": current}
        try:
            self._state_path().parent.mkdir(parents=True, exist_ok=True)
            self._state_path().write_text(json.dumps(state), encoding="utf-8")
        except OSError as error:  # not worth stopping a close for
            log.warning("window state not saved: %s", error)

    def _fit_to_page(self, current: int) -> None:
        from PySide6.QtWidgets import QSizePolicy

        for index in range(self.pages.count()):
            policy = QSizePolicy.Policy.Preferred if index == current else QSizePolicy.Policy.Ignored
            self.pages.widget(index).setSizePolicy(policy, policy)

    def show_page(self, name: str) -> None:
        self.pages.setCurrentIndex(self.page_index[name])
        self.page_actions[name].setChecked(True)

    def _open_conversation(self, conversation_id) -> None:
        self.chat.open_conversation(conversation_id)
        self.show_page("Chat")

    def _conversation_deleted(self, conversation_id: str) -> None:
        if self.chat.conversation is not None and self.chat.conversation.id == conversation_id:
            self.chat.open_conversation(None)

    def install_model(self, repo_id: str) -> None:
        """A turn's Install: the download runs, with its progress, in the model manager; the
        turn offers Run again when it finishes."""
        row = self.models_page.download(repo_id)
        if row is None:  # downloads are off: the page says so
            self.chat.chat.model_installed(repo_id, self.models_page.status.text())
        self._installing.add(repo_id)
        self.show_page("Models")

    def _download_finished(self, repo_id: str, error: str) -> None:
        self.chat.chat.model_installed(repo_id, error)
        self.refresh_welcome()
        if repo_id in self._installing and not error:
            self._installing.discard(repo_id)
            self.statusBar().showMessage(f"{repo_id} is installed: Run again on its turn in the chat.")

    def _use_controller(self, path: str) -> None:
        from dataclasses import replace

        settings = replace(self.settings, controller_path=path, controller_url="")
        settings.save()
        self.settings_page.show_settings(settings)
        self.apply_settings(settings)

    def apply_settings(self, settings: Settings) -> None:
        """(Re)build the engine from settings; a problem is shown, and the window stays usable."""
        if self.bridge is not None and self.bridge.busy:
            self.statusBar().showMessage("Settings saved; they apply after the running request.")
            return
        self.settings = settings
        from models.store import LocalStore

        self.models_page.apply_settings(settings, LocalStore(settings.data_path))
        if self.bridge is not None:
            self.bridge.detach()
        try:
            app = self.app_factory(settings, history=self.store)
        except ControllerError as error:
            self.bridge = None
            self.chat.set_bridge(None, f"The assistant cannot start: {error}. Choose a controller model in Settings.")
            log.error("controller unavailable: %s", error)
        else:
            self.app = app
            self.bridge = RunBridge(app.engine, self)
            self.chat.set_bridge(self.bridge)
            self.bridge.warmed.connect(self.refresh_welcome)  # torch is loaded then: GPUs can be named
            self.bridge.warm_up()
        self._show_network_state()
        self.refresh_welcome()

    def refresh_welcome(self) -> None:
        """What is installed and recommended, read off the GUI thread."""
        from app.recommend import first_run

        settings = self.settings
        run_in_background(lambda: first_run(settings),
                          lambda facts: self.chat.welcome.show_facts(facts, settings.allow_downloads),
                          owner=self.chat.welcome)

    def download_recommended(self, ids: list[str], confirm: bool = True) -> None:
        """Queue the welcome page's set, after one confirmation with its size and the free disk."""
        from app.recommend import GB
        from models.record import free_bytes

        facts = self.chat.welcome.facts
        size = facts.recommendation.download_bytes if facts is not None else 0
        if confirm and size > ModelsPage.CONFIRM_ABOVE:
            free = free_bytes(self.settings.data_path)
            answer = QMessageBox.question(self, "Download the recommended set",
                                          f"Download {len(ids)} models, {size / GB:.1f} GB in all?\n"
                                          f"{free / GB:.1f} GB free on the disk of {self.settings.data_path}.")
            if answer != QMessageBox.StandardButton.Yes:
                return
        started = [model_id for model_id in ids if self.models_page.download(model_id) is not None]
        if started:
            self.show_page("Models")  # where each download shows its progress
            self.statusBar().showMessage(f"Downloading {len(started)} models; each is usable once it is done.")

    def _show_network_state(self, _attempt=None) -> None:
        """'Offline', and how many connection attempts the guard stopped (details in the tooltip)."""
        attempts = netguard.blocked_attempts()
        text = "Downloads allowed" if self.settings.allow_downloads else "Offline"
        servers = [f"the controller server {self.settings.controller_url}"] if self.settings.controller_url else []
        servers += [f"the experts cluster {self.settings.experts_url}"] if self.settings.experts_url else []
        if servers:
            text += " except " + " and ".join(servers)
        if attempts:
            text += f" · {len(attempts)} connection attempt{'s' if len(attempts) != 1 else ''} blocked"
            self.offline_label.setStyleSheet("color: #c62828;")
        self.offline_label.setText(text)
        self.offline_label.setToolTip("\n".join(f"{a.host}:{a.port} from {a.caller}" for a in attempts[-20:])
                                      or "No network connection was attempted.")

    def closeEvent(self, event) -> None:
        self.save_state()
        if self.bridge is not None:
            self.bridge.cancel()
            self.bridge.stop_warm_up()
        logging.getLogger().removeHandler(self.log_handler)
        self._stop_listening()
        if self.temporary_history is not None:  # "not saved this session": the user's words go too
            # a cancelled turn may still be writing its files there: let it end first
            if self.bridge is not None and not self.bridge.wait(10):
                log.warning("a turn was still running; %s may keep some of its files", self.temporary_history)
            shutil.rmtree(self.temporary_history, ignore_errors=True)
        super().closeEvent(event)


def open_history(settings: Settings) -> tuple[ConversationStore, list[str], Path | None]:
    """The conversation store, what opening it had to say, and the temporary folder it lives in
    when the data folder cannot be used: the window goes on working and removes that folder when
    it closes."""
    try:
        store = ConversationStore(settings.data_path)
    except StorageError as error:
        log.error("%s", error)
        fallback = Path(tempfile.mkdtemp(prefix="jarvis-conversations-"))
        return ConversationStore(fallback), [f"Conversations are not saved this session: {error}"], fallback
    return store, list(store.notices), None
