"""The context as text, each token's background as dark as the attention it gets.

Painted directly (one run of text per token, wrapped to the width) rather than through a rich-text
document: laying out 600 tokens of HTML took ~100 ms of the window's time on each followed token;
this takes a few. Text is drawn as text, never parsed.
"""

from __future__ import annotations

from typing import NamedTuple

from PySide6.QtCore import QCoreApplication, QEvent, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QScrollArea, QSizePolicy, QToolTip, QWidget

TINT = QColor(30, 90, 255)
PAD = 4


class TintedToken(NamedTuple):
    """One token: its text, its shade (0..1: its weight relative to the largest shown), whether the
    layer cannot see it, whether it is the token doing the reading; `position` in the context and
    `weight` for the tooltip. (A tuple: a thousand are made per followed token.)"""

    text: str
    shade: float
    hidden: bool
    selected: bool
    position: int
    weight: float


class TintedText(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.tokens: list[TintedToken] = []
        self._boxes: list[tuple[QRectF, str, int]] = []  # (rect, text run, token index)
        self._laid_width = -1
        self._height = 0
        self._layouts: dict[int, tuple[list, int]] = {}  # width -> (boxes, height) for these tokens
        self._advance: dict[str, int] = {}  # run -> its width in the font (kept across tokens and reports)
        self.setMouseTracking(True)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)  # the scroll area holding it asks heightForWidth only then
        self.setSizePolicy(policy)

    def set_tokens(self, tokens: list[TintedToken]) -> None:
        self.tokens = tokens
        self._laid_width = -1
        self._layouts = {}
        self._layout(self.width())
        self.updateGeometry()
        self.update()

    def plain_text(self) -> str:
        return "".join(t.text for t in self.tokens)

    def _layout(self, width: int) -> int:
        """Place every token's runs (a newline ends a run and the line); returns the height. Laid out
        once per width and set of tokens."""
        width = max(width, 100)
        if width == self._laid_width:
            return self._height
        if width in self._layouts:  # the scroll area asks for a few widths in turn
            (self._boxes, self._height), self._laid_width = self._layouts[width], width
            return self._height
        fm = self.fontMetrics()
        advance = self._advance
        line_h = fm.height() + 2
        x, y, boxes = PAD, PAD, []
        for index, token in enumerate(self.tokens):
            runs = (token.text or "∅").split("\n")
            for n, run in enumerate(runs):
                shown = run + ("↵" if n < len(runs) - 1 else "")
                w = advance.get(shown)
                if w is None:
                    w = advance[shown] = fm.horizontalAdvance(shown)
                if x + w > width - PAD and x > PAD:
                    x, y = PAD, y + line_h
                if shown:
                    boxes.append((QRectF(x, y, w, line_h), shown, index))
                x += w
                if n < len(runs) - 1:
                    x, y = PAD, y + line_h
        self._boxes, self._laid_width, self._height = boxes, width, y + line_h + PAD
        self._layouts[width] = (boxes, self._height)
        return self._height

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):  # a zoom: every run's width and line height change
            self._advance, self._layouts, self._laid_width = {}, {}, -1
            self._layout(self.width())
            self._height_changed()
            self.update()

    def heightForWidth(self, width: int) -> int:
        return self._layout(width)

    def hasHeightForWidth(self) -> bool:
        return True

    def sizeHint(self) -> QSize:
        return QSize(400, self._layout(self.width()) if self.width() > 0 else 200)

    def resizeEvent(self, event) -> None:
        if max(event.size().width(), 100) != self._laid_width:
            self._layout(event.size().width())
            self._height_changed()
        super().resizeEvent(event)

    def _height_changed(self) -> None:
        """Its height for its width changed (a new width, a zoom): the scroll area holding it sizes
        it again (updateGeometry alone reaches only the area's viewport, and the last lines were
        left below the widget's old height at 200 %)."""
        self.updateGeometry()
        viewport = self.parentWidget()
        area = viewport.parentWidget() if viewport is not None else None
        if isinstance(area, QScrollArea) and self.height() < self._height:
            QCoreApplication.postEvent(area, QEvent(QEvent.Type.LayoutRequest))

    def paintEvent(self, event) -> None:
        self._layout(self.width())
        p = QPainter(self)
        text_color = self.palette().color(self.palette().ColorRole.Text)
        plain, bold, struck = QFont(self.font()), QFont(self.font()), QFont(self.font())
        bold.setBold(True)
        struck.setStrikeOut(True)
        visible = event.rect()
        for rect, run, index in self._boxes:
            if not rect.intersects(QRectF(visible)):
                continue
            token = self.tokens[index]
            if token.hidden:
                p.setFont(struck)
                p.setPen(QColor(150, 150, 150))
            else:
                if token.shade > 0:
                    color = QColor(TINT)
                    color.setAlphaF(min(1.0, 0.85 * token.shade))
                    p.fillRect(rect, color)
                p.setFont(bold if token.selected else plain)
                p.setPen(text_color)
            p.drawText(rect, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, run)
            if token.selected:
                p.setPen(QColor(220, 50, 50))
                p.drawRect(rect.adjusted(0, 0, -1, -1))
        p.end()

    def mouseMoveEvent(self, event) -> None:
        point = event.position()
        for rect, _run, index in self._boxes:
            if rect.contains(point):
                t = self.tokens[index]
                tip = "out of this layer's window" if t.hidden else f"weight {t.weight:.4f}"
                QToolTip.showText(event.globalPosition().toPoint(), f"position {t.position:,}: {tip}", self)
                return
        QToolTip.hideText()
