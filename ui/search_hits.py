"""Search hits in the conversation list: the snippet starts near the match and the matched words are
highlighted. The message's text is only ever drawn as text (format ranges over plain text, never
HTML), so a message holding "<b>" shows "<b>"."""

from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QFont, QFontMetrics, QTextCharFormat, QTextLayout, QTextOption
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

SPANS_ROLE = Qt.ItemDataRole.UserRole + 2  # [(start, length)] of the matched words in the item's text
BEFORE_MATCH = 14  # characters of context kept before the first match (the row is narrow)
MARKS = ("\x02", "\x03")  # what the store wraps matched words in (never in a message: control characters)


def hit_line(snippet: str, before: int = BEFORE_MATCH, marks: tuple[str, str] = MARKS) -> tuple[str, list[tuple[int, int]]]:
    """The snippet as one line of plain text that shows the first match within `before`
    characters of its start, and the (start, length) of each matched word in it.

    `hit_line("… The capital of France is \\x02Paris\\x03 …")` == ("…of France is Paris …", [(14, 5)]).
    """
    text, spans, start = "", [], None
    for ch in " ".join(snippet.split()):
        if ch == marks[0]:
            start = len(text)
        elif ch == marks[1] and start is not None:
            spans.append((start, len(text) - start))
            start = None
        else:
            text += ch
    if spans and spans[0][0] > before:
        cut = spans[0][0] - before
        space = text.find(" ", cut, spans[0][0])
        cut = space + 1 if space != -1 else cut  # at a word's start where there is one
        text = "…" + text[cut:]
        spans = [(s - cut + 1, n) for s, n in spans]
    return text, spans


def fit_match(line: str, spans: list[tuple[int, int]], width: int, metrics: QFontMetrics) -> tuple[str, list[tuple[int, int]]]:
    """`line` with words before its first match replaced by "…" until the match fits in `width`
    pixels (a "Who: " label at its start stays); `spans` moved with the text."""
    if not spans:
        return line, spans
    start, length = spans[0]
    end = start + length
    if metrics.horizontalAdvance(line[:end]) <= width:
        return line, spans
    label = line.find(": ")
    keep = label + 2 if 0 <= label < start else 0
    cut = keep
    while cut < start and metrics.horizontalAdvance(line[:keep] + "…" + line[cut:end]) > width:
        cut += 1
    shift = cut - keep - 1  # characters dropped, less the "…" put in their place
    return line[:keep] + "…" + line[cut:], [(s - shift, n) for s, n in spans]


class HitDelegate(QStyledItemDelegate):
    """Draws a row whose SPANS_ROLE is set as its lines of plain text with those ranges in bold on
    the highlight colour; other rows (conversations, renaming) are drawn as usual."""

    def paint(self, painter, option, index) -> None:
        spans = index.data(SPANS_ROLE)
        if not spans:
            super().paint(painter, option, index)
            return
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")  # opt.text has U+2028 for "\n"
        opt.text = ""
        style = opt.widget.style() if opt.widget else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        selected = bool(opt.state & QStyle.StateFlag.State_Selected)
        pen = opt.palette.color(opt.palette.ColorRole.HighlightedText if selected else opt.palette.ColorRole.Text)
        mark = QTextCharFormat()
        mark.setFontWeight(QFont.Weight.Bold)
        if not selected:
            shade = opt.palette.color(opt.palette.ColorRole.Highlight)
            shade.setAlpha(60)
            mark.setBackground(shade)
        rect = QRectF(opt.rect).adjusted(6, 3, -6, -3)
        painter.save()
        painter.setClipRect(rect)
        painter.setPen(pen)
        bold = QFont(opt.font)
        bold.setBold(True)
        metrics = QFontMetrics(bold)  # measured bold: the marked words are drawn bold
        y, offset = rect.top(), 0
        for line in text.split("\n"):
            own = [(max(start, offset) - offset, min(start + length, offset + len(line)) - max(start, offset))
                   for start, length in spans if start < offset + len(line) and start + length > offset]
            offset += len(line) + 1
            line, own = fit_match(line, own, int(rect.width()), metrics)
            layout = QTextLayout(line, opt.font)
            layout.setTextOption(QTextOption(Qt.AlignmentFlag.AlignLeft))
            ranges = []
            for start, length in own:
                r = QTextLayout.FormatRange()
                r.start, r.length, r.format = start, length, mark
                ranges.append(r)
            layout.setFormats(ranges)
            layout.beginLayout()
            row = layout.createLine()
            row.setLineWidth(1e6)  # one line: what does not fit is clipped
            layout.endLayout()
            layout.draw(painter, QPointF(rect.left(), y))
            y += row.height()
        painter.restore()

    def sizeHint(self, option, index) -> QSize:
        size = super().sizeHint(option, index)
        if index.data(SPANS_ROLE):
            lines = str(index.data(Qt.ItemDataRole.DisplayRole) or "").count("\n") + 1
            size.setHeight(max(size.height(), lines * option.fontMetrics.lineSpacing() + 8))
        return size
