"""The text of one message: Markdown rendered, every generated token findable, tinted and clickable.

The document is rebuilt from the message source whenever tokens arrive, except when they only carry
on the paragraph the reply ends in (plain words and punctuation on its last line: `_appends`), which
are added to its end with the same result. `markdown_align.align` maps source characters to
document positions, which gives each document position its token.

What the reader sees holds every character the model wrote (`ui.reply_document`: raw HTML shows as
the text it is, images as their Markdown text, never loaded; single line breaks stay line breaks),
and links open only after `ui.links` has shown where they go. Document positions
are Qt's (UTF-16 units); Python offsets are converted with `utf16_offsets` wherever they meet.

A reply that ended inside a character (Stop or the token limit after some of its bytes) shows one
UNFINISHED_MARK per token of that character at its end: those tokens are hovered and clicked like
any other, though they never made text (the mark is the view's, never the reply's text). A reply
that ended without drawing anything (only its end-of-reply token, perhaps after line breaks) shows
that token by its name in brackets ("(end of reply)"), faint, so the step that ended it can be
hovered and clicked.
"""

from __future__ import annotations

import html
import math
import operator
import re

from PySide6.QtCore import QEvent, QPoint, QPointF, QRect, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QColor, QPaintEvent, QTextCharFormat, QTextCursor, QTextFormat
from PySide6.QtWidgets import QFrame, QSizePolicy, QTextBrowser, QTextEdit, QToolTip

from engine.events import TokenEvent
from ui.code_blocks import CODE_PROPERTY, HEADER_HEIGHT, CodeBlock, CodeHeader, code_shade, is_code_line
from ui.code_scroll import CodeScroll
from ui.links import open_link
from ui.markdown_align import align
from ui.markup_shown import MARKUP_ALPHA
from ui.reply_document import fit_table_columns, render_markdown, tables
from ui.text_format import percent_html, piece_bytes, utf16_offsets, visible_piece
from ui.theme import tint_color

TOOLTIP_ALTERNATIVES = 5
UNFINISHED_MARK = "\ufffd"  # a token of a character the reply ended inside of (what a decoder shows for it)
FOUND_BACKGROUND, FOUND_TEXT = QColor("#ffd54a"), QColor("#000000")  # a search match, as a browser's find marks it


