"""The main window: the conversation list on the left, transcript and composer in the middle, the
next-token panel on the right, menus, the notice bar and the status bar. It only wires widgets to
the controller."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence, QTextCursor
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QFrame,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from app.about import Places, about_info
from app.api_service import ApiService
from app.controller import ChatController
from app.finish_words import finish_text
from app.importers import ImportFileError
from app.inspector import InspectorService
from app.memories import NothingNamed, detect_intent
from app.models import ModelRegistry
from app.notices import About
from app.settings import MAX_ZOOM_PERCENT, MIN_ZOOM_PERCENT, THEMES, ZOOM_STEP_PERCENT, Settings
from app.wording import sentence
from ui.about_dialog import AboutDialog
from ui.completion_view import CompletionView
from ui.composer import Composer
from ui.conversation_actions import ConversationActions
from ui.conversation_settings_dialog import ConversationSettingsDialog
from ui.inspector.dock import INSPECTOR_MIN_WIDTH, INSPECTOR_READABLE, InspectorDock
from ui.licence_gate import LicenceGate
from ui.live_token_count import LiveTokenCount
from ui.model_manager import open_model_manager
from ui.model_picker import ask_model_file, ask_model_folder
from ui.notice_bar import NoticeBar
from ui.panes import PaneSplitter, SidePanes
from ui.preferences import PreferencesDialog
from ui.probability_panel import ProbabilityPanel
from ui.requests_view import RequestsWindow
from ui.sidebar import Sidebar
from ui.status_bar import StatusBar
from ui.text_format import menu_label, plain_tooltip
from ui.theme import CONFIDENT, apply_look
from ui.thinking_toggle import ThinkingToggle
from ui.transcript import Transcript

DEFAULT_SIZE = (1180, 780)
ONE_LINE_CHARS = 120


def one_line(text: str, limit: int = ONE_LINE_CHARS) -> str:
    """Text for a one-line message: line breaks as spaces, cut with "…" past `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"

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
PANEL_MIN_WIDTH = 300  # the next-token panel folds away rather than get narrower
WINDOW_MIN_WIDTH = 480
SIDEBAR_WIDTH = 230
STATUS_MESSAGE_MS = 6000
REMEMBERED_MS = 15000  # how long "Remembered: …" stays under the message box when nothing is sent


class MainWindow(QMainWindow):
    closed = Signal()

    def __init__(self, controller: ChatController, registry: ModelRegistry, parent=None,
                 api: ApiService | None = None, places: Places | None = None):
        super().__init__(parent)
        self.controller = controller
        self.places = places  # the data, config and models folders (Help → About), None in some tests
        self.api = api  # the API server (Preferences → Server), None when the window runs without one
        self.requests_window: RequestsWindow | None = None
        self.registry = registry
        self.preferences: PreferencesDialog | None = None
        self._live = True  # the panel follows the newest token until the user picks one
        self.setWindowTitle("Glassbox")
        settings = controller.settings

        self.transcript = Transcript(controller, settings.app.probability_tint)
        self.composer = Composer()
        self.notice = NoticeBar()
        self._advised = False
        self._failure: tuple[str, str] | None = None  # (action, banner text) of the last failure shown
        self.panel = ProbabilityPanel(settings.app.panel_top_k, tint=settings.app.probability_tint)
        # A large text size makes the panel's rows taller than the window: it scrolls there,
        # instead of its height becoming the window's minimum (which grew the window off the screen)
        self.panel_pane = QScrollArea()
        self.panel_pane.setObjectName("panelPane")
        self.panel_pane.setWidget(self.panel)
        self.panel_pane.setWidgetResizable(True)
        self.panel_pane.setFrameShape(QFrame.Shape.NoFrame)
        self.panel_pane.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.panel_pane.setMinimumWidth(PANEL_MIN_WIDTH)
        self.panel.setMinimumWidth(PANEL_MIN_WIDTH - self.panel_pane.verticalScrollBar().sizeHint().width())
        self.sidebar = Sidebar(controller)
        self.sidebar.setMinimumWidth(160)
        self.actions = ConversationActions(controller, self)

        chat = QWidget()
        chat.setObjectName("chatColumn")
        column = QVBoxLayout(chat)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        column.addWidget(self.notice)
        self.completion = CompletionView(controller, self, self.composer.box, self.transcript)  # a base model continues text (View → Completion View)
        column.addWidget(self.completion.banner)
        column.addWidget(self.transcript, 1)
        column.addWidget(self.composer)
        self.splitter = PaneSplitter(Qt.Orientation.Horizontal)  # a folded pane holds no width
        self.splitter.addWidget(self.sidebar)
        self.splitter.addWidget(chat)
        self.splitter.addWidget(self.panel_pane)
        self.panes = SidePanes(self.splitter, (SIDEBAR_WIDTH, PANEL_WIDTH))
        self.setCentralWidget(self.splitter)
        self.setMinimumWidth(WINDOW_MIN_WIDTH)  # narrower than the panes' minimums: they fold away
        self.status = StatusBar()
        self.setStatusBar(self.status)
        self.inspector = InspectorDock(InspectorService(controller, controller.worker), self)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.inspector)
        self.inspector.hide()
        self._inspector_narrowed = False  # the Inspector floats because the window narrowed (it docks again)
        self._panel_step: tuple[int, int] | None = None  # (message, token) the panel shows
        self._build_menus()
        self._restore_geometry(settings)
        self._apply_look(settings)

        self.composer.send_requested.connect(self._send)
        self.composer.stop_requested.connect(self.stop_reply)
        self.composer.attached.connect(self._count_attachment)
        controller.token_count.connect(self._on_token_count)
        self.live_count = LiveTokenCount(self.composer, controller, room=lambda: self.message_room()[0])
        self._counting: dict[int, object] = {}  # ticket -> Attachment being counted
        self.transcript.token_selected.connect(self._on_token_selected)
        self.transcript.inspect_requested.connect(self.inspect_token)
        self.transcript.inspect_message_requested.connect(self.inspect_message)
        self.transcript.message_character_clicked.connect(self.inspector.follow_click_in_message)
        self.panel.inspect_requested.connect(self.inspect_current)
        self.panel.continue_requested.connect(self._continue_with)
        controller.busy_changed.connect(self._on_busy_changed)
        self.transcript.rendered.connect(self._on_reply_rendered)  # the panel shows what the text shows
        self.status.follow(controller)
        controller.reply_finished.connect(
            lambda _i, stats: self.panel.end_live(finish_text(stats.get("finish_reason"), stats)))  # as the header says
        controller.reply_finished.connect(lambda _i, _stats: self._update_actions())
        controller.reply_failed.connect(lambda _i, error: self.notice.show_error(error, About.CONVERSATION))
        controller.model_loading.connect(self._on_model_loading)
        controller.model_waiting.connect(  # the writing model's name stays; Loading… when the load starts
            lambda text: self.status.show_until(text, controller.model_loading, controller.model_failed))
        controller.model_loaded.connect(self._on_model_loaded)
        self.licence_gate = LicenceGate(self, controller, self.notice, self.composer)  # a model's terms before first use
        self.notice.follow(controller, self.composer.box)  # a banner goes when it is no longer true (app/notices.py)
        controller.refused.connect(lambda why: self.notice.show_warning(why, About.REPLY_WITH_MODEL))
        controller.model_failed.connect(self._on_model_failed)
        controller.settings_changed.connect(self._on_settings_changed)
        controller.conversation_reset.connect(self._on_conversation_reset)
        controller.conversation_opened.connect(lambda _id: self._update_actions())
        controller.conversation_opened.connect(lambda _id: self._restore_draft())
        self.composer.box.textChanged.connect(self._keep_draft)
        self.composer.attachments_changed.connect(self._keep_draft)
        self._too_long_notice: str | None = None  # the banner about the message in the box, while shown
        self.composer.box.textChanged.connect(self._drop_too_long_notice)
        self.composer.attachments_changed.connect(self._drop_too_long_notice)
        self._restoring_draft = False
        self._restore_draft()  # the conversation reopened at start, with what was left unsent in it
        controller.conversation_opened.connect(lambda _id: self._update_title())
        controller.conversations_changed.connect(self._update_title)
        self._update_title()  # the conversation reopened at start is named too
        controller.message_too_long.connect(self._on_message_too_long)
        controller.notice.connect(self.notice.show_notice)
        self.sidebar.message_opened.connect(self.transcript.highlight)
        self.sidebar.search_cleared.connect(self.transcript.clear_marks)
        controller.memory_saved.connect(self._on_memory_saved)
        self.transcript.copied.connect(self._on_copied)
        if notice := controller.store_notice() or controller.open_notice:  # a file set aside, rows lost
            self.notice.show_warning(notice)
        if api is not None:
            api.changed.connect(self._show_server)
            self._show_server()
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
        self.conversation_settings_action = self._action(
            file_menu, "Conversation &Settings…", self.open_conversation_settings, "Ctrl+Shift+,"
        )
        file_menu.addSeparator()
        self.export_actions = [
            self._action(file_menu, "Export as &Markdown…", lambda: self.export("markdown")),
            self._action(file_menu, "Export as &JSON…", lambda: self.export("json")),
        ]
        self._action(file_menu, "&Import Conversations…", self.ask_import)
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
        self.copy_reply_action = self._action(edit_menu, "Copy Last &Reply", self.copy_last_reply, "Ctrl+Shift+C")
        self.regenerate_action = self._action(edit_menu, "Re&generate Last Reply", self.controller.regenerate, "Ctrl+R")
        self.continue_action = self._action(
            edit_menu, "Co&ntinue Last Reply", self.controller.continue_reply, "Ctrl+Shift+Return"
        )
        self._action(edit_menu, "&Memories…", self.actions.open_memories, "Ctrl+Shift+M")
        edit_menu.addSeparator()
        self.preferences_action = self._action(edit_menu, "&Preferences…", self.open_preferences, "Ctrl+,")
        self.preferences_action.setMenuRole(QAction.MenuRole.PreferencesRole)

        view_menu = bar.addMenu("&View")
        self.tint_action = self._action(view_menu, "Probability &Tint", self.set_tint, "Ctrl+T", checkable=True)
        self.tint_action.setChecked(self.controller.settings.app.probability_tint)
        self.code_tint_action = self._action(view_menu, "Tint &Code Too", self.set_code_tint, checkable=True)
        self.code_tint_action.setChecked(self.controller.settings.app.tint_code)
        self.code_tint_action.setEnabled(self.controller.settings.app.probability_tint)  # it extends the tint
        view_menu.addAction(self.completion.action)
        self.thinking_toggle = ThinkingToggle(self.controller, self)  # shown for templates reading enable_thinking
        view_menu.addAction(self.thinking_toggle.action)
        view_menu.addSeparator()
        self.sidebar_action = self._action(
            view_menu, "&Conversation List", lambda on: self._set_pane(0, on), "Ctrl+Shift+L", checkable=True
        )
        self.panel_action = self._action(
            view_menu, "Next-Token &Panel", lambda on: self._set_pane(2, on), "Ctrl+Shift+P", checkable=True
        )
        self.sidebar_action.setChecked(True)
        self.panel_action.setChecked(True)
        # checked while it is open; Ctrl+I closes it too. Not the dock's toggleViewAction: that one
        # shows the dock itself, at its size hint, before the window could make room or float it
        self.inspector_action = QAction("&Inspector", self, checkable=True, shortcut=QKeySequence("Ctrl+I"))
        self.inspector_action.triggered.connect(lambda on: self.inspect_current() if on else self.inspector.hide())
        self.inspector.visibilityChanged.connect(lambda _: self.inspector_action.setChecked(not self.inspector.isHidden()))
        view_menu.addAction(self.inspector_action)
        self.requests_action = self._action(view_menu, "API &Requests", self.open_requests, "Ctrl+Shift+R")
        self.requests_action.setEnabled(self.api is not None)
        self.panes.visibility_changed.connect(self._on_pane_visibility)
        view_menu.addSeparator()
        theme_menu = view_menu.addMenu("T&heme")
        self.theme_actions = QActionGroup(self)
        for theme, label in THEMES.items():
            action = self._action(theme_menu, label, lambda _on=False, t=theme: self.set_theme(t), checkable=True)
            action.setData(theme)
            self.theme_actions.addAction(action)
        self.zoom_in_action = self._action(view_menu, "Zoom &In", lambda: self.zoom(+1), QKeySequence.StandardKey.ZoomIn)
        self.zoom_in_action.setShortcuts([QKeySequence.StandardKey.ZoomIn, QKeySequence("Ctrl+=")])
        self.zoom_out_action = self._action(view_menu, "Zoom &Out", lambda: self.zoom(-1), QKeySequence.StandardKey.ZoomOut)
        self.zoom_reset_action = self._action(view_menu, "&Actual Size", lambda: self.zoom(0), "Ctrl+0")

        model_menu = bar.addMenu("&Model")
        self.models_menu = model_menu.addMenu("&Switch Model")
        self.models_menu.aboutToShow.connect(self._fill_models_menu)
        self._action(model_menu, "Open Model &File…", self.open_model_file, QKeySequence.StandardKey.Open)
        self._action(model_menu, "Open Model F&older…", self.open_model_folder, "Ctrl+Shift+O")
        self._action(model_menu, "&Manage Models…", lambda: open_model_manager(self, self.controller))
        model_menu.addSeparator()
        self.stop_action = self._action(model_menu, "&Stop Reply", self.stop_reply, "Esc")
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
        attached = tuple(self.composer.attachments)
        if self.controller.completion_mode:  # continued as written: never read as a memory intent
            if self.controller.send(text, attached):
                self._sent()
            return
        if isinstance(intent := detect_intent(text), NothingNamed):  # the text stays in the composer
            self.notice.show_warning(intent.explanation, About.MESSAGE)  # nothing to forget was named: say how
        elif (outcome := self.actions.handle_forget(text)) is not None:
            if outcome.forgot:  # nothing forgotten (cancelled, no match): the text stays to be edited
                self.composer.box.clear()
            self.show_message(outcome.said)
        else:
            self.composer.show_info("")  # before sending: "Remembered: …" from this send stays
            if not self.controller.send(text, attached):
                return
            self._sent()
            if self.notice.text() != self.controller.store_notice():  # that one stays until dismissed
                self.notice.hide()

    def _sent(self) -> None:
        """The message left: the box and its attachments are empty for the next one."""
        self._counting.clear()
        self._restoring_draft = True  # the controller already ended the draft
        try:
            self.composer.set_attachments(())
            self.composer.box.clear()
        finally:
            self._restoring_draft = False

    def _on_memory_saved(self, text: str) -> None:
        """Say what was remembered where the user looks (under the box, until the next send or
        REMEMBERED_MS) and in the status bar."""
        said = f"Remembered: {one_line(text)}"
        self.composer.show_info(f"{said} (Edit → Memories… lists and forgets it)", for_ms=REMEMBERED_MS)
        self.show_message(said)

    def stop_reply(self) -> None:
        """Stop (the button, Esc): said at once, since the model first finishes the part of the
        prompt it is reading, which can take seconds (the button reads "Stopping…" until it has)."""
        if not self.controller.busy:
            return
        # until the reply has ended (not for a time): then the status bar shows its numbers at once
        self.status.show_until("Stopping: the model finishes the step it is on, then the reply ends",
                               self.controller.busy_changed)
        self.controller.stop()
        self.composer.set_stopping()
        self.stop_action.setEnabled(False)

    def show_message(self, text: str, *shorter: str) -> None:
        """A transient message in the status bar (plain text: nothing in it is read as markup);
        `shorter`: forms of it for when the whole has no room, longest first (the whole is then the
        message's tooltip)."""
        self.status.showMessage(text, STATUS_MESSAGE_MS, shorter)

    def _on_copied(self, text: str) -> None:
        self.show_message(f"Copied {len(text):,} character{'s' if len(text) != 1 else ''} to the clipboard")

    def _count_attachment(self, attachment) -> None:
        self._counting[self.controller.count_tokens(attachment.block)] = attachment

    def _on_token_count(self, ticket: int, count: int) -> None:
        """Say how many tokens an attachment is (on its chip), and plainly when it cannot fit."""
        attachment = self._counting.pop(ticket, None)
        if attachment is None or not any(a is attachment for a in self.composer.attachments):
            return  # sent (or taken out) before it was counted: nothing to say about it now
        if count < 0:
            self.composer.show_info(f"Attached {attachment.name} (load a model to count its tokens).")
            return
        self.composer.update_attachment(attachment, replace(attachment, tokens=count))
        room, window, reply_room = self.message_room()
        noun = "token" if count == 1 else "tokens"
        if window and count > room:
            self.composer.show_info(
                f"{attachment.name} is {count:,} {noun}, but only about {max(room, 0):,} fit: the context window is "
                f"{window:,} tokens, {reply_room:,} are kept for the reply and the conversation uses the rest. "
                "Shorten the attached text or start a new conversation.", problem=True)
        else:
            self.composer.show_info(f"Attached {attachment.name} · {count:,} {noun}")

    def message_room(self) -> tuple[int, int, int]:
        """(about how many tokens a new message can be, the context window, the tokens kept for the
        reply) for the open conversation and the loaded model; the window is 0 when no model is loaded."""
        app = self.controller.settings.app
        window = (self.controller.model_info or {}).get("context_length") or 0
        window = min(app.context_length or window, window)
        reply_room = min(app.max_new_tokens, window // 2)
        return window - reply_room - (self.conversation_tokens() or 0), window, reply_room

    def _on_message_too_long(self, text: str, explanation: str, attachments: tuple = ()) -> None:
        """The message never fit: it is back in the composer, untouched (its files attached again),
        with the reason above it (until the message is cleared or another conversation opens)."""
        if not self.composer.box.toPlainText().strip() and not self.composer.attachments:
            self.composer.box.setPlainText(text)
            self.composer.set_attachments(attachments)
        self.notice.show_warning(explanation)  # nothing failed: the message waits to be shortened
        self._too_long_notice = explanation
        self.composer.box.setFocus()

    def _drop_too_long_notice(self, conversation_changed: bool = False) -> None:
        """The banner saying the message in the box cannot fit goes once that message is gone (the
        box cleared, another conversation opened): it is about the composer, not the conversation."""
        if self._too_long_notice is None:
            return
        if conversation_changed or not (self.composer.box.toPlainText().strip() or self.composer.attachments):
            if self.notice.text() == self._too_long_notice:
                self.notice.hide()
            self._too_long_notice = None

    def _failed(self, action: str, text: str) -> None:
        """Show why `action` ("import", "export", "model") failed; the banner stays until dismissed
        or until that action next succeeds (`_succeeded`), never above a later success."""
        self.notice.show_error(text)
        self._failure = (action, text)

    def _succeeded(self, action: str) -> None:
        """`action` worked: a banner still saying it failed is no longer true and goes."""
        if self._failure is not None and self._failure[0] == action and self.notice.text() == self._failure[1]:
            self.notice.hide()
        self._failure = None if self._failure is None or self._failure[0] == action else self._failure

    def _update_title(self) -> None:
        """"<conversation title> — Glassbox" (the title as plain text), or "Glassbox" for a new chat."""
        title = self.controller.conversation_title()
        # "[*]" in a window title is Qt's modified-marker placeholder; doubled, it shows as written
        shown = one_line(title, 80).replace("[*]", "[*][*]")
        self.setWindowTitle(f"{shown} — Glassbox" if shown else "Glassbox")

    def _update_actions(self) -> None:
        """Each action is enabled exactly when it can act on the conversation on screen."""
        self.continue_action.setEnabled(self.controller.can_continue())
        self.regenerate_action.setEnabled(self.controller.can_regenerate())
        self.regenerate_action.setText("Re&ply to Your Message" if self.controller.replies_to_user()
                                       else "Re&generate Last Reply")
        self.copy_reply_action.setEnabled(self._last_reply_view() is not None)
        for action in self.export_actions:
            action.setEnabled(self.controller.conversation_id is not None)

    def export(self, kind: str) -> None:
        """Ask where, write the open conversation there, and say where it went (or why not)."""
        try:
            path = self.actions.ask_export(kind)
        except OSError as e:
            self._failed("export", f"Could not export the conversation: {e.strerror or e} ({e.filename or ''}).")
            return
        if path:
            self._succeeded("export")
            self.show_message(f"Exported to {path}", f"Exported to {Path(path).name}")

    def ask_import(self) -> None:
        """Choose a ChatGPT conversations.json or a Glassbox JSON export and import it; the dialog
        opens in the folder last exported to or imported from (trial 6: it opened in home)."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Import conversations", str(self.actions.folder or Path.home()),
            "Conversation exports (*.json);;All files (*)",
        )
        if path:
            self.actions.folder = Path(path).parent
            self.import_file(path)

    def import_file(self, path: str) -> None:
        try:
            summary = self.controller.import_conversations(path)
        except ImportFileError as e:
            self._failed("import", f"Nothing was imported: {e}")
            return
        self._succeeded("import")
        self.show_message(*summary.forms())

    def new_chat(self) -> None:
        self.controller.new_chat()
        self.composer.box.setFocus()

    def _last_reply_view(self):
        """The newest reply on screen that has text (None: nothing to copy)."""
        return next((v for v in reversed(self.transcript.views) if v.message.role == "assistant" and v.message.text),
                    None)

    def copy_last_reply(self) -> None:
        if view := self._last_reply_view():
            view.copy_text()

    def set_theme(self, theme: str) -> None:
        """Light, dark, or the system's; kept in settings."""
        self._save(replace(self.controller.settings.app, theme=theme))

    def zoom(self, step: int) -> None:
        """Text size one step larger (+1) or smaller (-1), or back to 100 % (0); kept in settings."""
        app = self.controller.settings.app
        zoom = 100 if step == 0 else app.zoom_percent + step * ZOOM_STEP_PERCENT
        zoom = max(MIN_ZOOM_PERCENT, min(MAX_ZOOM_PERCENT, zoom))
        if zoom != app.zoom_percent:
            self._save(replace(app, zoom_percent=zoom))
        self.show_message(f"Text size {zoom} %")

    def _apply_look(self, settings: Settings) -> None:
        apply_look(QApplication.instance(), settings.app.theme, settings.app.zoom_percent)
        for action in self.theme_actions.actions():
            action.setChecked(action.data() == settings.app.theme)
        self.zoom_out_action.setEnabled(settings.app.zoom_percent > MIN_ZOOM_PERCENT)
        self.zoom_in_action.setEnabled(settings.app.zoom_percent < MAX_ZOOM_PERCENT)

    def set_tint(self, on: bool) -> None:
        self.transcript.set_tint(on)
        self._save(replace(self.controller.settings.app, probability_tint=on))

    def _follow_tint(self, on: bool) -> None:
        """Everything that speaks of the tint follows it: the panel's legend, the API requests'
        reply, and "Tint Code Too" (nothing to extend while the tint is off)."""
        self.panel.set_tint(on)
        if self.requests_window is not None:
            self.requests_window.set_tint(on)
        self.code_tint_action.setEnabled(on)

    def set_code_tint(self, on: bool) -> None:
        self.transcript.set_tint(self.controller.settings.app.probability_tint, on)
        self._save(replace(self.controller.settings.app, tint_code=on))

    def conversation_tokens(self) -> int | None:
        """About how many tokens the open conversation is (its last reply's context), if known."""
        for message in reversed(self.controller.conversation.messages):
            used = (message.stats or {}).get("context_used") if message.role == "assistant" else None
            if isinstance(used, int) and used > 0:
                return used
        return None

    def open_preferences(self) -> None:
        dialog = PreferencesDialog(self.controller.settings, self.registry, self, model_info=self.controller.model_info,
                                   conversation_tokens=self.conversation_tokens(),
                                   own_system_prompt=self.controller.own_settings.system_prompt is not None)
        self.preferences = dialog
        dialog.accepted.connect(lambda: self._apply_preferences(dialog))
        dialog.finished.connect(lambda _result: setattr(self, "preferences", None))
        dialog.open()

    def _show_server(self) -> None:
        state = self.api.state()
        self.status.show_server(state.text(), bool(state.problem))

    def open_requests(self) -> RequestsWindow:
        """View → API Requests: the recent API requests; one opens like a conversation."""
        if self.requests_window is None:
            app = self.controller.settings.app
            self.requests_window = RequestsWindow(self.api, app.probability_tint, app.panel_top_k, self)
            self.requests_window.inspect_requested.connect(self.inspect_request)
        self.requests_window.show()
        self.requests_window.raise_()
        return self.requests_window

    def open_conversation_settings(self) -> ConversationSettingsDialog:
        """This conversation's own system prompt and stop strings."""
        dialog = ConversationSettingsDialog(
            self.controller.settings, self.controller.own_settings, self,
            conversation_tokens=self.conversation_tokens(), title=self.controller.conversation_title(),
            has_messages=bool(self.controller.conversation.messages),
        )
        self.conversation_dialog = dialog

        def save() -> None:
            own = dialog.own_settings()
            if own is not None:
                warning = dialog.reread_warning()
                self.controller.set_own_settings(own)
                self.show_message(" ".join(("Conversation settings saved.", warning)).strip())

        dialog.accepted.connect(save)
        dialog.open()
        return dialog

    def _apply_preferences(self, dialog: PreferencesDialog) -> None:
        settings = dialog.settings()
        if settings is not None:
            warning = dialog.reread_warning(settings)
            self.controller.apply_settings(settings)
            self.show_message(" ".join(("Preferences saved.", warning)).strip())

    def choose_model(self, spec: str) -> None:
        app = self.controller.settings.app
        if spec == app.model and self.controller.model_info is not None:
            return
        self.controller.apply_settings(replace(self.controller.settings, app=replace(app, model=spec)))

    def open_model_file(self) -> None:
        if path := ask_model_file(self, self.registry.browse_dir(self.controller.settings.app)):
            self.choose_model(path)

    def open_model_folder(self) -> None:
        if path := ask_model_folder(self, self.registry.browse_dir(self.controller.settings.app)):
            self.choose_model(path)

    def show_about(self) -> None:
        AboutDialog(about_info(self.controller.model_info, self.places), self).exec()

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
        self._update_actions()
        if busy:  # the panel follows the new reply: no older token stays marked as the one shown
            self._live = True
            self.transcript.select(0, None)

    def _on_reply_rendered(self, index: int) -> None:
        """A reply's view was drawn with its tokens so far: a live panel shows the same newest
        token (its number agrees with the header's count, and it never runs ahead of the text)."""
        tokens = self.controller.message(index).tokens
        if self._live and tokens and self.controller.message(index).role == "assistant":
            self.panel.show_live(tokens[-1])
            self._panel_step = (index, len(tokens) - 1)

    def _on_token_selected(self, message_index: int, token_index: int) -> None:
        self._live = False
        self._panel_step = (message_index, token_index)
        if self.inspector.isVisible():  # an open Inspector moves to the clicked token
            self.inspector.inspect(message_index, token_index)
        record = self.controller.message(message_index).tokens[token_index]
        self.panel.show_selected(record, token_index)

    def _continue_with(self, token_id: int) -> None:
        if self._panel_step is None or not self.controller.continue_with(*self._panel_step, token_id):
            self.show_message("Only the last reply can continue with another token, once it has finished.")

    def inspect_current(self) -> None:
        """Open the Inspector on the step the next-token panel shows (or the last reply's last
        token); with no step it opens saying so."""
        step = self._panel_step
        if step is None:
            replies = [i for i, m in enumerate(self.controller.conversation.messages) if m.role == "assistant" and m.tokens]
            step = (replies[-1], len(self.controller.message(replies[-1]).tokens) - 1) if replies else None
        self._open_inspector()
        if step is not None:
            self.inspector.inspect(*step, picked=False)  # the panel's step: a ticked Follow stays

    def inspect_token(self, message_index: int, token_index: int) -> None:
        """Open the Inspector on one token of a reply (a token's "Inspect" menu)."""
        self._open_inspector()
        self.inspector.inspect(message_index, token_index)

    def inspect_message(self, message_index: int, char_index: int) -> None:
        """Open the Inspector on a character of a user's message (its "Inspect" menu): it makes
        room as every other way of opening it does."""
        self._open_inspector()
        self.inspector.inspect_message(message_index, char_index)

    def inspect_request(self, served, token_index: int) -> None:
        """Open the Inspector on a token of an API request's reply (from View → API Requests). It
        opens as a window of its own, beside the Requests window it was asked from (docked, it would
        be behind it)."""
        if not self.inspector.isFloating():
            self.inspector.open_floating(self.frameGeometry(), self.screen().availableGeometry())
        self.inspector.inspect_request(served, token_index)

    def _set_pane(self, index: int, open_: bool) -> None:
        """Open or close a side pane; a docked Inspector gives up the room a pane needs first, so
        the chat keeps its minimum width."""
        if open_ and self.inspector.isVisible() and not self.inspector.isFloating():
            pane = self.splitter.widget(index)
            need = self.panes.chat_min + max(pane.minimumWidth(), self.panes.last_width(index))
            short = need + self.splitter.handleWidth() - self.splitter.width()
            if short > 0:
                self.resizeDocks([self.inspector], [self.inspector.width() - short], Qt.Orientation.Horizontal)
                self.layout().activate()  # the splitter has its new width before the pane opens
        self.panes.set_open(index, open_)

    def _open_inspector(self) -> None:
        """Show the Inspector; docked, it takes a share of the window and the side panes give way
        first (SidePanes.make_room folds the ones it needs before it shows), never the chat's
        minimum width. A window that cannot give it a readable width beside the chat gets it as a
        window of its own; one it floated for lack of room before is docked again when there is
        room now."""
        if self.inspector.isVisible():
            return
        separator, keep = self._inspector_room()
        self.inspector.place(self.width() - keep >= INSPECTOR_READABLE, self.frameGeometry(),
                             self.screen().availableGeometry())
        if self.inspector.isFloating():
            self.inspector.show()
        else:
            self._dock_inspector(self.inspector.preferred_width(self.width(), keep), separator)

    def _dock_inspector(self, width: int, separator: int) -> None:
        """Show the docked Inspector `width` px wide, the side panes making room first."""
        self.panes.make_room(self.splitter.width() - width - separator)
        self.inspector.show()
        self.resizeDocks([self.inspector], [width], Qt.Orientation.Horizontal)
        # again once the dock has been laid out (its first layout may take its own size hint);
        # a window too narrow to give it a readable width gets it as a window of its own
        QTimer.singleShot(0, self, lambda: self._settle_inspector(width))

    def _inspector_room(self) -> tuple[int, int]:
        """(the dock separator's width, the px the chat keeps beside a docked Inspector)."""
        separator = self.style().pixelMetric(QStyle.PixelMetric.PM_DockWidgetSeparatorExtent, None, self)
        return separator, self.panes.chat_min + self.splitter.handleWidth() * 2 + separator

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width() and self.inspector.isVisible():
            QTimer.singleShot(0, self, self._refit_inspector)

    def _refit_inspector(self) -> None:
        """A docked Inspector becomes a window of its own when the window narrows past room for
        it beside the chat; one the window floated for lack of room docks again (as when it
        opens) once the window is wide enough to open it docked."""
        if not self.inspector.isVisible():
            return
        separator, keep = self._inspector_room()
        if not self.inspector.isFloating() and self.width() - keep < INSPECTOR_MIN_WIDTH:
            self.inspector.open_floating(self.frameGeometry(), self.screen().availableGeometry())
            self._inspector_narrowed = True
        elif self._inspector_narrowed and self.width() - keep >= INSPECTOR_READABLE:
            self._inspector_narrowed = False
            if self.inspector.floated_for_room:  # not dragged elsewhere by the user meanwhile
                self.inspector.place(True, self.frameGeometry(), self.screen().availableGeometry())
                self._dock_inspector(self.inspector.preferred_width(self.width(), keep), separator)
                # the panes the wider window brought back make room again, once it has settled
                QTimer.singleShot(0, self, lambda: self.panes.make_room(self.splitter.width()))

    def _settle_inspector(self, width: int) -> None:
        if self.inspector.isFloating() or not self.inspector.isVisible():
            return
        self.resizeDocks([self.inspector], [width], Qt.Orientation.Horizontal)
        self.layout().activate()
        if self.inspector.width() < INSPECTOR_READABLE:
            self.inspector.open_floating(self.frameGeometry(), self.screen().availableGeometry())

    def _keep_draft(self) -> None:
        """What is in the box, and attached, is the open conversation's draft (kept per
        conversation, on disk)."""
        if not self._restoring_draft:
            self.controller.keep_draft(self.composer.box.toPlainText(), self.composer.attachments)

    def _restore_draft(self) -> None:
        """Show the open conversation's own unsent text and files (another conversation's stay
        with it)."""
        self._restoring_draft = True
        try:
            self._counting.clear()
            self.composer.box.setPlainText(self.controller.draft())
            self.composer.set_attachments(self.controller.draft_attachments())
            self.composer.box.moveCursor(QTextCursor.MoveOperation.End)
        finally:
            self._restoring_draft = False
        for attachment in self.composer.attachments:
            if attachment.tokens is None:
                self._count_attachment(attachment)

    def _on_conversation_reset(self) -> None:
        """Another conversation (or a new one) is on screen: no view keeps the old one's step (nor a
        banner about a message that was in the box), and
        the panel follows nothing until a reply is written (the replies of a conversation opened are
        drawn too, and none of them is live)."""
        self._panel_step = None
        self._live = False
        self._drop_too_long_notice(conversation_changed=True)
        self.panel.clear()
        self.inspector.inspector.clear()
        self.composer.show_info("")  # what it said was about the conversation left

    def _on_model_loading(self, progress: float, text: str) -> None:
        self.status.show_loading(progress, text)

    def _on_model_loaded(self, info: dict) -> None:
        self._succeeded("model")
        self.status.show_model(info)
        advice = info.get("speed_advice")
        if advice and not self._advised:  # once per run: the app works, only slower
            self._advised = True
            self.notice.show_warning(advice)  # it works, only slower

    def _on_model_failed(self, message: str) -> None:
        previous = self.controller.model_info
        self.status.show_model_failed(previous)
        keep = f" Still using {previous.get('display_name', 'the previous model')}." if previous else ""
        self._failed("model", f"Could not load the model: {sentence(message)}{keep}")
        if previous:  # remember the model that works, not the one that failed
            app = self.controller.settings.app
            self._save(replace(app, model=previous.get("spec", app.model)), quiet=True)

    def _on_settings_changed(self, settings: Settings) -> None:
        self._apply_look(settings)
        self.tint_action.setChecked(settings.app.probability_tint)
        self.code_tint_action.setChecked(settings.app.tint_code)
        self.transcript.set_tint(settings.app.probability_tint, settings.app.tint_code)
        self._follow_tint(settings.app.probability_tint)
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
        if settings.app.splitter_state:  # the widths the user left are the ones panes grow back to
            self.panes.restore(QByteArray.fromHex(settings.app.splitter_state.encode()))

    def _on_pane_visibility(self, index: int, shown: bool) -> None:
        """Keep the View menu's checkmarks true to the panes (dragged shut, folded for room)."""
        (self.sidebar_action if index == 0 else self.panel_action).setChecked(shown)

    def closeEvent(self, event) -> None:
        app = replace(
            self.controller.settings.app,
            window_geometry=bytes(self.saveGeometry().toHex()).decode(),
            splitter_state=bytes(self.panes.saved_state().toHex()).decode(),  # folded panes come back
        )
        self._save(app, quiet=True)
        self.controller.stop()
        self.closed.emit()
        super().closeEvent(event)
