"""Attached files shown as chips: "notes.txt · 1.2 KB · 312 tokens", in the composer (with × to take
the file out again) and in a sent message (click: the file's text, read-only). A chip is a part of
the message of its own, never text inside what the user typed; every name and text in it is plain
text (a file name like `<b>x</b>.md`, or a file full of template tokens, shows as written).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.attachments import Attachment, chip_text
from app.byte_sizes import format_bytes

CHIP_MAX_PX = 320  # a long file name is elided in the chip (its tooltip has it whole)


class AttachmentChip(QFrame):
    """One attached file. Clicking it opens its text (`opened`); × (when removable) takes it out."""

    opened = Signal(object)  # the Attachment
    removed = Signal(object)  # the Attachment

    def __init__(self, attachment: Attachment, removable: bool, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("attachmentChip")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFocusPolicy(Qt.FocusPolicy.TabFocus)
        self.label = QLabel()
        self.label.setObjectName("attachmentChipText")
        self.label.setTextFormat(Qt.TextFormat.PlainText)
        self.remove_button: QToolButton | None = None
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 2, 4 if removable else 8, 2)
        layout.setSpacing(4)
        layout.addWidget(self.label)
        if removable:
            self.remove_button = QToolButton()
            self.remove_button.setObjectName("attachmentRemove")
            self.remove_button.setText("×")
            self.remove_button.setAutoRaise(True)
            self.remove_button.clicked.connect(lambda: self.removed.emit(self.attachment))
            layout.addWidget(self.remove_button)
        self.setSizePolicy(QSizePolicy.Policy.Maximum, QSizePolicy.Policy.Fixed)
        self.set_attachment(attachment)

    def set_attachment(self, attachment: Attachment) -> None:
        """Show `attachment` (the same file, now with its token count)."""
        self.attachment = attachment
        words = chip_text(attachment)
        self.setAccessibleName(f"Attached file {words}")
        metrics = self.label.fontMetrics()
        self.label.setText(metrics.elidedText(words, Qt.TextElideMode.ElideMiddle, CHIP_MAX_PX))
        self.setToolTip(f"{words}\nClick to read the attached text")
        if self.remove_button is not None:
            self.remove_button.setToolTip(f"Remove {attachment.name} from the message")
            self.remove_button.setAccessibleName(f"Remove {attachment.name}")

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(event.position().toPoint()):
            self.opened.emit(self.attachment)
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event) -> None:
        if event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.opened.emit(self.attachment)
            return
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and self.remove_button is not None:
            self.removed.emit(self.attachment)
            return
        super().keyPressEvent(event)


class AttachmentChips(QWidget):
    """A row of chips (hidden when there are none). In the composer they are removable."""

    opened = Signal(object)  # an Attachment whose chip was clicked
    removed = Signal(object)  # an Attachment whose × was clicked

    def __init__(self, removable: bool, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("attachmentChips")
        self.removable = removable
        self.chips: list[AttachmentChip] = []
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self._layout.addStretch(1)
        self.opened.connect(lambda attachment: AttachmentViewer(attachment, self).open())
        self.hide()

    def set_attachments(self, attachments: Sequence[Attachment]) -> None:
        """Show these files, in order."""
        for chip in self.chips:
            self._layout.removeWidget(chip)
            chip.deleteLater()
        self.chips = []
        for attachment in attachments:
            chip = AttachmentChip(attachment, self.removable)
            chip.opened.connect(self.opened)
            chip.removed.connect(self.removed)
            self._layout.insertWidget(len(self.chips), chip)
            self.chips.append(chip)
        self.setVisible(bool(self.chips))

    def attachments(self) -> list[Attachment]:
        return [chip.attachment for chip in self.chips]


class AttachmentViewer(QDialog):
    """An attached file's text, read-only and plain (nothing in it is read as markup)."""

    def __init__(self, attachment: Attachment, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("attachmentViewer")
        self.setWindowTitle(attachment.name)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setPlainText(attachment.text)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setAccessibleName(f"Text of {attachment.name}")
        lines = attachment.text.count("\n") + (not attachment.text.endswith("\n"))
        about = QLabel(" · ".join(filter(None, [
            f"{lines:,} line{'s' if lines != 1 else ''}",
            format_bytes(attachment.size) if attachment.size else "",
            f"{attachment.tokens:,} tokens" if attachment.tokens is not None else "",
            "read-only"])))  # fmt: skip
        about.setObjectName("fieldHint")
        about.setTextFormat(Qt.TextFormat.PlainText)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.text, 1)
        layout.addWidget(about)
        layout.addWidget(buttons)
        self.resize(680, 520)