class TokenText(QTextBrowser):
    """Read-only rich text that grows to fit its content (the transcript scrolls, not the message).

    Long code lines do not wrap: each code block (and a table too wide for the view) scrolls
    sideways on its own (`ui.code_scroll`), the prose keeps wrapping. Viewport points and document
    positions are converted through that block's offset everywhere (`token_at`, `cursorRect`,
    `cursorForPosition`, `anchorAt`, painting, the mouse).
    """

    token_clicked = Signal(int)  # token index
    character_clicked = Signal(int)  # source index, in text without tokens (a user's message)
    code_copied = Signal()

    def __init__(self, markdown: bool = True, parent=None):
        super().__init__(parent)
        self._markdown = markdown
        self._tokens: list[TokenEvent] = []
        self._token_at: list[int] = []  # document position -> token index, -1 for none
        self._token_span: dict[int, tuple[int, int]] = {}  # token index -> (first, last+1) position
        self._rendered = ""  # the document's text (Python string)
        self._qt: list[int] = [0]  # Python index in _rendered -> document position
        self._code: list[bool] = []  # document position -> is code
        self.code_blocks: list[CodeBlock] = []
        self._headers: list[CodeHeader] = []
        self._source: str | None = None  # the text last rendered
        self._token_count = 0  # how many tokens it had
        self._shown_tokens: list[TokenEvent] = []  # those tokens (a copy: the caller's list grows in place)
        self._after_section = False  # it was rendered after a Thinking section
        self._rendered_look: tuple[int, str] | None = None  # `_look()` when it was last rendered whole
        self._restyle_due = False  # a render in the new look is on its way (`changeEvent`)
        self._ended = False  # the text is a whole reply (not one still streaming)
        self.unfinished: list[int] = []  # tokens shown as UNFINISHED_MARK (bytes of a character never completed)
        self.end_marked: int | None = None  # the token shown by its name (a reply that drew nothing else)
        self._mapping: list[int] = []  # source index -> rendered index (-1: not shown)
        self._tint = True
        self._tint_code = False
        self._selected: int | None = None
        self._found: list[tuple[int, int]] = []  # search matches marked: (start, length) in the source text
        self._press_pos: QPoint | None = None
        self.setOpenLinks(False)  # never navigate the view itself (a relative link would load a file)
        self.setOpenExternalLinks(False)
        self.anchorClicked.connect(lambda url: open_link(self, url))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # code blocks scroll, not the reply
        self._scroll = CodeScroll(self)
        self._shade = QColor(0, 0, 0, 0)  # a code block's band (set per render from the text colour)
        self._rendering = False
        self._tables_width = 0  # the view width the tables' columns were last shared out for
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

    def set_content(self, text: str, tokens: list[dict], tint: bool, tint_code: bool | None = None,
                    ended: bool = False, after_section: bool = False) -> None:
        """Render `text`; `tokens` are the records whose text deltas concatenate to it. `ended`: the
        reply is over, so tokens at its end that made no character show UNFINISHED_MARK.
        `after_section`: the text follows a Thinking section, so the line breaks it starts with
        (the section's end) are not drawn as blank lines."""
        if self._appends(text, tokens, tint, tint_code, ended, after_section):
            self._append(text, tokens)
            return
        self._tokens, self._tint, self._source, self._ended = tokens, tint, text, ended
        self._token_count, self._after_section = len(tokens), after_section
        self._rendered_look = self._look()
        self._shown_tokens = list(tokens)
        self.unfinished = unfinished_tail(tokens) if ended else []
        text += UNFINISHED_MARK * len(self.unfinished)
        self.end_marked = len(tokens) - 1 if ended and ends_with_nothing_shown(text, tokens) else None
        if self.end_marked is not None:
            text += end_mark(tokens[-1])
        if tint_code is not None:
            self._tint_code = tint_code
        self._rendering = True  # the document is mid-way: its layout is measured once it is done
        try:
            doc = self.document()
            if self._markdown:
                text_color = self.palette().color(self.palette().ColorRole.Text)
                rendered, mapping, self.code_blocks = render_markdown(
                    doc, text, text_color, self._dark(), leading_breaks=not after_section)
                self._tables_width = int(doc.textWidth())
            else:
                doc.setPlainText(text)
                rendered = doc.toRawText()
                mapping = align(text, rendered)
            self._rendered, self._qt = rendered, utf16_offsets(rendered)
            self._mark_code_positions()
            self._map_tokens(text, mapping)
            self._mapping = mapping
            if self.end_marked is not None:
                self._faint_end_mark()
            if tint:
                self._apply_tint()
            self._update_selection()
            self._cursor_to_start()
        finally:
            self._rendering = False
        self._sync_headers()
        self._fit_height()

    def _appends(self, text: str, tokens: list, tint: bool, tint_code: bool | None, ended: bool,
                 after_section: bool) -> bool:
        """Whether `text` can be shown by adding its new characters to the end of the document, with
        the same result as rendering it all again (`appends_as_plain_text`): a streaming reply's
        tokens that only carry on the line it ends with, the tokens before them the very records
        shown (not another reply's that spells the same text). Each batch otherwise renders the whole
        reply again, which costs more the longer it gets."""
        if not self._markdown or self._source is None or ended or self._ended or tokens is None:
            return False
        if tint != self._tint or (tint_code is not None and tint_code != self._tint_code):
            return False
        if self._look() != self._rendered_look:
            return False  # the document was made in another text size or theme: made again in this one
        old, count = self._source, self._token_count
        if after_section != self._after_section or len(tokens) < count or not text.startswith(old):
            return False
        if not all(map(operator.is_, tokens, self._shown_tokens)):
            return False  # another reply's tokens (another request shown, a list filled again)
        if "".join(t.text for t in tokens[count:]) != text[len(old):]:
            return False  # not the same tokens carried on
        if not self._mapping or self._mapping[len(old) - 1] != len(self._rendered) - 1:
            return False  # its last character is not the document's last (trailing spaces are not drawn)
        last = self.document().lastBlock()
        plain = (not is_code_line(last) and last.blockFormat().headingLevel() == 0 and
                 not last.blockFormat().hasProperty(QTextFormat.Property.BlockQuoteLevel) and
                 QTextCursor(last).currentTable() is None)  # fmt: skip
        return plain and appends_as_plain_text(old, text[len(old):])

    def _append(self, text: str, tokens: list) -> None:
        """Add the new characters of `text` at the end of the document, and map, tint and select
        its new tokens (`_appends` said this shows what a full render shows)."""
        added = text[len(self._source):]
        doc = self.document()
        cursor = QTextCursor(doc)
        cursor.movePosition(QTextCursor.MoveOperation.End)
        fmt = cursor.charFormat()  # the plain text before it: the same paragraph's format, without tint
        fmt.clearBackground()
        cursor.insertText(added, fmt)
        start = len(self._rendered)
        units = self._qt[-1]
        self._rendered += added
        self._qt += [units + u for u in utf16_offsets(added)[1:]]
        new_units = self._qt[-1] - units
        self._code += [False] * new_units
        self._mapping += range(start, start + len(added))
        self._token_at += [-1] * new_units
        first = self._token_count  # tokens that drew nothing yet (bytes of a character) wait for it
        while first > 0 and not self._tokens[first - 1].text and first - 1 not in self._token_span:
            first -= 1
        self._shown_tokens += tokens[self._token_count:]
        self._tokens, self._source, self._token_count = tokens, text, len(tokens)
        self._map_tokens(text, self._mapping, first, len(text) - len(added))
        if self._tint:
            self._apply_tint(first)
        self._update_selection()
        self._cursor_to_start()
        self._fit_height()

    def _cursor_to_start(self) -> None:
        """A rebuilt document carries the text cursor to its end (it moves with each insertion);
        it goes back to the start, so nothing scrolls towards where the text happened to end."""
        cursor = self.textCursor()
        cursor.setPosition(0)
        self.setTextCursor(cursor)

    def set_tint(self, tint: bool, tint_code: bool | None = None) -> None:
        """Tint on or off; `tint_code` also tints code (off by default: code keeps its colours)."""
        code_changed = tint_code is not None and tint_code != self._tint_code
        if tint == self._tint and not code_changed:
            return
        self._tint = tint
        if tint_code is not None:
            self._tint_code = tint_code
        cursor = QTextCursor(self.document())
        cursor.select(QTextCursor.SelectionType.Document)
        clear = QTextCharFormat()
        clear.setBackground(Qt.GlobalColor.transparent)
        cursor.mergeCharFormat(clear)
        if tint:
            self._apply_tint()

    def mark_matches(self, spans: list[tuple[int, int]]) -> int | None:
        """Mark search matches, given as (start, length) in the source text (kept through re-renders;
        [] takes them away). Returns the document position of the first shown match, or None."""
        self._found = list(spans)
        self._update_selection()
        shown = self._found_ranges()
        return shown[0][0] if shown else None

    def _found_ranges(self) -> list[tuple[int, int]]:
        """The marked matches as document ranges [first, last+1) (Qt positions), the unshown left out."""
        ranges = []
        for start, length in self._found:
            shown = [self._mapping[k] for k in range(start, min(start + length, len(self._mapping))) if self._mapping[k] >= 0]
            if shown:
                ranges.append((self._qt[min(shown)], self._qt[max(shown) + 1]))
        return ranges

    def show_position(self, position: int) -> QRect:
        """Scroll the code block holding a document position (if any) so it is in sight; its
        rectangle in the viewport."""
        self._scroll.reveal(position)
        cursor = QTextCursor(self.document())
        cursor.setPosition(position)
        return self.cursorRect(cursor)

    def select_token(self, index: int | None) -> None:
        self._selected = index
        self._update_selection()

    def token_at(self, pos: QPoint) -> int | None:
        """The token under a viewport position, if any."""
        offset = QPointF(self._scroll.offset_at(pos), self.verticalScrollBar().value())
        position = self.document().documentLayout().hitTest(QPointF(pos) + offset, Qt.HitTestAccuracy.ExactHit)
        if 0 <= position < len(self._token_at):
            index = self._token_at[position]
            return index if index >= 0 else None
        return None

    def source_index_at(self, pos: QPoint) -> int | None:
        """The index in the source text of the character under a viewport position, if any."""
        offset = QPointF(self.horizontalScrollBar().value(), self.verticalScrollBar().value())
        position = self.document().documentLayout().hitTest(QPointF(pos) + offset, Qt.HitTestAccuracy.ExactHit)
        if position < 0:
            return None
        return next(
            (k for k, r in enumerate(self._mapping) if r >= 0 and self._qt[r] <= position < self._qt[r + 1]), None
        )

    def source_point(self, index: int) -> QPoint | None:
        """The viewport position of the middle of source character `index` (for tests and tours)."""
        if not 0 <= index < len(self._mapping) or self._mapping[index] < 0:
            return None
        r = self._mapping[index]
        cursor = QTextCursor(self.document())
        cursor.setPosition(self._qt[r])
        left = self.cursorRect(cursor)
        cursor.setPosition(self._qt[r + 1])
        right = self.cursorRect(cursor)
        x = (left.left() + right.left()) // 2 if right.top() == left.top() else left.left() + 2
        return QPoint(x, left.center().y())

    def token_span(self, index: int) -> tuple[int, int] | None:
        """A token's document positions [first, last+1) (Qt positions), or None if it shows nothing."""
        return self._token_span.get(index)

    def token_point(self, index: int) -> QPoint | None:
        """The viewport position of the middle of a token's first character (for tests and tours);
        None when the token draws nothing a click lands on (a line break, a space where a line wraps)."""
        span = self._token_span.get(index)
        if span is None:
            return None
        cursor = QTextCursor(self.document())
        cursor.setPosition(span[0])
        rect = self.cursorRect(cursor)
        cursor.movePosition(QTextCursor.MoveOperation.NextCharacter)  # a whole character, emoji too
        right = self.cursorRect(cursor)
        x = (rect.left() + right.left()) // 2 if right.top() == rect.top() else rect.left() + 2
        point = QPoint(x, rect.center().y())
        return point if self.token_at(point) == index else None  # a line break or a wrapped space: nothing to click

    def cursorRect(self, cursor: QTextCursor | None = None) -> QRect:  # noqa: N802 (Qt's name)
        """Where a cursor shows in the viewport, its code block's sideways scroll included."""
        cursor = self.textCursor() if cursor is None else cursor
        return super().cursorRect(cursor).translated(-self._scroll.offset_of(cursor.position()), 0)

    def cursorForPosition(self, pos: QPoint) -> QTextCursor:  # noqa: N802 (Qt's name)
        return super().cursorForPosition(pos + QPoint(self._scroll.offset_at(pos), 0))

    def anchorAt(self, pos: QPoint) -> str:  # noqa: N802 (Qt's name)
        return super().anchorAt(pos + QPoint(self._scroll.offset_at(pos), 0))

    def code_scroll(self) -> CodeScroll:
        """Each code block's and wide table's sideways scroll (offsets, bars), in document order."""
        return self._scroll

    def loadResource(self, kind: int, name: QUrl):
        """Nothing is ever loaded: a reply's image or link must not read files on this computer."""
        return None

    # -- rendering helpers -----------------------------------------------------------------

    def _dark(self) -> bool:
        """A dark theme: light text (the base colour is transparent under the stylesheet)."""
        return self.palette().color(self.palette().ColorRole.Text).lightness() > 128

    def _mark_code_positions(self) -> None:
        doc = self.document()
        self._code = [False] * (self._qt[-1] + 1)
        block = doc.begin()
        while block.isValid():
            it = block.begin()
            while not it.atEnd():
                fragment = it.fragment()
                if fragment.charFormat().property(CODE_PROPERTY):
                    start = fragment.position()
                    end = min(start + fragment.length(), len(self._code))
                    self._code[start:end] = [True] * (end - start)
                it += 1
            block = block.next()

    def is_code(self, position: int) -> bool:
        """Whether the character at a document position is code (a block or `inline`)."""
        return 0 <= position < len(self._code) and self._code[position]

    def _map_tokens(self, source: str, mapping: list[int], first: int = 0, offset: int = 0) -> None:
        """Each token's document positions (`_token_at`, `_token_span`); from token `first` on,
        whose text starts at `offset` in `source` (tokens appended: the earlier ones stay mapped)."""
        qt = self._qt
        if first == 0:
            self._token_at = [-1] * (qt[-1] + 1)
            self._token_span = {}
        waiting: list[int] = []  # tokens that showed nothing yet (bytes of a character to come)
        marks = dict.fromkeys(self.unfinished, UNFINISHED_MARK)
        if self.end_marked is not None:
            marks[self.end_marked] = end_mark(self._tokens[self.end_marked])
        for index in range(first, len(self._tokens)):
            record = self._tokens[index]
            end = offset + len(marks.get(index, record.text))
            positions = [mapping[k] for k in range(offset, min(end, len(mapping))) if mapping[k] >= 0]
            for p in positions:
                for q in range(qt[p], qt[p + 1]):
                    self._token_at[q] = index
            if positions:
                span = (qt[positions[0]], qt[positions[-1] + 1])
                self._token_span[index] = span
                for earlier in waiting:  # they made this character together: selecting one shows it
                    self._token_span[earlier] = span
                waiting = []
            elif not record.text:
                waiting.append(index)
            offset = end

    def _faint_end_mark(self) -> None:
        """The end mark is the view's words, not the model's: drawn faint and italic (its tint is the token's)."""
        span = self._token_span.get(self.end_marked)
        if span is None:
            return
        fmt = QTextCharFormat()
        faint = QColor(self.palette().color(self.palette().ColorRole.Text))
        faint.setAlpha(MARKUP_ALPHA)
        fmt.setForeground(faint)
        fmt.setFontItalic(True)
        cursor = QTextCursor(self.document())
        cursor.setPosition(span[0])
        cursor.setPosition(span[1], QTextCursor.MoveMode.KeepAnchor)
        cursor.mergeCharFormat(fmt)

    def _apply_tint(self, from_token: int = 0) -> None:
        """Tint each token's characters by its probability (tokens from `from_token` on)."""
        cursor = QTextCursor(self.document())
        cursor.beginEditBlock()
        units = self._rendered.encode("utf-16-le", "surrogatepass")  # Qt positions index its UTF-16 units
        for index, (start, end) in self._token_span.items():
            if index < from_token or self._token_at[start] != index:
                continue  # shares its character with the token that completed it
            color = tint_color(self._tokens[index].logprob)
            if color is None:
                continue
            fmt = QTextCharFormat()
            fmt.setBackground(color)
            # tint the visible characters only, so words stay apart: "␣the" tints "the"
            first, last = _visible(units, start, end)
            for run_start, run_end in self._tintable_runs(first, last):
                cursor.setPosition(run_start)
                cursor.setPosition(run_end, QTextCursor.MoveMode.KeepAnchor)
                cursor.mergeCharFormat(fmt)
        cursor.endEditBlock()

    def _tintable_runs(self, first: int, last: int) -> list[tuple[int, int]]:
        """[first, last) split into the runs the tint may cover: all of it, or without code."""
        if self._tint_code:
            return [(first, last)] if first < last else []
        runs, start = [], None
        for p in range(first, last + 1):
            prose = p < last and not self.is_code(p)
            if prose and start is None:
                start = p
            elif not prose and start is not None:
                runs.append((start, p))
                start = None
        return runs

    def code_block_at(self, pos: QPoint) -> str | None:
        """The whole code block (fenced) under a viewport position, for "Copy Code Block"."""
        position = self.cursorForPosition(pos).position()
        for block in self.code_blocks:
            if block.start <= position <= block.end:
                return block.text
        return None

    def _sync_headers(self) -> None:
        """One header (language, Copy) per code block, laid over the space above it."""
        while len(self._headers) > len(self.code_blocks):
            self._headers.pop().deleteLater()
        while len(self._headers) < len(self.code_blocks):
            header = CodeHeader(self.viewport())
            header.copied.connect(self.code_copied)
            self._headers.append(header)
        shade = code_shade(self.palette().color(self.palette().ColorRole.Text))
        for header, block in zip(self._headers, self.code_blocks, strict=True):
            header.set_block(block)
            header.show()
        self._scroll.set_blocks(self.code_blocks, tables(self.document()) if self._markdown else [])
        self._shade = shade
        self._place_headers()

    def _place_headers(self) -> None:
        if self._rendering or len(self._headers) != len(self.code_blocks):
            return  # mid-render (the layout changed before the headers were made): placed after
        self._scroll.relayout()
        doc = self.document()
        layout = doc.documentLayout()
        dy = self.verticalScrollBar().value()
        margin = int(doc.documentMargin())
        width = self.viewport().width() - 2 * margin  # the header stays put when its code scrolls sideways
        for header, block in zip(self._headers, self.code_blocks, strict=True):
            rect = layout.blockBoundingRect(doc.findBlock(block.start))  # the first line, below its top margin
            header.setGeometry(margin, int(rect.top()) - HEADER_HEIGHT - dy, width, HEADER_HEIGHT)

    def headers(self) -> list[CodeHeader]:
        return list(self._headers)

    def _update_selection(self) -> None:
        """The extra selections: search matches (find's yellow), then the selected token."""
        selections = []
        for start, end in self._found_ranges():
            found = self._extra_selection(start, end)
            found.format.setBackground(FOUND_BACKGROUND)
            found.format.setForeground(FOUND_TEXT)
            selections.append(found)
        span = self._token_span.get(self._selected) if self._selected is not None else None
        if span is not None:
            sel = self._extra_selection(*span)
            highlight = QColor(self.palette().color(self.palette().ColorRole.Highlight))
            highlight.setAlpha(90)
            sel.format.setBackground(highlight)
            sel.format.setUnderlineStyle(QTextCharFormat.UnderlineStyle.SingleUnderline)
            sel.format.setUnderlineColor(self.palette().color(self.palette().ColorRole.Highlight))
            selections.append(sel)
        self.setExtraSelections(selections)

    def _extra_selection(self, start: int, end: int) -> QTextEdit.ExtraSelection:
        sel = QTextEdit.ExtraSelection()
        cursor = QTextCursor(self.document())
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        sel.cursor = cursor
        return sel

    def _fit_height(self) -> None:
        doc = self.document()
        width = self.viewport().width()
        if width > 0 and doc.textWidth() != width:
            doc.setTextWidth(width)
        if width > 0 and self._markdown and width != self._tables_width:  # (QTextEdit sets the text width itself)
            self._tables_width = width
            fit_table_columns(doc, width)  # a table's columns share out the new width
        height = math.ceil(doc.size().height()) + 2 * self.frameWidth()
        if height != self.height():
            self.setFixedHeight(height)
        self._place_headers()

    # -- events ----------------------------------------------------------------------------

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        changes = (QEvent.Type.PaletteChange, QEvent.Type.FontChange)
        if event.type() in changes and self._markdown and self._source is not None and not self._restyle_due:
            # code colours for the new theme; spacing and sizes measured in the new text size. Once,
            # after the change is done: a zoom step brings a reply several font and palette changes
            # (the app's font, its style sheet), and every reply of the conversation gets them.
            self._restyle_due = True
            QTimer.singleShot(0, self, self._restyle)

    def _look(self) -> tuple[int, str]:
        """What a render depends on besides the text: the text colour (and so the theme) and the font."""
        return self.palette().color(self.palette().ColorRole.Text).rgba(), self.font().key()

    def _restyle(self) -> None:
        """Render again in the current look, if it is not the one the document was made in."""
        self._restyle_due = False
        if self._source is not None and self._look() != self._rendered_look:
            self.set_content(self._source, self._tokens, self._tint, ended=self._ended, after_section=self._after_section)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit_height()

    def keyPressEvent(self, event) -> None:
        with self._scroll.typing():
            super().keyPressEvent(event)

    def wheelEvent(self, event) -> None:
        delta, shift = event.angleDelta(), bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
        if self._scroll.wheel(event.position().toPoint(), delta.x(), delta.y(), shift):
            event.accept()  # sideways through a wide code block or table
        else:
            event.ignore()  # let the transcript scroll

    def paintEvent(self, event) -> None:
        """Prose as Qt paints it; each code block's band shaded and shifted by its own offset."""
        if not self._scroll.bands:
            super().paintEvent(event)
            return

        def paint_strip(rect: QRect, offset: int) -> None:
            with self._scroll.shifted(offset):
                super(TokenText, self).paintEvent(QPaintEvent(rect))

        self._scroll.paint(event.rect(), paint_strip, self._shade)

    def _mouse(self, handler, event) -> None:
        """Qt's own mouse handling (selection, links) at the point's place in the document."""
        pos = event.position().toPoint()
        index = self._scroll.band_at(pos)
        offset = self._scroll.offset_at(pos)
        with self._scroll.shifted(offset):
            handler(event)
        if index is not None and self._scroll.moved_to != offset:  # a selection dragged past the edge
            self._scroll.set_offset(index, self._scroll.moved_to)

    def mouseDoubleClickEvent(self, event) -> None:
        self._mouse(super().mouseDoubleClickEvent, event)

    def mouseMoveEvent(self, event) -> None:
        self._mouse(super().mouseMoveEvent, event)
        index = self.token_at(event.position().toPoint())
        if index is None:
            QToolTip.hideText()
            if not self.anchorAt(event.position().toPoint()):
                self.viewport().setCursor(Qt.CursorShape.IBeamCursor)
            return
        self.viewport().setCursor(Qt.CursorShape.PointingHandCursor)
        QToolTip.showText(event.globalPosition().toPoint(),
                          token_tooltip(self._tokens[index], unfinished=index in self.unfinished), self.viewport())

    def mousePressEvent(self, event) -> None:
        self._press_pos = event.position().toPoint()
        self._mouse(super().mousePressEvent, event)

    def mouseReleaseEvent(self, event) -> None:
        self._mouse(super().mouseReleaseEvent, event)
        pos = event.position().toPoint()
        dragged = self._press_pos is not None and (pos - self._press_pos).manhattanLength() > 3
        if event.button() == Qt.MouseButton.LeftButton and not dragged and not self.anchorAt(pos):
            index = self.token_at(pos)
            if index is not None:
                self.select_token(index)
                self.token_clicked.emit(index)
            elif not self._tokens and (char := self.source_index_at(pos)) is not None:
                self.character_clicked.emit(char)


