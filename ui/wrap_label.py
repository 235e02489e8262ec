"""A plain-text label that wraps everything it holds: between words, and inside a word too long
for its width (a path, a URL, an error's module name), which a QLabel would draw past its edge or
make the window wider for. The break points are only in what is drawn (`ui.text_breaks`);
`text()` is the text given, whole."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRect, QSize, Qt
from PySide6.QtGui import QFontMetricsF
from PySide6.QtWidgets import QLabel

from ui.text_breaks import breakable

MIN_CHARACTERS = 12  # the narrowest it asks for, in average characters: any word can break


class WrapLabel(QLabel):
    """A word-wrapped, plain-text QLabel whose long words break too. Not for selectable text: a
    copy would carry the invisible break points."""

    def __init__(self, text: str = "", parent=None):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)  # what it shows is data (paths, errors), never markup
        self.setWordWrap(True)
        self._whole = ""
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name)
        self._whole = text
        self._refit()

    def text(self) -> str:
        """The text given, without the break points drawn."""
        return self._whole

    def _room(self, width: int) -> int:
        """The text's width in a label `width` px wide (its margins and indent left out)."""
        margins = self.contentsMargins()
        return width - margins.left() - margins.right() - 2 * self.margin() - max(self.indent(), 0)

    def _drawn(self, width: int) -> str:
        return breakable(self._whole, max(1, self._room(width)), QFontMetricsF(self.font()).horizontalAdvance)

    def _refit(self) -> None:
        shown = self._drawn(self.width()) if self.width() > 0 else self._whole
        if shown != super().text():
            super().setText(shown)
            self.updateGeometry()

    def heightForWidth(self, width: int) -> int:  # noqa: N802 (Qt's name)
        """The height the text takes wrapped at `width` px, long words broken."""
        room = max(1, self._room(width))
        box = self.fontMetrics().boundingRect(QRect(0, 0, room, 1 << 20), int(Qt.TextFlag.TextWordWrap), self._drawn(width))
        margins = self.contentsMargins()
        return box.height() + margins.top() + margins.bottom() + 2 * self.margin()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        """A few characters wide (any word can break), as tall as the text is at that width."""
        hint = super().minimumSizeHint()
        width = min(hint.width(), self.fontMetrics().averageCharWidth() * MIN_CHARACTERS + self.width() - self._room(self.width()))
        return QSize(width, self.heightForWidth(width))

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        hint = super().sizeHint()
        return QSize(hint.width(), self.heightForWidth(hint.width()))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._refit()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._refit()
