"""The text of one message: Markdown rendered, every generated token findable, tinted and clickable.

The document is rebuilt from the message source whenever tokens arrive (a reply is at most a few
thousand characters, and batches come at most ~25 times a second). `markdown_align.align` maps
source characters to document positions, which gives each document position its token.
"""

from __future__ import annotations

import html
import math

from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QColor, QFontDatabase, QTextCharFormat, QTextCursor, QTextFormat
from PySide6.QtWidgets import QFrame, QSizePolicy, QTextBrowser, QTextEdit, QToolTip

from engine.events import TokenEvent
from ui.markdown_align import align
from ui.text_format import percent_html, visible_piece
from ui.theme import tint_color

TOOLTIP_ALTERNATIVES = 5


class TokenText(QTextBrowser):
    """Read-only rich text that grows to fit its content (the transcript scrolls, not the message)."""

    token_clicked = Signal(int)  # token index

    def __init__(self, markdown: bool = True, parent=None):
        super().__init__(parent)
        self._markdown = markdown
        self._tokens: list[TokenEvent] = []
        self._token_at: list[int] = []  # document position -> token index, -1 for none
        self._token_span: dict[int, tuple[int, int]] = {}  # token index -> (first, last+1) position
        self._rendered = ""
        self._tint = True
        self._selected: int | None = None
        self._press_pos: QPoint | None = None
        self.setOpenExternalLinks(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.viewport().setMouseTracking(True)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
            | Qt.TextInteractionFlag.LinksAccessibleByMouse
        )
        self.document().setDocumentMargin(2)
        self.document().documentLayout().documentSizeChanged.connect(lambda _size: self._fit_height())

    # -- content ---------------------------------------------------------------------------

    def set_content(self, text: str, tokens: list[TokenEvent], tint: bool) -> None:
        """Render `text`; `tokens` are the TokenEvents whose `text`s concatenate to it (or to its start)."""
        self._tokens, self._tint = tokens, tint
        doc = self.document()
        if self._markdown:
            doc.setMarkdown(text)
        else:
            doc.setPlainText(text)
        self._style_code_blocks()
        self._map_tokens(text)
        if tint:
            self._apply_tint()
        self._update_selection()
        self._fit_height()

    def set_tint(self, tint: bool) -> None:
        if tint == self._tint:
            return
        self._tint = tint
        cursor = QTextCursor(self.document())
        cursor.select(QTextCursor.SelectionType.Document)
        clear = QTextCharFormat()
        clear.setBackground(Qt.GlobalColor.transparent)
        cursor.mergeCharFormat(clear)
        if tint:
            self._apply_tint()

    def select_token(self, index: int | None) -> None:
        self._selected = index
        self._update_selection()

    def token_at(self, pos: QPoint) -> int | None:
        """The token under a viewport position, if any."""
        offset = QPointF(self.horizontalScrollBar().value(), self.verticalScrollBar().value())
        position = self.document().documentLayout().hitTest(QPointF(pos) + offset, Qt.HitTestAccuracy.ExactHit)
        if 0 <= position < len(self._token_at):
            index = self._token_at[position]
            return index if index >= 0 else None
        return None

    def token_point(self, index: int) -> QPoint | None:
        """The viewport position of the middle of a token's first character (for tests and tours)."""
        span = self._token_span.get(index)
        if span is None:
            return None
        cursor = QTextCursor(self.document())
        cursor.setPosition(span[0])
        rect = self.cursorRect(cursor)
        cursor.setPosition(span[0] + 1)
        right = self.cursorRect(cursor)
        x = (rect.left() + right.left()) // 2 if right.top() == rect.top() else rect.left() + 2
        return QPoint(x, rect.center().y())

    # -- rendering helpers -----------------------------------------------------------------

    def _map_tokens(self, text: str) -> None:
        rendered = self._rendered = self.document().toRawText()
        mapping = align(text, rendered)
        self._token_at = [-1] * (len(rendered) + 1)
        self._token_span = {}
        offset = 0
        for index, record in enumerate(self._tokens):
            end = offset + len(record.text)
            positions = [mapping[k] for k in range(offset, min(end, len(mapping))) if mapping[k] >= 0]
            for p in positions:
                self._token_at[p] = index
            if positions:
                self._token_span[index] = (positions[0], positions[-1] + 1)
            offset = end

    def _apply_tint(self) -> None:
        cursor = QTextCursor(self.document())
        cursor.beginEditBlock()
        for index, (start, end) in self._token_span.items():
            color = tint_color(self._tokens[index].logprob)
            if color is None:
                continue
            fmt = QTextCharFormat()
            fmt.setBackground(color)
            # tint the visible characters only, so words stay apart: "␣the" tints "the"
            text = self._rendered[start:end]
            first = start + len(text) - len(text.lstrip())
            last = end - (len(text) - len(text.rstrip()))
            if first >= last:
                continue
            cursor.setPosition(first)
            cursor.setPosition(last, QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(fmt)
        cursor.endEditBlock()

    def _style_code_blocks(self) -> None:
        """Code blocks and inline code in the system's fixed-width font on a subtle background."""
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        shade = QColor(self.palette().color(self.palette().ColorRole.Text))
        shade.setAlpha(18)
        block = self.document().begin()
        cursor = QTextCursor(self.document())
        while block.isValid():
            if block.blockFormat().hasProperty(QTextFormat.Property.BlockCodeFence):
                cursor.setPosition(block.position())
                fmt = block.blockFormat()
                fmt.setBackground(shade)
                fmt.setNonBreakableLines(False)  # wrap long lines: the message never scrolls sideways
                cursor.setBlockFormat(fmt)
                cursor.setPosition(block.position() + block.length() - 1, QTextCursor.MoveMode.KeepAnchor)
                char = QTextCharFormat()
                char.setFontFamilies([mono.family(), "monospace"])
                cursor.mergeCharFormat(char)
            block = block.next()

    def code_block_at(self, pos: QPoint) -> str | None:
        """The whole code block (fenced) under a viewport position, for "Copy code"."""
        position = self.cursorForPosition(pos).position()
        block = self.document().findBlock(position)
        if not block.blockFormat().hasProperty(QTextFormat.Property.BlockCodeFence):
            return None
        while block.previous().isValid() and block.previous().blockFormat().hasProperty(
            QTextFormat.Property.BlockCodeFence
        ):
            block = block.previous()
        lines = []
        while block.isValid() and block.blockFormat().hasProperty(QTextFormat.Property.BlockCodeFence):
            lines.append(block.text())
            block = block.next()
        return "\n".join(lines)

    def _update_selection(self) -> None:
        span = self._token_span.get(self._selected) if self._selected is not None else None
        if span is None:
            self.setExtraSelections([])
            return
        sel = QTextEdit.ExtraSelection()
        cursor = QTextCursor(self.document())
        cursor.setPosition(span[0])
        cursor.setPosition(span[1], QTextCursor.MoveMode.KeepAnchor)
        sel.cursor = cursor
        highlight = QColor(self.palette().color(self.palette().ColorRole.Highlight))
        highlight.setAlpha(90)
        sel.format.setBackground(highlight)
        sel.format.setUnderlineStyle(QTextCharFormat.UnderlineStyle.SingleUnderline)
        sel.format.setUnderlineColor(self.palette().color(self.palette().ColorRole.Highlight))
        self.setExtraSelections([sel])

    def _fit_height(self) -> None:
        doc = self.document()
        width = self.viewport().width()
        if width > 0 and doc.textWidth() != width:
            doc.setTextWidth(width)
        height = math.ceil(doc.size().height()) + 2 * self.frameWidth()
        if height != self.height():
            self.setFixedHeight(height)

    # -- events ----------------------------------------------------------------------------

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def wheelEvent(self, event) -> None:
        event.ignore()  # let the transcript scroll

    def mouseMoveEvent(self, event) -> None:
        super().mouseMoveEvent(event)
        index = self.token_at(event.position().toPoint())
        if index is None:
            QToolTip.hideText()
            self.viewport().setCursor(Qt.CursorShape.IBeamCursor)
            return
        self.viewport().setCursor(Qt.CursorShape.PointingHandCursor)
        QToolTip.showText(event.globalPosition().toPoint(), token_tooltip(self._tokens[index]), self.viewport())

    def mousePressEvent(self, event) -> None:
        self._press_pos = event.position().toPoint()
        super().mousePressEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        super().mouseReleaseEvent(event)
        pos = event.position().toPoint()
        dragged = self._press_pos is not None and (pos - self._press_pos).manhattanLength() > 3
        if event.button() == Qt.MouseButton.LeftButton and not dragged:
            index = self.token_at(pos)
            if index is not None:
                self.select_token(index)
                self.token_clicked.emit(index)


def token_tooltip(record: TokenEvent) -> str:
    """Rich-text tooltip: the token, its probability and id, and the top alternatives."""
    prob = percent_html(record.logprob)
    rows = []
    for token_id, piece, logprob in record.top_raw[:TOOLTIP_ALTERNATIVES]:
        mark = "▶ " if token_id == record.token else ""
        rows.append(
            f"<tr><td>{mark}<code>{html.escape(visible_piece(piece))}</code></td>"
            f"<td align='right'>&nbsp;&nbsp;{percent_html(logprob)}</td></tr>"
        )
    sampled = percent_html(record.sampled_logprob)
    return (
        f"<b><code>{html.escape(visible_piece(record.piece))}</code></b> &nbsp;{prob}"
        f"<br/><span>token id {record.token} · after settings {sampled} · "
        f"entropy {record.entropy:.2f} nats</span>"
        f"<br/><br/>Top {TOOLTIP_ALTERNATIVES} alternatives:<table>{''.join(rows)}</table>"
        "<br/><i>Click to inspect this step</i>"
    )