# What a streamed piece may hold to be added to the end of a paragraph as it is: letters, digits,
# single spaces and sentence punctuation. Markdown's own characters (emphasis, code, links, escapes,
# HTML, tables), line breaks and what may make an autolink (":", "@") go through a full render.
PLAIN_PUNCTUATION = frozenset(" .,;?!'\"")
LINE_START = re.compile(r" {0,3}(?:[-+*]|\d{1,9}[.)]) +(?=\S)")  # a list item's marker, its text begun
AUTOLINK_WORDS = ("www.", "http", "ftp", "mailto", "@", ":")  # what may make a word an autolink
BLANK_LINE = re.compile(r"\n[ \t]*\n")  # where a paragraph ends


def appends_as_plain_text(old: str, added: str) -> bool:
    """Whether Markdown shows `old + added` as it shows `old` with `added` after it as plain text,
    in the paragraph (or list item) `old` ends in: `added` is letters, digits, sentence punctuation
    and single spaces, ends in none; `old` ends in a letter, digit or such punctuation (no
    delimiter whose meaning depends on what follows it: `_` is emphasis only between non-letters),
    on a line that began with a letter or with a list item's marker and text (a line that begins
    with a digit may still become a list item); and the word it ends in, carried on, cannot be an
    autolink; and the paragraph holds no "]:" (a link reference definition, shown as nothing, may be
    in the making: a quote may close its title, letters carry on its URL). Anything else is
    rendered whole again."""
    if not added or not old or added[-1] == " " or old[-1] == " " or "  " in added:
        return False  # a space at the end is not drawn until something follows it
    if not (old[-1].isalnum() or old[-1] in PLAIN_PUNCTUATION):
        return False
    if not all(ch.isalnum() or ch in PLAIN_PUNCTUATION for ch in added):
        return False
    line = old[old.rfind("\n") + 1 :]
    indent = len(line) - len(line.lstrip(" "))
    if indent > 3 or not (line[indent:indent + 1].isalpha() or LINE_START.match(line)):
        return False
    words = (old[max(old.rfind(" "), old.rfind("\n")) + 1 :] + added).lower()  # the last word on, carried on
    if any(mark in words for mark in AUTOLINK_WORDS):
        return False
    paragraph = old[max((m.end() for m in BLANK_LINE.finditer(old)), default=0) :]
    return "]:" not in paragraph


