"""One message in the transcript: who said it, the text, and for replies a status line and Copy."""

from __future__ import annotations

import math

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QMenu, QToolButton, QVBoxLayout

from app.conversation import ChatMessage
from ui.token_text import TokenText

FINISH_TEXT = {
    "eos": "",
    "stop": "stopped at a stop string",
    "length": "stopped at the token limit",
    "cancelled": "stopped",
}


class MessageView(QFrame):
    token_clicked = Signal(int)  # token index

    def __init__(self, message: ChatMessage, tint: bool, parent=None):
        super().__init__(parent)
        self.message = message
        self.setObjectName("assistantMessage" if message.role == "assistant" else "userMessage")
        self.setFrameShape(QFrame.Shape.NoFrame)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 10, 14, 10)
        layout.setSpacing(4)

        header = QHBoxLayout()
        header.setSpacing(8)
        self.role_label = QLabel("Assistant" if message.role == "assistant" else "You")
        self.role_label.setObjectName("roleLabel")
        self.meta_label = QLabel("")
        self.meta_label.setObjectName("metaLabel")
        self.copy_button = QToolButton()
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Copy this message as Markdown")
        self.copy_button.setAutoRaise(True)
        self.copy_button.clicked.connect(self.copy_text)
        header.addWidget(self.role_label)
        header.addWidget(self.meta_label, 1)
        header.addWidget(self.copy_button)
        layout.addLayout(header)

        self.text = TokenText(markdown=message.role == "assistant")
        self.text.token_clicked.connect(self.token_clicked)
        self.text.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.text.customContextMenuRequested.connect(self._context_menu)
        layout.addWidget(self.text)

        self.error_label = QLabel()
        self.error_label.setObjectName("errorLabel")
        self.error_label.setWordWrap(True)
        self.error_label.hide()
        layout.addWidget(self.error_label)
        self._tint = tint
        self.refresh()

    def refresh(self) -> None:
        """Re-render from the message (new tokens, finish, error)."""
        m = self.message
        self.text.set_content(m.text, m.tokens, self._tint)
        self.text.setVisible(bool(m.text) or m.role == "user")
        self.copy_button.setEnabled(bool(m.text))
        self.meta_label.setText(self._meta())
        if m.error:
            self.error_label.setText(m.error)
            self.error_label.show()

    def show_prefill(self, done: int, total: int) -> None:
        if not self.message.tokens:
            self.meta_label.setText(f"reading the prompt… {done}/{total} tokens")

    def set_tint(self, tint: bool) -> None:
        self._tint = tint
        self.text.set_tint(tint)

    def copy_text(self) -> None:
        QGuiApplication.clipboard().setText(self.message.text)

    def _meta(self) -> str:
        m = self.message
        if m.role != "assistant":
            return ""
        if m.streaming:
            return "thinking…" if not m.tokens else f"{len(m.tokens)} tokens…"
        if m.error:
            return "failed"
        parts = [f"{m.stats.get('generated_tokens', len(m.tokens))} tokens"]
        tps = m.stats.get("tokens_per_s")
        if isinstance(tps, float) and not math.isnan(tps):
            parts.append(f"{tps:.1f} tok/s")
        reason = FINISH_TEXT.get(m.finish_reason or "", m.finish_reason or "")
        if reason:
            parts.append(reason)
        return " · ".join(parts)

    def build_context_menu(self, pos) -> QMenu:
        """The text's standard menu plus Copy Code Block (inside code) and Copy Message."""
        menu = self.text.createStandardContextMenu(pos)
        code = self.text.code_block_at(pos)
        if code is not None:
            action = menu.addAction("Copy Code Block")
            action.triggered.connect(lambda: QGuiApplication.clipboard().setText(code))
        menu.addAction("Copy Message", self.copy_text)
        return menu

    def _context_menu(self, pos) -> None:
        menu = self.build_context_menu(pos)
        menu.exec(self.text.viewport().mapToGlobal(pos))
        menu.deleteLater()
