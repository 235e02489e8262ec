"""Search hits in the conversation list: a row is the conversation's title and, under it, who wrote
the message and its words around the first match, the matched words highlighted. Text is cut only
between words, with "…" where words were left out (never inside a word), and the message's text is
only ever drawn as text (format ranges over plain text, never HTML), so a message holding "<b>"
shows "<b>".

Spans are (start, length) in Python characters of the line they are given with.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QFont, QFontMetricsF, QTextCharFormat, QTextLayout, QTextOption
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from ui.text_breaks import breakable

Span = tuple[int, int]
SPANS_ROLE = Qt.ItemDataRole.UserRole + 2  # [(start, length)] of the matched words in the item's text
BEFORE_MATCH = 14  # characters of context kept before the first match (the row is narrow)
AFTER_MATCH = 160  # characters kept after it (the row shows what fits of them)
ELLIPSIS = "…"
PAD_X, PAD_Y = 8, 6  # a row's padding, as the style sheet gives a conversation's row


def _flatten(text: str, spans: list[Span]) -> tuple[str, list[Span]]:
    """`text` with each run of whitespace made one space (none at the ends); `spans` moved with it
    (a span covers words, so it starts and ends on a character that is kept)."""
    flat: list[str] = []
    where: list[int] = []  # index in `text` -> index in `flat`
    space = False
    for ch in text:
        if ch.isspace():
            space = bool(flat)
            where.append(len(flat))
            continue
        if space:
            flat.append(" ")
            space = False
        where.append(len(flat))
        flat.append(ch)
    return "".join(flat), [(where[s], where[s + n - 1] + 1 - where[s]) for s, n in spans if n > 0]


def _clip(spans: list[Span], lo: int, hi: int, shift: int) -> list[Span]:
    """The parts of `spans` inside [lo, hi), moved by `shift`."""
    return [(max(s, lo) + shift, min(s + n, hi) - max(s, lo)) for s, n in spans if s < hi and s + n > lo]


def hit_line(text: str, spans: list[Span], before: int = BEFORE_MATCH, after: int = AFTER_MATCH) -> tuple[str, list[Span]]:
    """A message as one line: from the word that starts at most `before` characters ahead of its
    first match to the last word that ends within `after` characters after it, with "…" for the
    words left out at either end; `spans` (the matches in `text`) moved with it.

    `hit_line("The capital of France is Paris.", [(25, 5)])` == ("…of France is Paris.", [(14, 5)]).
    """
    flat, spans = _flatten(text, spans)
    first = spans[0][0] if spans else 0
    first_end = spans[0][0] + spans[0][1] if spans else 0
    starts = [0] + [i + 1 for i, ch in enumerate(flat) if ch == " "]  # where words start
    own_word = max(s for s in starts if s <= first)  # the start of the word holding the match
    lo = min([s for s in starts if s >= first - before] + [own_word])
    hi = len(flat)
    if hi - first > after:
        cut = flat.rfind(" ", first_end, first + after + 1)
        hi = cut if cut != -1 else (flat.find(" ", first_end) if flat.find(" ", first_end) != -1 else hi)
    head, tail = ELLIPSIS if lo > 0 else "", ELLIPSIS if hi < len(flat) else ""
    return head + flat[lo:hi] + tail, _clip(spans, lo, hi, len(head) - lo)


def fit_words(line: str, spans: list[Span], width: float, advance: Callable[[str], float], keep: int = 0) -> tuple[str, list[Span]]:
    """`line` cut between words to fit `width` (as `advance` measures text): words before the first
    match go first (so the match shows), then words from the end; "…" marks each cut. The first
    `keep` characters (a "You: " label) always stay. A single word wider than `width` stays whole
    (the caller elides it). Returns the fitted line and `spans` moved with it."""
    if advance(line) <= width:
        return line, spans
    label, body = line[:keep], line[keep:]
    words: list[Span] = []  # (start, end) of each word of body
    start = None
    for i, ch in enumerate(body + " "):
        if ch == " " and start is not None:
            words.append((start, i))
            start = None
        elif ch != " " and start is None:
            start = i
    if not words:
        return line, spans
    own = [(s - keep, n) for s, n in spans if s >= keep]
    first = next((k for k, (a, b) in enumerate(words) if own and a <= own[0][0] < b), 0)
    match_end = own[0][0] + own[0][1] if own else words[0][1]

    def head(lo: int) -> str:
        return ELLIPSIS if lo > 0 else ""

    def tail(hi: int) -> str:
        return ELLIPSIS if hi < len(words) and not body[: words[hi - 1][1]].endswith(ELLIPSIS) else ""

    def shown(lo: int, hi: int) -> str:
        return label + head(lo) + body[words[lo][0] : words[hi - 1][1]] + tail(hi)

    lo, hi = 0, len(words)
    while lo < first and advance(label + head(lo) + body[words[lo][0] : match_end]) > width:
        lo += 1  # the match shows: words before it go first
    while advance(shown(lo, hi)) > width and (hi > first + 1 or lo < first):
        if hi > first + 1:
            hi -= 1  # then words after it
        else:
            lo += 1  # the match and its "…" alone: the last words before it go too
    return shown(lo, hi), _clip(own, words[lo][0], words[hi - 1][1], keep + len(head(lo)) - words[lo][0])


def _line_height(font: QFont) -> float:
    return QFontMetricsF(font).height()


class HitDelegate(QStyledItemDelegate):
    """Draws a row whose SPANS_ROLE is set (a search hit) as its lines of plain text, each fitted to
    the row between words, the spans in bold on the highlight colour; a hit's row is exactly as
    tall as its lines. Other rows (conversations, renaming) are drawn as usual."""

    def paint(self, painter, option, index) -> None:
        spans = index.data(SPANS_ROLE)
        if spans is None:
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
        rect = QRectF(opt.rect).adjusted(PAD_X, PAD_Y, -PAD_X, -PAD_Y)
        painter.save()
        painter.setClipRect(rect)
        painter.setPen(pen)
        for number, (line, own) in enumerate(self.lines(text, spans, rect.width(), opt.font)):
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
            row.setLineWidth(1e6)  # one line, already fitted
            layout.endLayout()
            layout.draw(painter, QPointF(rect.left(), rect.top() + number * _line_height(opt.font)))
        painter.restore()

    @staticmethod
    def lines(text: str, spans: list[Span], width: float, font: QFont) -> list[tuple[str, list[Span]]]:
        """The row's lines as drawn in `width` px: each fitted between words, with its own spans
        (the second line's "Who: " label always kept). Only a single word wider than the row is
        cut inside, and its cut is marked "…" too."""
        bold = QFont(font)
        bold.setBold(True)
        metrics = QFontMetricsF(bold)  # measured bold: the marked words are drawn bold
        fitted, offset = [], 0
        for number, line in enumerate(text.split("\n")):
            own = _clip(spans, offset, offset + len(line), -offset)
            offset += len(line) + 1
            label = line.find(": ")
            keep = label + 2 if number == 1 and label >= 0 else 0
            line, own = fit_words(line, own, width, metrics.horizontalAdvance, keep)
            if metrics.horizontalAdvance(line) > width:  # one word wider than the row: its end elided, marked
                line = metrics.elidedText(line, Qt.TextElideMode.ElideRight, width)
                own = _clip(own, 0, len(line) - 1, 0)
            fitted.append((line, own))
        return fitted

    def sizeHint(self, option, index) -> QSize:
        if index.data(SPANS_ROLE) is not None:  # exactly its lines: no gap below a hit
            size = super().sizeHint(option, index)
            lines = str(index.data(Qt.ItemDataRole.DisplayRole) or "").count("\n") + 1
            size.setHeight(round(lines * _line_height(option.font) + 2 * PAD_Y))
            return size
        return self._fitted_hint(option, index)

    def initStyleOption(self, option, index) -> None:  # noqa: N802 (Qt's name)
        """A wrapped row's words wider than its text (a title that is one long word) may break
        between any two characters: Qt wraps only between words and cuts a longer one with "…".
        The break points are invisible (U+200B) and only in what is drawn, never the row's text."""
        super().initStyleOption(option, index)
        view = option.widget
        if index.data(SPANS_ROLE) is not None or not option.text or not (
            view is not None and hasattr(view, "wordWrap") and view.wordWrap()
        ):
            return
        room = self._text_width(option, view) - 2 * (view.style().pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin) + 1)
        option.text = breakable(option.text, room, QFontMetricsF(option.font).horizontalAdvance)

    @staticmethod
    def _text_width(option, view) -> int:
        """The width of the text rectangle of a row as wide as the view (`option`: the row's)."""
        drawn = QStyleOptionViewItem(option)
        drawn.rect = QRect(0, 0, view.viewport().width(), max(option.rect.height(), 1))
        return view.style().subElementRect(QStyle.SubElement.SE_ItemViewItemText, drawn, view).width()

    def _fitted_hint(self, option, index) -> QSize:
        """A wrapped row's size for the view's width: as wide as the view, and as tall as its text
        wrapped to the width the row's text is drawn in, so a title that needs two lines gets two
        (full title) rather than one line cut with "…".

        The text is drawn in the style's text rectangle (the row less the style sheet's padding),
        while the style's own size hint wraps the text to the width of the rectangle it is given
        (both then less the same text margin). So the hint is asked for a rectangle exactly as wide
        as the text rectangle of a row the view's width: the text wraps where it will be drawn.
        (Shrinking the given width until the hint's width fit the view, as before, stopped while the
        text still sat on one line a few pixels too wide for where it is drawn: "The history of the
        bicycle began" was drawn cut at a 230 px list, trial 6 finding 15.) Both widths are asked of
        the style, never copied from the style sheet."""
        view = option.widget
        width = view.viewport().width() if view is not None and hasattr(view, "viewport") else 0
        if width <= 0 or not (view.wordWrap() if hasattr(view, "wordWrap") else False):
            return super().sizeHint(option, index)
        drawn = QStyleOptionViewItem(option)
        self.initStyleOption(drawn, index)
        text_width = self._text_width(drawn, view)
        asked = QStyleOptionViewItem(option)
        asked.rect = QRect(0, 0, max(text_width, 1), max(option.rect.height(), 1))
        return QSize(width, super().sizeHint(asked, index).height())