def _visible(units: bytes, start: int, end: int) -> tuple[int, int]:
    """[start, end) in document positions without leading and trailing whitespace (`units`: the
    document's text as UTF-16-LE bytes, two per position)."""
    piece = units[2 * start : 2 * end].decode("utf-16-le", "surrogatepass")
    lead = len(piece) - len(piece.lstrip())
    trail = len(piece) - len(piece.rstrip())
    return start + lead, end - trail


def unfinished_tail(tokens) -> list[int]:
    """The tokens at the end of a reply that hold bytes of a character it ended inside of (they made
    no text: the character's other bytes never came), in order. A finish without a token is passed over."""
    tail: list[int] = []
    for index in range(len(tokens) - 1, -1, -1):
        t = tokens[index]
        if t.token is None and not t.text:
            continue
        if t.text or piece_bytes(t.piece) is None:
            break
        tail.insert(0, index)
    return tail


def ends_with_nothing_shown(text: str, tokens) -> bool:
    """Whether a reply's last token made no text and nothing before it draws a character (`text`:
    the reply's text with its UNFINISHED_MARKs): a reply that is only its end-of-reply token."""
    return bool(tokens) and tokens[-1].token is not None and not tokens[-1].text and not text.strip()


def end_mark(record) -> str:
    """How a token that made no text shows when it is all a reply has: its name in brackets."""
    return f"({visible_piece(record.piece)})"


