"""A row of controls that takes more lines rather than squeezing them: at a large text size, or in a
narrow Inspector, "Export JSON…" and "Follow the newest token" (or a view's fields and buttons) go
on a line each instead of being cut at the row's edge."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect, QSize, Qt
from PySide6.QtWidgets import QLayout, QLayoutItem, QSizePolicy, QWidget


class FlowRow(QLayout):
    """Lays its widgets out left to right at their size hints, starting a new line where the next
    one would pass the right edge; its height for a width is what those lines take. A widget wider
    than the whole row gets the row's width (a wrapping label then takes more lines). A widget whose
    horizontal policy expands shares what is left of its line with the others that do."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._items: list[QLayoutItem] = []

    def addItem(self, item: QLayoutItem) -> None:  # noqa: N802 (Qt's name)
        self._items.append(item)

    def count(self) -> int:
        return len(self._items)

    def itemAt(self, index: int) -> QLayoutItem | None:  # noqa: N802 (Qt's name)
        return self._items[index] if 0 <= index < len(self._items) else None

    def takeAt(self, index: int) -> QLayoutItem | None:  # noqa: N802 (Qt's name)
        return self._items.pop(index) if 0 <= index < len(self._items) else None

    def expandingDirections(self) -> Qt.Orientation:  # noqa: N802 (Qt's name)
        return Qt.Orientation(0)

    def hasHeightForWidth(self) -> bool:  # noqa: N802 (Qt's name)
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt's name)
        return self._place(QRect(0, 0, width, 0), move=False)

    def setGeometry(self, rect: QRect) -> None:  # noqa: N802 (Qt's name)
        super().setGeometry(rect)
        self._place(rect, move=True)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        """One line of every widget at its size hint."""
        shown = self._shown()
        width = sum(i.sizeHint().width() for i in shown) + self._gap() * max(0, len(shown) - 1)
        height = max((i.sizeHint().height() for i in shown), default=0)
        m = self.contentsMargins()
        return QSize(width + m.left() + m.right(), height + m.top() + m.bottom())

    def minimumSize(self) -> QSize:  # noqa: N802 (Qt's name)
        """As narrow as its narrowest-allowed widget (each then on a line of its own)."""
        shown = self._shown()
        width = max((i.minimumSize().width() for i in shown), default=0)
        m = self.contentsMargins()
        return QSize(width + m.left() + m.right(), self.heightForWidth(width + m.left() + m.right()))

    def _shown(self) -> list[QLayoutItem]:
        return [i for i in self._items if not i.isEmpty()]

    def _gap(self) -> int:
        gap = self.spacing()
        if gap >= 0:
            return gap
        parent = self.parentWidget()
        return parent.style().layoutSpacing(
            QSizePolicy.ControlType.PushButton, QSizePolicy.ControlType.PushButton, Qt.Orientation.Horizontal
        ) if parent else 6  # fmt: skip

    def _lines(self, width: int) -> list[list[tuple[QLayoutItem, int]]]:
        """The items of each line with the width each gets."""
        gap, lines, used = self._gap(), [], width + 1
        for item in self._shown():
            w = min(item.sizeHint().width(), width)
            w = max(w, min(item.minimumSize().width(), width))
            if not lines or used + gap + w > width:
                lines.append([])
                used = -gap
            lines[-1].append((item, w))
            used += gap + w
        for line in lines:  # what is left of the line goes to the widgets that expand
            grow = [k for k, (item, _) in enumerate(line) if item.expandingDirections() & Qt.Orientation.Horizontal]
            spare = width - sum(w for _, w in line) - gap * (len(line) - 1)
            for n, k in enumerate(grow):
                share = spare // len(grow) + (1 if n < spare % len(grow) else 0)
                line[k] = (line[k][0], line[k][1] + share)
        return lines

    def _place(self, rect: QRect, move: bool) -> int:
        m = self.contentsMargins()
        inner = rect.adjusted(m.left(), m.top(), -m.right(), -m.bottom())
        gap, y = self._gap(), inner.y()
        lines = self._lines(max(1, inner.width()))
        for n, line in enumerate(lines):
            heights = [item.heightForWidth(w) if item.hasHeightForWidth() else item.sizeHint().height() for item, w in line]
            height = max(heights)
            x = inner.x()
            for (item, w), _h in zip(line, heights, strict=True):
                if move:
                    item.setGeometry(QRect(QPoint(x, y), QSize(w, height)))
                x += w + gap
            y += height + (gap if n < len(lines) - 1 else 0)
        return y - rect.y() + m.bottom()
