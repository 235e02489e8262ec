"""Editing a user message in place: the text in a box, Save & Resend or Cancel."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QPlainTextEdit, QPushButton, QVBoxLayout, QWidget


class MessageEditor(QWidget):
    """Ctrl+Enter (or the button) resends; Esc (or Cancel) leaves the message as it was."""

    submitted = Signal(str)
    cancelled = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.box = QPlainTextEdit()
        self.box.setAccessibleName("Edit message")
        self.box.setMinimumHeight(60)
        self.box.setMaximumHeight(140)
        self.resend_button = QPushButton("Save && Resend")
        self.resend_button.setDefault(True)
        self.resend_button.setToolTip("Ask again with the edited message; the old version stays (Ctrl+Enter)")
        cancel = QPushButton("Cancel")
        self.resend_button.clicked.connect(self._submit)
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
        if watched is self.box and event.type() == event.Type.KeyPress:
            if event.key() == Qt.Key.Key_Escape:
                self.cancelled.emit()
                return True
            if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and (
                event.modifiers() & Qt.KeyboardModifier.ControlModifier
            ):
                self._submit()
                return True
        return super().eventFilter(watched, event)

    def _submit(self) -> None:
        if self.box.toPlainText().strip():
            self.submitted.emit(self.box.toPlainText())
