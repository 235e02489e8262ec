"""The main window: the conversation list on the left, transcript and composer in the middle, the
next-token panel on the right, menus, the notice bar and the status bar. It only wires widgets to
the controller."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import QByteArray, QDataStream, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QMainWindow, QMessageBox, QSplitter, QVBoxLayout, QWidget

from app.controller import ChatController
from app.memory import NothingNamed, detect_intent
from app.models import ModelRegistry
from app.settings import Settings
from ui.composer import Composer
from ui.conversation_actions import ConversationActions
from ui.model_picker import ask_model_file, ask_model_folder
from ui.notice_bar import NoticeBar
from ui.preferences import PreferencesDialog
from ui.probability_panel import ProbabilityPanel
from ui.sidebar import Sidebar
from ui.status_bar import StatusBar
from ui.text_format import menu_label, plain_tooltip
from ui.theme import CONFIDENT
from ui.transcript import Transcript

DEFAULT_SIZE = (1180, 780)
EDIT_ACTIONS = [
    ("&Undo", "undo", QKeySequence.StandardKey.Undo),
    ("&Redo", "redo", QKeySequence.StandardKey.Redo),
    (None, None, None),
    ("Cu&t", "cut", QKeySequence.StandardKey.Cut),
    ("&Copy", "copy", QKeySequence.StandardKey.Copy),
    ("&Paste", "paste", QKeySequence.StandardKey.Paste),
    ("Select &All", "selectAll", QKeySequence.StandardKey.SelectAll),
]
PANEL_WIDTH = 400
SIDEBAR_WIDTH = 230
STATUS_MESSAGE_MS = 6000


class MainWindow(QMainWindow):
    closed = Signal()

    def __init__(self, controller: ChatController, registry: ModelRegistry, parent=None):
        super().__init__(parent)
        self.controller = controller
        self.registry = registry
        self.preferences: PreferencesDialog | None = None
        self._live = True  # the panel follows the newest token until the user picks one
        self.setWindowTitle("Glassbox")
        settings = controller.settings

        self.transcript = Transcript(controller, settings.app.probability_tint)
        self.composer = Composer()
        self.notice = NoticeBar()
        self._advised = False
        self.panel = ProbabilityPanel(settings.app.panel_top_k)
        self.panel.setMinimumWidth(300)
        self.sidebar = Sidebar(controller)
        self.sidebar.setMinimumWidth(160)
        self.actions = ConversationActions(controller, self)

        chat = QWidget()
        chat.setObjectName("chatColumn")
        column = QVBoxLayout(chat)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.notice)
        column.addWidget(self.transcript, 1)
        column.addWidget(self.composer)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(chat)
        self.splitter.addWidget(self.panel)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setStretchFactor(2, 0)
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)
        self.status = StatusBar()
        self.setStatusBar(self.status)
        self._build_menus()
        self._restore_geometry(settings)

        self.composer.send_requested.connect(self._send)
        self.composer.stop_requested.connect(controller.stop)
        self.transcript.token_selected.connect(self._on_token_selected)
        controller.busy_changed.connect(self._on_busy_changed)
        controller.reply_tokens.connect(self._on_reply_tokens)
        self.status.follow(controller)
        controller.reply_finished.connect(lambda _i, _stats: self.panel.end_live())
        controller.reply_failed.connect(lambda _i, error: self.notice.show_error(error))
        controller.model_loading.connect(self._on_model_loading)
        controller.model_loaded.connect(self._on_model_loaded)
        controller.model_failed.connect(self._on_model_failed)
        controller.settings_changed.connect(self._on_settings_changed)
        controller.conversation_reset.connect(self.panel.clear)
        controller.conversation_opened.connect(lambda _id: self._update_actions())
        controller.message_too_long.connect(self._on_message_too_long)
        self.sidebar.message_opened.connect(self.transcript.highlight)
        self.transcript.remembered.connect(lambda text: self.show_message(f"Remembered: {text}"))
        if notice := controller.store_notice():
            self.notice.show_error(notice)
        self._update_actions()
        QTimer.singleShot(0, self.composer.box.setFocus)

    # -- menus -----------------------------------------------------------------------------

    def _action(self, menu, text: str, slot, shortcut=None, checkable: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&New Conversation", self.new_chat, QKeySequence.StandardKey.New)
        self._action(file_menu, "&Find in Conversations", self.sidebar.search_box.setFocus, "Ctrl+Shift+F")
        file_menu.addSeparator()
        self.export_actions = [
            self._action(file_menu, "Export as &Markdown…", lambda: self.actions.ask_export("markdown")),
            self._action(file_menu, "Export as &JSON…", lambda: self.actions.ask_export("json")),
        ]
        file_menu.addSeparator()
        quit_action = self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        edit_menu = bar.addMenu("&Edit")
        for text, method, key in EDIT_ACTIONS:
            if text is None:
                edit_menu.addSeparator()
                continue
            action = self._action(edit_menu, text, lambda _checked=False, m=method: self._edit(m), key)
            # the focused text widget handles these keys itself; the menu only shows and offers them
            action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        edit_menu.addSeparator()
        self._action(edit_menu, "Copy Last &Reply", self.copy_last_reply, "Ctrl+Shift+C")
        self.regenerate_action = self._action(edit_menu, "Re&generate Last Reply", self.controller.regenerate, "Ctrl+R")
        self._action(edit_menu, "&Memories…", self.actions.open_memories, "Ctrl+Shift+M")
        edit_menu.addSeparator()
        self.preferences_action = self._action(edit_menu, "&Preferences…", self.open_preferences, "Ctrl+,")
        self.preferences_action.setMenuRole(QAction.MenuRole.PreferencesRole)

        view_menu = bar.addMenu("&View")
        self.tint_action = self._action(view_menu, "Probability &Tint", self.set_tint, "Ctrl+T", checkable=True)
        self.tint_action.setChecked(self.controller.settings.app.probability_tint)
        self.code_tint_action = self._action(view_menu, "Tint &Code Too", self.set_code_tint, checkable=True)
        self.code_tint_action.setChecked(self.controller.settings.app.tint_code)
        self.panel_action = self._action(
            view_menu, "Next-Token &Panel", self.panel.setVisible, "Ctrl+Shift+P", checkable=True
        )
        self.panel_action.setChecked(True)

        model_menu = bar.addMenu("&Model")
        self.models_menu = model_menu.addMenu("&Switch Model")
        self.models_menu.aboutToShow.connect(self._fill_models_menu)
        self._action(model_menu, "Open Model &File…", self.open_model_file, QKeySequence.StandardKey.Open)
        self._action(model_menu, "Open Model F&older…", self.open_model_folder, "Ctrl+Shift+O")
        model_menu.addSeparator()
        self.stop_action = self._action(model_menu, "&Stop Reply", self.controller.stop, "Esc")
        self.stop_action.setEnabled(False)

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&Reading the Colours", self.show_colour_help)
        about = self._action(help_menu, "&About Glassbox", self.show_about)
        about.setMenuRole(QAction.MenuRole.AboutRole)

    def _fill_models_menu(self) -> None:
        """The default model, remembered and discovered ones; the loaded one checked."""
        self.models_menu.clear()
        loaded = (self.controller.model_info or {}).get("spec")
        for entry in self.registry.entries(self.controller.settings.app):
            action = self.models_menu.addAction(menu_label(entry.label))
            action.setCheckable(True)
            action.setChecked(entry.spec == loaded)
            action.setEnabled(entry.kind != "missing")
            action.setToolTip(plain_tooltip(entry.spec))
            action.triggered.connect(lambda _checked=False, spec=entry.spec: self.choose_model(spec))

    def _edit(self, method: str) -> None:
        """Undo, cut, copy, paste or select all in whichever text widget has the focus."""
        widget = QApplication.focusWidget()
        if widget is not None and hasattr(widget, method):
            getattr(widget, method)()

    # -- intents ---------------------------------------------------------------------------

    def _send(self, text: str) -> None:
        """Send, except "forget …", which asks before deleting memories and never reaches the model."""
        if self.controller.busy:
            return
        if isinstance(intent := detect_intent(text), NothingNamed):  # the text stays in the composer
            self.notice.show_error(intent.explanation)
        elif (outcome := self.actions.handle_forget(text)) is not None:
            self.composer.box.clear()
            self.show_message(outcome)
        elif self.controller.send(text):
            self.composer.box.clear()
            if self.notice.text() != self.controller.store_notice():  # that one stays until dismissed
                self.notice.hide()

    def show_message(self, text: str) -> None:
        self.status.showMessage(text, STATUS_MESSAGE_MS)

    def _on_message_too_long(self, text: str, explanation: str) -> None:
        """The message never fit: it is back in the composer, untouched, with the reason above it."""
        if not self.composer.box.toPlainText().strip():
            self.composer.box.setPlainText(text)
        self.notice.show_error(explanation)
        self.composer.box.setFocus()

    def _update_actions(self) -> None:
        for action in self.export_actions:
            action.setEnabled(self.controller.conversation_id is not None)

    def new_chat(self) -> None:
        self.controller.new_chat()
        self.composer.box.setFocus()

    def copy_last_reply(self) -> None:
        for view in reversed(self.transcript.views):
            if view.message.role == "assistant" and view.message.text:
                view.copy_text()
                return

    def set_tint(self, on: bool) -> None:
        self.transcript.set_tint(on)
        self._save(replace(self.controller.settings.app, probability_tint=on))

    def set_code_tint(self, on: bool) -> None:
        self.transcript.set_tint(self.controller.settings.app.probability_tint, on)
        self._save(replace(self.controller.settings.app, tint_code=on))

    def open_preferences(self) -> None:
        dialog = PreferencesDialog(self.controller.settings, self.registry, self, model_info=self.controller.model_info)
        self.preferences = dialog
        dialog.accepted.connect(lambda: self._apply_preferences(dialog))
        dialog.finished.connect(lambda _result: setattr(self, "preferences", None))
        dialog.open()

    def _apply_preferences(self, dialog: PreferencesDialog) -> None:
        settings = dialog.settings()
        if settings is not None:
            self.controller.apply_settings(settings)

    def choose_model(self, spec: str) -> None:
        app = self.controller.settings.app
        if spec == app.model and self.controller.model_info is not None:
            return
        self.controller.apply_settings(replace(self.controller.settings, app=replace(app, model=spec)))

    def open_model_file(self) -> None:
        if path := ask_model_file(self):
            self.choose_model(path)

    def open_model_folder(self) -> None:
        if path := ask_model_folder(self):
            self.choose_model(path)

    def show_about(self) -> None:
        QMessageBox.about(
            self,
            "About Glassbox",
            "<h3>Glassbox</h3><p>A chat assistant that runs a language model on this computer and "
            "shows what happens inside it while it talks.</p>",
        )

    def show_colour_help(self) -> None:
        QMessageBox.information(
            self,
            "Reading the colours",
            "Each token of a reply is tinted by the probability the model gave it: no tint means "
            f"the model was confident ({CONFIDENT:.0%} or more); the warmer the colour, the less likely the "
            "token was. Hover a token for its probability and the top alternatives; click it to "
            "see both distributions for that step in the panel on the right.",
        )

    # -- controller signals ----------------------------------------------------------------

    def _on_busy_changed(self, busy: bool) -> None:
        self.composer.set_busy(busy)
        self.stop_action.setEnabled(busy)
        self.regenerate_action.setEnabled(not busy)
        self._update_actions()
        if busy:
            self._live = True

    def _on_reply_tokens(self, index: int, records: list) -> None:
        if self._live and records:
            record = records[-1]
            self.panel.show_live(record)

    def _on_token_selected(self, message_index: int, token_index: int) -> None:
        self._live = False
        record = self.controller.message(message_index).tokens[token_index]
        self.panel.show_selected(record, token_index)

    def _on_model_loading(self, progress: float, text: str) -> None:
        self.status.show_loading(progress, text)

    def _on_model_loaded(self, info: dict) -> None:
        self.status.show_model(info)
        advice = info.get("speed_advice")
        if advice and not self._advised:  # once per run: the app works, only slower
            self._advised = True
            self.notice.show_error(advice)

    def _on_model_failed(self, message: str) -> None:
        previous = self.controller.model_info
        self.status.show_model_failed(previous)
        keep = f" Still using {previous.get('display_name', 'the previous model')}." if previous else ""
        self.notice.show_error(f"Could not load the model: {message}{keep}")
        if previous:  # remember the model that works, not the one that failed
            app = self.controller.settings.app
            self._save(replace(app, model=previous.get("spec", app.model)), quiet=True)

    def _on_settings_changed(self, settings: Settings) -> None:
        self.tint_action.setChecked(settings.app.probability_tint)
        self.code_tint_action.setChecked(settings.app.tint_code)
        self.transcript.set_tint(settings.app.probability_tint, settings.app.tint_code)
        self.panel.set_top_k(settings.app.panel_top_k)

    def _save(self, app_settings, quiet: bool = False) -> None:
        settings = replace(self.controller.settings, app=app_settings)
        if quiet:
            self.controller.remember(settings)
        else:
            self.controller.apply_settings(settings)

    # -- geometry --------------------------------------------------------------------------

    def _restore_geometry(self, settings: Settings) -> None:
        available = self.screen().availableGeometry()
        width = min(DEFAULT_SIZE[0], int(available.width() * 0.9))
        height = min(DEFAULT_SIZE[1], int(available.height() * 0.9))
        self.resize(width, height)
        self.splitter.setSizes([SIDEBAR_WIDTH, width - PANEL_WIDTH - SIDEBAR_WIDTH, PANEL_WIDTH])
        if settings.app.window_geometry:
            self.restoreGeometry(QByteArray.fromHex(settings.app.window_geometry.encode()))
        if settings.app.splitter_state and self._splitter_state_fits(settings.app.splitter_state):
            self.splitter.restoreState(QByteArray.fromHex(settings.app.splitter_state.encode()))

    def _splitter_state_fits(self, state: str) -> bool:
        """A layout saved before the conversation list existed has one pane too few: not restored."""
        stream = QDataStream(QByteArray.fromHex(state.encode()))
        stream.readInt32()  # QSplitter's marker
        stream.readInt32()  # its version
        return stream.readUInt32() == self.splitter.count()  # the number of pane sizes saved

    def closeEvent(self, event) -> None:
        app = replace(
            self.controller.settings.app,
            window_geometry=bytes(self.saveGeometry().toHex()).decode(),
            splitter_state=bytes(self.splitter.saveState().toHex()).decode(),
        )
        self._save(app, quiet=True)
        self.controller.stop()
        self.closed.emit()
        super().closeEvent(event)
