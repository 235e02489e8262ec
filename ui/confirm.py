"""A Yes/Cancel question for destructive actions (Cancel is the default button).

The question often quotes what a person wrote (a conversation title, a memory): it is handed to Qt
as escaped rich text, so it shows exactly as written and is never read as HTML."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from ui.text_format import plain_tooltip


def confirm(parent: QWidget, title: str, text: str) -> bool:
    """True only when the user answers Yes."""
    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel
    answer = QMessageBox.question(parent, title, plain_tooltip(text), buttons, QMessageBox.StandardButton.Cancel)
    return answer == QMessageBox.StandardButton.Yes
