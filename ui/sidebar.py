"""The conversation list: newest first, New Conversation, search across every message, rename,
delete (confirmed). Picking a search hit opens its conversation at that message.

The highlighted row is always the open conversation: a click, the arrow keys (Up/Down, Page Up/Down,
Home/End) and Enter open the row they reach; a right-click leaves the highlight where it is; an open
that fails puts the highlight back on the conversation still open. Among search hits the arrow keys
only move, and Enter or a click opens the hit.

From the search box, Down goes into the list (onto the first hit) and Enter opens the first hit;
Up from the list's first row goes back to the box."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QVBoxLayout,
    QWidget,
)

from app.controller import ChatController
from app.search_words import matched_spans
from ui.confirm import confirm
from ui.fitted_button import FittedButton
from ui.search_hits import SPANS_ROLE, HitDelegate, hit_line
from ui.text_format import plain_tooltip

ID_ROLE = Qt.ItemDataRole.UserRole  # conversation id
MESSAGE_ROLE = Qt.ItemDataRole.UserRole + 1  # the message a search hit points at
SEARCH_DELAY_MS = 150


def confirm_delete(parent: QWidget, title: str) -> bool:
    return confirm(parent, "Delete conversation", f"Delete “{title}” and all its messages? This cannot be undone.")


class SearchBox(QLineEdit):
    """The search field: Down asks to go into the list below it."""

    down_pressed = Signal()

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if event.key() == Qt.Key.Key_Down and not event.modifiers():
            self.down_pressed.emit()
            return
        super().keyPressEvent(event)


class ConversationList(QListWidget):
    """The list itself: a right-click shows the menu without moving the highlight; Delete asks to
    delete the highlighted conversation; Up on the first row asks to go back to the search box."""

    delete_pressed = Signal()
    up_from_top = Signal()

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        editing = self.state() == QListWidget.State.EditingState
        if event.key() == Qt.Key.Key_Delete and not editing:
            self.delete_pressed.emit()
            return
        if event.key() == Qt.Key.Key_Up and not event.modifiers() and not editing and self.currentRow() <= 0:
            self.up_from_top.emit()
            return
        super().keyPressEvent(event)

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        if event.button() == Qt.MouseButton.RightButton:
            event.accept()  # the context menu comes from its own event; the current row stays
            return
        super().mousePressEvent(event)


class Sidebar(QWidget):
    message_opened = Signal(int, str)  # a search hit opened: its message's index in the transcript, the query
    search_cleared = Signal()  # the search box was emptied: marks of the last search go

    def __init__(self, controller: ChatController, parent=None):
        super().__init__(parent)
        self._controller = controller
        self.setObjectName("sidebar")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        # shorter, then cut with "…", at a large text size in a narrow list: never cut at both ends
        self.new_button = FittedButton(["New Conversation", "New"], "Start a new conversation (Ctrl+N)")
        self.new_button.clicked.connect(controller.new_chat)
        self.search_box = SearchBox()
        self.search_box.setObjectName("sidebarSearch")
        self.search_box.setPlaceholderText("Search all messages")
        self.search_box.setToolTip("Search all messages")  # the placeholder is cut with "…" in a narrow list
        self.search_box.setClearButtonEnabled(True)
        self.search_box.setAccessibleName("Search conversations")
        self.list = ConversationList()
        self.list.setAccessibleName("Conversations")
        self.list.setWordWrap(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.list.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.list.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.list.setEditTriggers(QListWidget.EditTrigger.EditKeyPressed)  # F2; double-click below
        self.list.setItemDelegate(HitDelegate(self.list))  # search hits: the matched words highlighted
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addWidget(self.new_button)
        layout.addWidget(self.search_box)
        layout.addWidget(self.list, 1)

        self._search_timer = QTimer(self)
        self._search_timer.setSingleShot(True)
        self._search_timer.setInterval(SEARCH_DELAY_MS)
        self._search_timer.timeout.connect(self.refresh)
        self.search_box.textChanged.connect(self._on_search_changed)
        self.search_box.down_pressed.connect(self._enter_list)
        self.search_box.returnPressed.connect(self._open_first_hit)
        self.list.up_from_top.connect(self.search_box.setFocus)
        self.list.itemClicked.connect(self._open)
        self.list.itemActivated.connect(self._open)  # Enter
        self.list.currentItemChanged.connect(self._on_current_changed)  # arrow keys, a drag
        self.list.itemDoubleClicked.connect(self._start_rename)
        self.list.itemChanged.connect(self._renamed)
        self.list.customContextMenuRequested.connect(self._context_menu)
        self.list.delete_pressed.connect(lambda: self.list.currentItem() and self.delete(self.list.currentItem()))
        self.list.itemDelegate().closeEditor.connect(lambda *_args: self._mark_current())  # a rename ended
        controller.conversations_changed.connect(self.refresh)
        controller.conversation_opened.connect(lambda _id: self._mark_current())
        self.refresh()

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        """Hidden (the window closing, the pane collapsed): a search still to run waits, so it never
        reads a store that closes with the window; shown again, the list is brought up to date."""
        self._search_timer.stop()
        super().hideEvent(event)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt's name)
        super().showEvent(event)
        if self.searching:
            self.refresh()

    @property
    def searching(self) -> bool:
        return bool(self.search_box.text().strip())

    def refresh(self) -> None:
        """Rebuild the list: every conversation, or the search hits while there is a query."""
        self.list.blockSignals(True)
        self.list.clear()
        if self.searching:
            query = self.search_box.text()
            for hit in self._controller.search(query):
                snippet, spans = hit_line(hit.text, matched_spans(hit.text, query))  # from near the match
                who = "You" if hit.role == "user" else "Assistant"
                head = f"{hit.conversation_title or 'Untitled'}\n{who}: "
                item = QListWidgetItem(head + snippet)
                item.setData(SPANS_ROLE, [(start + len(head), length) for start, length in spans])
                item.setData(ID_ROLE, hit.conversation_id)
                item.setData(MESSAGE_ROLE, hit.message_id)
                item.setToolTip(plain_tooltip(snippet))
                self.list.addItem(item)
            if self.list.count() == 0:
                empty = QListWidgetItem("No messages match")
                empty.setFlags(Qt.ItemFlag.NoItemFlags)
                self.list.addItem(empty)
        else:
            for conversation in self._controller.list_conversations():
                item = QListWidgetItem(conversation.title or "Untitled")
                item.setData(ID_ROLE, conversation.id)
                item.setToolTip(plain_tooltip(conversation.title))
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable)
                self.list.addItem(item)
        self.list.blockSignals(False)
        self._mark_current()

    def _on_search_changed(self, text: str) -> None:
        self._search_timer.start()
        if not text.strip():
            self.search_cleared.emit()

    def _hits(self) -> list[QListWidgetItem]:
        """The rows that open something (not "No messages match")."""
        items = [self.list.item(row) for row in range(self.list.count())]
        return [item for item in items if item.data(ID_ROLE) is not None]

    def _enter_list(self) -> None:
        """Down in the search box: into the list, on the first hit (or the open conversation)."""
        if self._search_timer.isActive():
            self._search_timer.stop()
            self.refresh()  # the hits for what is typed now
        if not self._hits():
            return
        self.list.setFocus(Qt.FocusReason.TabFocusReason)
        if self.searching:  # (the conversations' highlight stays on the open one)
            self.list.setCurrentRow(0)

    def _open_first_hit(self) -> None:
        """Enter in the search box opens the first hit, as Enter on it would."""
        if not self.searching:
            return
        if self._search_timer.isActive():
            self._search_timer.stop()
            self.refresh()
        hits = self._hits()
        if hits:
            self.list.setCurrentItem(hits[0])
            self._open(hits[0])

    def _mark_current(self) -> None:
        if self.searching:
            return
        current = self._controller.conversation_id
        for row in range(self.list.count()):
            item = self.list.item(row)
            if item.data(ID_ROLE) == current:
                self.list.setCurrentItem(item)
                return
        self.list.setCurrentRow(-1)  # a new, unsaved conversation: nothing listed is open

    def item_for(self, conversation_id: int) -> QListWidgetItem | None:
        for row in range(self.list.count()):
            if self.list.item(row).data(ID_ROLE) == conversation_id:
                return self.list.item(row)
        return None

    def _on_current_changed(self, item: QListWidgetItem | None, _previous=None) -> None:
        """The user moved the highlight (the list's own changes block signals or mark the open
        one): open what it reached, as a click would. Search hits wait for Enter or a click."""
        if item is not None and not self.searching:
            self._open(item)

    def _open(self, item: QListWidgetItem) -> None:
        conversation_id = item.data(ID_ROLE)
        if conversation_id is None:
            return
        message_id = item.data(MESSAGE_ROLE)
        if message_id is None:
            if conversation_id != self._controller.conversation_id and not self._controller.open_conversation(
                conversation_id
            ):  # the open one stays open: the highlight goes back to it once the list's own move is done
                QTimer.singleShot(0, self, self._mark_current)
            return
        index = self._controller.show_message(conversation_id, message_id)
        if index is not None:
            self.message_opened.emit(index, self.search_box.text())

    def _start_rename(self, item: QListWidgetItem) -> None:
        if not self.searching and item.data(ID_ROLE) is not None:
            self.list.editItem(item)

    def _renamed(self, item: QListWidgetItem) -> None:
        title = item.text().strip()
        if title:
            self._controller.rename_conversation(item.data(ID_ROLE), title)
        else:
            self.refresh()  # an empty title is not a rename: show the old one again

    def delete(self, item: QListWidgetItem) -> None:
        if item.data(ID_ROLE) is None:
            return  # "No messages match"
        if confirm_delete(self, item.text()):
            self._controller.delete_conversation(item.data(ID_ROLE))

    def _context_menu(self, pos) -> None:
        item = self.list.itemAt(pos)
        if item is None or item.data(ID_ROLE) is None:
            return
        menu = QMenu(self)
        if not self.searching:
            menu.addAction("Rename", lambda: self.list.editItem(item))
        menu.addAction("Delete…", lambda: self.delete(item))
        menu.exec(self.list.viewport().mapToGlobal(pos))
        menu.deleteLater()
        # the right-click made the item current; the highlight belongs to the open conversation
        if self.list.state() != QListWidget.State.EditingState:
            self._mark_current()
