"""The list a reply's "used N memories" chip opens: the memories its request carried, as readable
plain text (a memory is something a person wrote: never markup), in a popup that closes on a
click outside or Esc."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QFrame, QLabel, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from ui.text_format import plain_tooltip

MAX_WIDTH = 420
MAX_VISIBLE_ROWS = 8


class MemoriesPopup(QFrame):
    """A titled, read-only list of memory texts; word-wrapped, selectable for copying."""

    def __init__(self, memories: Sequence[str], parent: QWidget | None = None):
        super().__init__(parent, Qt.WindowType.Popup)
        self.setObjectName("memoriesPopup")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        count = len(memories)
        self.title = QLabel(f"{count} {'memory' if count == 1 else 'memories'} went into this reply's request:")
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.title.setObjectName("roleLabel")
        self.list = QListWidget()
        self.list.setAccessibleName("Memories used")
        self.list.setWordWrap(True)
        self.list.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.list.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        for text in memories:
            item = QListWidgetItem(text)  # item text is plain text by nature
            item.setToolTip(plain_tooltip(text))  # a tooltip that looks like HTML is read as HTML
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            self.list.addItem(item)
        hint = QLabel("Edit or delete memories in Edit → Memories… (Ctrl+Shift+M).")
        hint.setObjectName("fieldHint")
        hint.setTextFormat(Qt.TextFormat.PlainText)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.addWidget(self.title)
        layout.addWidget(self.list)
        layout.addWidget(hint)
        self.setFixedWidth(MAX_WIDTH)
        row = self.list.sizeHintForRow(0) if count else 20
        self.list.setFixedHeight(min(count, MAX_VISIBLE_ROWS) * (row + 2) + 2 * self.list.frameWidth() + 4)

    def texts(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def show_at(self, point: QPoint) -> None:
        """Show with its top-left corner at `point` (global coordinates), kept on the screen."""
        self.adjustSize()
        screen = self.screen().availableGeometry() if self.screen() else None
        if screen is not None:
            point = QPoint(min(point.x(), screen.right() - self.width()), min(point.y(), screen.bottom() - self.height()))
        self.move(point)
        self.show()
        self.list.setFocus()