def token_tooltip(record: dict, unfinished: bool = False) -> str:
    """Rich-text tooltip in plain words: the token, how likely the model found it, the runners-up.

    Every piece of model text in it is escaped (it is HTML); byte pieces and end-of-reply tokens
    read as words (`visible_piece`). `unfinished`: the token is shown as UNFINISHED_MARK, and the
    tooltip says why.
    """
    rows = []
    for token_id, piece, logprob in record.top_raw[:TOOLTIP_ALTERNATIVES]:
        mark = "▶ " if token_id == record.token else ""
        rows.append(
            f"<tr><td>{mark}<code>{html.escape(visible_piece(piece, compact=True))}</code></td>"
            f"<td align='right'>&nbsp;&nbsp;{percent_html(logprob)}</td></tr>"
        )
    shown = html.escape(visible_piece(record.piece, record.text))
    return (
        f"<b><code>{shown}</code></b> &nbsp;the model gave it {percent_html(record.logprob)}"
        f"<br/><span>{percent_html(record.sampled_logprob)} after your settings · "
        f"uncertainty {record.entropy:.2f} nats · token id {record.token}</span>"
        f"<br/><br/>The model's top {TOOLTIP_ALTERNATIVES} candidates:<table>{''.join(rows)}</table>"
        + ("<br/>The reply ended before the rest of this character's bytes: "
           f"{UNFINISHED_MARK} marks it (Continue finishes it)." if unfinished else "")
        + "<br/><i>Click to see this step in the panel</i>"
    )
