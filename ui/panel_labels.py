"""The next-token panel's labels that fit a large text size: a fact's name, which wraps between
its words rather than being cut, and the step's token, drawn large, cut with "…" (the whole in its
tooltip) only where one of its words is wider than the panel."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtWidgets import QLabel

from ui.fonts import fixed_font
from ui.text_format import plain_tooltip


class PieceLabel(QLabel):
    """The step's token, large: wrapped between its words in a narrow panel; a word wider than the
    panel (a long token at a large text size) is cut with "…", and the tooltip then starts with
    the whole token."""

    def __init__(self):
        super().__init__()
        self.whole, self._tip = "", ""
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setObjectName("pieceLabel")
        self.setFont(fixed_font())
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setWordWrap(True)
        # no indent: with the style sheet's padding Qt indents the text by half an "x" (19 px at
        # 270 %), which the elided text's width does not count, and "␣Plea…" ran past the panel
        self.setIndent(0)

    def set_piece(self, text: str, tip: str) -> None:
        """Show `text` (a token as `visible_piece` reads it), `tip` (plain text) its tooltip."""
        self.whole, self._tip = text, tip
        self._fit()

    def _fit(self) -> None:
        room, metrics = self.contentsRect().width(), self.fontMetrics()
        cut = room > 0 and any(metrics.horizontalAdvance(word) > room for word in self.whole.split())
        self.setText(metrics.elidedText(self.whole, Qt.TextElideMode.ElideRight, room) if cut else self.whole)
        self.setToolTip(plain_tooltip(f"{self.whole}\n\n{self._tip}" if cut else self._tip))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._fit()


class FactName(QLabel):
    """A fact's name: on one line where the panel has room, else wrapped between its words (a
    large text size), never cut: its least width is its longest word."""

    def __init__(self, text: str, tip: str):
        super().__init__(text)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setObjectName("factName")
        self.setToolTip(tip)
        self.setWordWrap(True)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        width = self.fontMetrics().horizontalAdvance(self.text()) + 2 * self.margin() + 2
        return QSize(width, self.heightForWidth(width))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        width = max(self.fontMetrics().horizontalAdvance(word) for word in self.text().split()) + 2 * self.margin() + 2
        return QSize(width, self.heightForWidth(width))
