"""Editing a user message in place: the text in the composer's own kind of box, Save & Resend or
Cancel. Enter resends and Shift+Enter adds a line, as in the composer; Esc cancels."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QPushButton, QVBoxLayout, QWidget

from ui.composer import MessageBox


def edited_text(text: str) -> str:
    """The message as it will be resent: trailing line breaks and spaces left by editing dropped."""
    return text.rstrip()


class MessageEditor(QWidget):
    """Enter (or the button) resends; Esc (or Cancel) leaves the message as it was."""

    submitted = Signal(str)
    cancelled = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.box = MessageBox()  # same font, padding and keys as the composer
        self.box.setAccessibleName("Edit message")
        self.box.setPlaceholderText("Edit the message…  (Enter: resend · Shift+Enter: new line · Esc: cancel)")
        self.resend_button = QPushButton("Save && Resend")
        self.resend_button.setDefault(True)
        self.resend_button.setToolTip("Ask again with the edited message; the old version stays (Enter)")
        cancel = QPushButton("Cancel")
        cancel.setToolTip("Keep the message as it was (Esc)")
        self.resend_button.clicked.connect(self._submit)
        self.box.submitted.connect(self._submit)
        cancel.clicked.connect(self.cancelled)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.resend_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.box)
        layout.addLayout(buttons)
        self.box.installEventFilter(self)

    def start(self, text: str) -> None:
        self.box.setPlainText(text)
        self.show()
        self.box.setFocus()
        self.box.selectAll()

    def eventFilter(self, watched, event) -> bool:
        if watched is self.box and event.type() == event.Type.KeyPress and event.key() == Qt.Key.Key_Escape:
            self.cancelled.emit()
            return True
        return super().eventFilter(watched, event)

    def _submit(self) -> None:
        text = edited_text(self.box.toPlainText())
        if text.strip():
            self.submitted.emit(text)
