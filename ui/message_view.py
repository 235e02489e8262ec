"""One message in the transcript: who said it, the text, and its actions.

Replies show a status line, the memories their request carried ("used 2 memories") and how much
earlier history was left out to fit the context; user messages can be edited and resent; a message
with alternatives (edited, regenerated) shows "‹ 1/2 ›" to switch between them. The view only
emits what the user asked for; the transcript passes it on to the controller.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFrame,
    QGraphicsOpacityEffect,
    QHBoxLayout,
    QLabel,
    QMenu,
    QToolButton,
    QVBoxLayout,
)

from app.controller import CONTINUABLE
from app.conversation import ChatMessage
from app.finish_words import finish_text
from app.thinking import thinking_part
from app.wording import counted
from ui.attachment_chips import AttachmentChips
from ui.memories_popup import MemoriesPopup
from ui.message_editor import MessageEditor
from ui.token_text import TokenText
from ui.wrap_label import WrapLabel

LEFT_OUT_TEXT = "Left out: outside the model's context window, the latest reply did not see this message."


def memories_text(count: int) -> str:
    return f"used {count} {'memory' if count == 1 else 'memories'}"


def dropped_text(count: int) -> str:
    noun = "message is" if count == 1 else "messages are"
    return f"{count} earlier {noun} outside the model's context window: it did not see {'it' if count == 1 else 'them'}."


class MessageView(QFrame):
    token_clicked = Signal(int)  # token index
    edit_submitted = Signal(str)  # the edited text of this user message
    branch_step = Signal(int)  # -1: previous alternative, +1: next
    regenerate_requested = Signal()
    continue_requested = Signal()
    remember_requested = Signal(str)  # the selection, or the whole message
    inspect_requested = Signal(int)  # token index
    inspect_message_requested = Signal(int)  # character index in a user message's text
    character_clicked = Signal(int)  # a click in a user message's text: the character's index
    copied = Signal(str)  # what was put on the clipboard

    def __init__(self, message: ChatMessage, tint: bool, tint_code: bool = False, parent=None, completion: bool = False):
        """completion: shown in the completion view (the user's text and the model's continuation of
        it, both as plain text: the continuation is not a reply, so never read as Markdown)."""
        super().__init__(parent)
        self.message = message
        self.completion = completion
        self.setObjectName("assistantMessage" if message.role == "assistant" else "userMessage")
        self.setFrameShape(QFrame.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(4)

        header = QHBoxLayout()
        header.setSpacing(8)
        who = ("Continuation", "Your text") if completion else ("Assistant", "You")
        self.role_label = QLabel(who[0] if message.role == "assistant" else who[1])
        self.role_label.setObjectName("roleLabel")
        self.meta_label = QLabel("")
        self.meta_label.setObjectName("metaLabel")
        self.meta_label.setWordWrap(True)  # "… · stopped: the context window is full" wraps, never cut
        self.copy_button = QToolButton()
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Copy this message as Markdown")
        self.copy_button.setAutoRaise(True)
        self.copy_button.clicked.connect(self.copy_text)
        self.memories_chip = self._button("", "The memories this reply's request carried", self.show_memories)
        self.memories_chip.setObjectName("memoriesChip")
        self.previous_button = self._button("‹", "Previous version", lambda: self.branch_step.emit(-1))
        self.branch_label = QLabel()
        self.branch_label.setObjectName("metaLabel")
        self.next_button = self._button("›", "Next version", lambda: self.branch_step.emit(1))
        self.edit_button = self._button("Edit", "Edit this message and ask again", self.start_editing)
        self.regenerate_button = self._button(
            "Regenerate", "Write this reply again (this one is kept)", self.regenerate_requested.emit
        )
        self.continue_button = self._button(
            "Continue", "Let the model go on writing this reply where it stopped (at most Max new tokens more, "
            "as set in Preferences)", self.continue_requested.emit
        )
        self.continue_button.hide()
        self._last = False
        self._actions = (self.previous_button, self.branch_label, self.next_button, self.edit_button,
                         self.continue_button, self.regenerate_button, self.copy_button)  # fmt: skip
        self._rows = [header, QHBoxLayout(), QHBoxLayout()]
        self._arrangement: tuple = ()
        for row in self._rows:
            row.setSpacing(8)
            layout.addLayout(row)
        self._arrange()
        self.edit_button.setVisible(message.role == "user" and message.id is not None)
        self.regenerate_button.hide()
        self.editor: MessageEditor | None = None

        self.notice_label = QLabel()
        self.notice_label.setObjectName("contextNotice")
        self.notice_label.setWordWrap(True)
        self.notice_label.hide()
        layout.addWidget(self.notice_label)
        self.left_out_label = QLabel(LEFT_OUT_TEXT)
        self.left_out_label.setObjectName("leftOutNotice")
        self.left_out_label.setWordWrap(True)
        self.left_out_label.hide()
        layout.addWidget(self.left_out_label)
        self.left_out = False

        # A reasoning model's <think>…</think> opening, folded under "Thinking" (app/thinking.py):
        # its tokens as written, plain text; open while the model thinks, folded once it has done
        self.thinking_button = QToolButton()
        self.thinking_button.setObjectName("thinkingToggle")
        self.thinking_button.setCheckable(True)
        self.thinking_button.setAutoRaise(True)
        self.thinking_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.thinking_button.toggled.connect(self._thinking_toggled)
        self.thinking_button.hide()
        self.thinking = TokenText(markdown=False)
        self.thinking.setAccessibleName("Thinking")
        self.thinking.token_clicked.connect(self.token_clicked)
        self.thinking.hide()
        self._thinking_tokens = 0  # the first tokens of the reply that the Thinking section shows
        self._thinking_folded_by_user: bool | None = None  # the user's choice, once they click
        layout.addWidget(self.thinking_button)
        layout.addWidget(self.thinking)
        self.text = TokenText(markdown=message.role == "assistant" and not completion)
        self.text.token_clicked.connect(lambda index: self.token_clicked.emit(index + self._thinking_tokens))
        self.text.character_clicked.connect(self.character_clicked)
        self.text.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.text.customContextMenuRequested.connect(self._context_menu)
        layout.addWidget(self.text)
        self.attachments = AttachmentChips(removable=False)  # files attached to a user message: a part of their own
        self.attachments.set_attachments(message.attachments)
        layout.addWidget(self.attachments)
        footer = QHBoxLayout()
        footer.addWidget(self.memories_chip)
        footer.addStretch(1)
        layout.addLayout(footer)

        self.error_label = WrapLabel()  # an error quotes paths and module names: long words break
        self.error_label.setObjectName("errorLabel")
        self.error_label.hide()
        layout.addWidget(self.error_label)
        for label in (self.role_label, self.meta_label, self.branch_label, self.notice_label, self.error_label,
                      self.left_out_label):  # fmt: skip
            label.setTextFormat(Qt.TextFormat.PlainText)  # errors and notices quote text as it is
        self._tint, self._tint_code = tint, tint_code
        self.refresh()

    # -- the header in the width there is -------------------------------------------------

    def _arrange(self) -> None:
        """The header on one row when it fits: who, the reply's numbers, the actions. Narrower,
        the numbers go on a row of their own; narrower still, the actions go on rows of their own
        below (the versions ‹ 1/2 › stay beside who wrote it), as many as they need at a large text
        size, so no button is cut ("Rege…rate" at 270 %)."""
        margins = self.layout().contentsMargins()
        width = self.width() - margins.left() - margins.right()
        spacing = self._rows[0].spacing()
        actions = [w for w in self._actions if w.isVisibleTo(self)]
        actions_px = sum(w.sizeHint().width() + spacing for w in actions)
        meta = self.meta_label.text()
        meta_px = self.meta_label.fontMetrics().horizontalAdvance(meta) + spacing + 4 if meta else 0
        role_px = self.role_label.sizeHint().width()
        if role_px + meta_px + actions_px <= width:
            arrangement = ("one row",)
        elif role_px + actions_px + spacing <= width:
            arrangement = ("numbers below",)
        else:
            others = [w for w in self._actions[3:] if w.isVisibleTo(self)]
            arrangement = ("actions below", *self._packed(others, width, spacing))
        if arrangement == self._arrangement:
            return
        self._arrangement = arrangement
        header, second = self._rows[:2]
        for row in self._rows:
            while row.count():
                row.takeAt(0)  # widgets stay; only their places are redone
        header.addWidget(self.role_label)
        branch, others = self._actions[:3], self._actions[3:]
        if arrangement[0] == "one row":
            header.addWidget(self.meta_label, 1)
            for widget in self._actions:
                header.addWidget(widget)
        elif arrangement[0] == "numbers below":
            header.addStretch(1)
            for widget in self._actions:
                header.addWidget(widget)
            second.addWidget(self.meta_label, 1)
        else:  # versions beside who wrote it, the numbers, then the other actions on rows of their own
            header.addStretch(1)
            for widget in branch:
                header.addWidget(widget)
            second.addWidget(self.meta_label, 1)
            counts, k = arrangement[1:], 0
            left, row = counts[0], self._row(2)
            row.addStretch(1)
            for widget in others:  # a hidden one goes with the row before it: it takes no room
                if widget.isVisibleTo(self):
                    if left == 0 and k + 1 < len(counts):
                        k += 1
                        left, row = counts[k], self._row(2 + k)
                        row.addStretch(1)
                    left -= 1
                row.addWidget(widget)

    @staticmethod
    def _packed(widgets: list, width: int, spacing: int) -> list[int]:
        """How many of `widgets` go on each row `width` px wide (at least one a row)."""
        rows, used = [], width + 1
        for widget in widgets:
            need = widget.sizeHint().width() + spacing
            if used + need > width:
                rows.append(0)
                used = 0
            rows[-1] += 1
            used += need
        return rows or [0]

    def _row(self, index: int) -> QHBoxLayout:
        """The header's row `index` (0: who wrote it), added under the others when there is none yet."""
        while len(self._rows) <= index:
            row = QHBoxLayout()
            row.setSpacing(self._rows[0].spacing())
            self.layout().insertLayout(self.layout().indexOf(self._rows[-1]) + 1, row)
            self._rows.append(row)
        return self._rows[index]

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._arrange()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):  # zoomed: the header's widths change
            self._arrange()

    def _button(self, text: str, tip: str, slot) -> QToolButton:
        button = QToolButton()
        button.setText(text)
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.clicked.connect(slot)
        return button

    def refresh(self) -> None:
        """Re-render from the message (new tokens, finish, error)."""
        m = self.message
        opened = bool(m.asked.get("opens_thinking"))
        part = thinking_part([t.text for t in m.tokens], opened) if m.role == "assistant" and not self.completion else None
        self._thinking_tokens = part.tokens if part else 0
        if part:
            thought, rest = m.tokens[: part.tokens], m.tokens[part.tokens :]
            self.thinking.set_content("".join(t.text for t in thought), thought, self._tint, self._tint_code)
            self.text.set_content("".join(t.text for t in rest), rest, self._tint, self._tint_code,
                                  ended=not m.streaming, after_section=True)
            self._show_thinking(part.closed)
        else:
            self.text.set_content(m.text, m.tokens, self._tint, self._tint_code, ended=not m.streaming)
            self.thinking_button.hide()
            self.thinking.hide()
        answer = m.text if not part else "".join(t.text for t in m.tokens[part.tokens :])
        # a reply ended inside its first character, or with no text at all, shows that
        shown = bool(answer) or bool(self.text.unfinished) or self.text.end_marked is not None
        self.text.setVisible((shown or (m.role == "user" and (bool(m.text) or not m.attachments))) and self.editor is None)
        self.copy_button.setEnabled(bool(m.content))
        self.meta_label.setText(self._meta())
        if m.error:
            self.error_label.setText(m.error)
            self.error_label.show()
        self._show_continue()
        self.memories_chip.setText(memories_text(len(m.memories)))
        self.memories_chip.setVisible(bool(m.memories))
        position, count = m.branch
        self.branch_label.setText(f"{position}/{count}")
        for widget in (self.previous_button, self.branch_label, self.next_button):
            widget.setVisible(count > 1)
        self.previous_button.setEnabled(position > 1)
        self.next_button.setEnabled(position < count)
        dropped = m.stats.get("dropped_messages", 0)
        self.notice_label.setText(dropped_text(dropped) if dropped else "")
        self.notice_label.setVisible(bool(dropped))
        self._arrange()

    def _show_thinking(self, done: bool) -> None:
        """The Thinking section: open while the model thinks, folded once `</think>` came (unless
        the user chose otherwise)."""
        folded = self._thinking_folded_by_user if self._thinking_folded_by_user is not None else done
        self.thinking_button.show()
        self.thinking_button.blockSignals(True)
        self.thinking_button.setChecked(not folded)
        self.thinking_button.blockSignals(False)
        self._label_thinking(folded, done)
        self.thinking.setVisible(not folded)

    def _label_thinking(self, folded: bool, done: bool) -> None:
        self.thinking_button.setArrowType(Qt.ArrowType.RightArrow if folded else Qt.ArrowType.DownArrow)
        words = counted(self._thinking_tokens, "token")
        self.thinking_button.setText(f"Thinking ({words})" if done else f"Thinking… ({words})")
        self.thinking_button.setToolTip("Show the model's reasoning" if folded else "Fold the model's reasoning")

    def _thinking_toggled(self, shown: bool) -> None:
        self._thinking_folded_by_user = not shown
        self.thinking.setVisible(shown)
        done = thinking_part([t.text for t in self.message.tokens], bool(self.message.asked.get("opens_thinking")))
        self._label_thinking(not shown, bool(done and done.closed))

    def select_token(self, index: int | None) -> None:
        """Highlight one of the message's tokens (None: none), in the Thinking section or the text."""
        inside = index is not None and index < self._thinking_tokens
        self.thinking.select_token(index if inside else None)
        self.text.select_token(None if index is None or inside else index - self._thinking_tokens)

    def set_left_out(self, left_out: bool) -> None:
        """Mark a message the model did not see for the latest reply (dimmed, with a line saying so)."""
        if left_out == self.left_out:
            return
        self.left_out = left_out
        self.left_out_label.setVisible(left_out)
        self.setProperty("leftOut", left_out)
        self.style().unpolish(self)
        self.style().polish(self)
        if left_out:
            effect = QGraphicsOpacityEffect(self.text)
            effect.setOpacity(0.55)
            self.text.setGraphicsEffect(effect)
        else:
            self.text.setGraphicsEffect(None)

    def set_last_reply(self, last: bool) -> None:
        """Only the newest reply offers Regenerate (and Continue, when it stopped early); a saved
        message of the user's that ends the conversation (an imported chat) offers Reply."""
        self._last = last
        if self.message.role == "user":
            self.regenerate_button.setText("Reply")
            self.regenerate_button.setToolTip("Ask the model to answer this message")
        self.regenerate_button.setVisible(last and (self.message.role == "assistant" or self.message.id is not None))
        self._show_continue()
        self._arrange()

    def _show_continue(self) -> None:
        m = self.message
        self.continue_button.setVisible(
            self._last and m.role == "assistant" and m.finish_reason in CONTINUABLE and m.error is None and bool(m.tokens)
        )

    def set_actions_enabled(self, enabled: bool) -> None:
        """Edit, Regenerate and switching versions wait while a reply is being written."""
        for widget in (self.edit_button, self.regenerate_button, self.continue_button, self.previous_button,
                       self.next_button):
            widget.setEnabled(enabled)
        if enabled:
            position, count = self.message.branch
            self.previous_button.setEnabled(position > 1)
            self.next_button.setEnabled(position < count)

    def start_editing(self) -> None:
        if self.editor is None:
            self.editor = MessageEditor()
            self.editor.submitted.connect(self.edit_submitted)
            self.editor.cancelled.connect(self.stop_editing)
            self.layout().insertWidget(self.layout().indexOf(self.text), self.editor)
        self.text.hide()
        self.edit_button.hide()
        self._arrange()
        self.editor.start(self.message.text)

    def stop_editing(self) -> None:
        if self.editor is not None:
            self.editor.deleteLater()
            self.editor = None
        self.text.setVisible(bool(self.message.text) or not self.message.attachments)
        self.edit_button.show()
        self._arrange()

    def show_memories(self) -> MemoriesPopup:
        """The memories this reply's request carried, as a readable list under the chip."""
        popup = MemoriesPopup(self.message.memories, self)
        popup.show_at(self.memories_chip.mapToGlobal(self.memories_chip.rect().bottomLeft()))
        return popup

    def show_prefill(self, done: int, total: int) -> None:
        if not self.message.tokens:
            self.meta_label.setText(f"reading the prompt… {done:,}/{counted(total, 'token')}")

    def set_tint(self, tint: bool, tint_code: bool = False) -> None:
        self._tint, self._tint_code = tint, tint_code
        self.text.set_tint(tint, tint_code)
        self.thinking.set_tint(tint, tint_code)

    def copy_text(self) -> None:
        """The message to the clipboard: a reply's text, or what the user sent (the typed text and
        each attached file as the model read it, named)."""
        QGuiApplication.clipboard().setText(self.message.content)
        self.copied.emit(self.message.content)

    def _meta(self) -> str:
        m = self.message
        if m.role != "assistant":
            return ""
        if m.streaming:
            return "thinking…" if not m.tokens else f"{counted(len(m.tokens), 'token')}…"
        if m.error:
            return "failed"
        if "generated_tokens" in m.stats or m.tokens or not m.text:
            parts = [counted(m.stats.get("generated_tokens", len(m.tokens)), "token")]
        else:  # its text came without tokens (an import): how many is unknown, not 0
            parts = ["no token data"]
        tps = m.stats.get("tokens_per_s")
        if isinstance(tps, float) and not math.isnan(tps):
            parts.append(f"{tps:.1f} tok/s")
        reason = finish_text(m.finish_reason, m.stats)
        if reason:
            parts.append(reason)
        return " · ".join(parts)

    def build_context_menu(self, pos) -> QMenu:
        """The text's standard menu (its link items only over a link) plus Copy Code Block (inside
        code) and Copy Message."""
        menu = self.text.createStandardContextMenu(pos)
        if not self.text.anchorAt(pos):  # Qt offers "Copy Link Location" (greyed) on plain text too
            for action in [a for a in menu.actions() if a.objectName() == "link-copy"]:
                menu.removeAction(action)
        token = self.text.token_at(pos) if self.message.role == "assistant" else None
        token = token + self._thinking_tokens if token is not None else None
        if token is not None:
            menu.addAction("Inspect", lambda: self.inspect_requested.emit(token))
        char = self.text.source_index_at(pos) if self.message.role == "user" else None
        if char is not None:
            menu.addAction("Inspect", lambda: self.inspect_message_requested.emit(char))
        code = self.text.code_block_at(pos)
        if code is not None:
            action = menu.addAction("Copy Code Block")
            action.triggered.connect(lambda: (QGuiApplication.clipboard().setText(code), self.copied.emit(code)))
        menu.addAction("Copy Message", self.copy_text)
        selection = self.text.textCursor().selectedText().replace("\u2029", "\n").strip()
        if selection or self.message.text.strip():
            label = "Remember the Selection" if selection else "Remember This"
            menu.addAction(label, lambda: self.remember_requested.emit(selection or self.message.text.strip()))
        return menu

    def _context_menu(self, pos) -> None:
        menu = self.build_context_menu(pos)
        menu.exec(self.text.viewport().mapToGlobal(pos))
        menu.deleteLater()
