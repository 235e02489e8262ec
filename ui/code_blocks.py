"""Code in a rendered reply: fenced blocks and `inline code` styled, highlighted and copyable.

After Qt has turned the Markdown into a document, `style_code` walks it once:
- every code character gets the fixed-width family and *no* size of its own, so code follows the
  text's size (Qt's importer gives code the system fixed font's size, which is why a reopened block
  was drawn smaller than a live one);
- a fenced block keeps its lines unwrapped (the message scrolls sideways instead of breaking the
  indentation), sits on a shaded background with padding, and is coloured by Pygments for the
  fence's language;
- each block is returned as a `CodeBlock`, so the view can put a header (language and Copy) on it.

Positions are Qt positions (UTF-16 units), see `ui.text_format.utf16_offsets`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.styles import get_style_by_name
from pygments.token import Token
from pygments.util import ClassNotFound
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QFont,
    QGuiApplication,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
)
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from ui.fonts import fixed_font
from ui.text_format import utf16_offsets

CODE_PROPERTY = QTextFormat.Property.UserProperty + 1  # marks characters that are code
HEADER_HEIGHT = 26  # px above a block for its language and Copy button
PADDING = 10  # px inside the shaded block, left, right and below
COPIED_MS = 2000  # how long Copy says "Copied" after a click
LIGHT_STYLE, DARK_STYLE = "default", "github-dark"
FONT_SIZE_PROPERTIES = (QTextFormat.Property.FontPointSize, QTextFormat.Property.FontPixelSize,
                        QTextFormat.Property.FontSizeAdjustment)  # fmt: skip


@dataclass(frozen=True)
class CodeBlock:
    """One fenced block: its document span [start, end) in Qt positions, language and exact text."""

    start: int
    end: int
    language: str
    text: str


def fixed_family() -> list[str]:
    return [fixed_font().family(), "monospace"]


def code_shade(text_color: QColor) -> QColor:
    shade = QColor(text_color)
    shade.setAlpha(20)
    return shade


def style_code(doc: QTextDocument, text_color: QColor, dark: bool) -> list[CodeBlock]:
    """Style every code character and fenced block of `doc` in place; return the fenced blocks."""
    cursor = QTextCursor(doc)
    cursor.beginEditBlock()
    _style_inline_code(doc)
    blocks = []
    block = doc.begin()
    while block.isValid():
        if not is_code_line(block):
            block = block.next()
            continue
        first, lines = block, []
        while block.isValid() and is_code_line(block):
            lines.append(block)
            block = block.next()
        language = first.blockFormat().stringProperty(QTextFormat.Property.BlockCodeLanguage).strip()
        text = "\n".join(line.text() for line in lines)
        start, end = first.position(), lines[-1].position() + lines[-1].length() - 1
        for i, line in enumerate(lines):
            _style_fence_line(cursor, line, text_color, top=i == 0, bottom=i == len(lines) - 1)
        _mark_code(cursor, start, end)
        _highlight(cursor, start, text, language, dark)
        blocks.append(CodeBlock(start, end, language, text))
    _room_above_first(doc, bool(blocks) and blocks[0].start == 0)
    cursor.endEditBlock()
    return blocks


def _room_above_first(doc: QTextDocument, fence_first: bool) -> None:
    """Qt drops the top margin of a document's first block: a reply that opens with a code block
    gets the room for its header from the document's own top margin instead."""
    root = doc.rootFrame()
    fmt = root.frameFormat()
    fmt.setTopMargin(doc.documentMargin() + (HEADER_HEIGHT if fence_first else 0))
    root.setFrameFormat(fmt)


def is_code_line(block) -> bool:
    """A line of a code block: fenced (```, with or without a language) or indented by four
    spaces (Qt marks those with a language property only, an empty one)."""
    fmt = block.blockFormat()
    return fmt.hasProperty(QTextFormat.Property.BlockCodeFence) or fmt.hasProperty(QTextFormat.Property.BlockCodeLanguage)


def _style_fence_line(cursor: QTextCursor, line, text_color: QColor, top: bool, bottom: bool) -> None:
    fmt = line.blockFormat()  # the view shades the block's band (`ui.code_scroll`), header to padding
    fmt.setNonBreakableLines(True)  # sideways scrolling keeps indentation; wrapping broke it
    fmt.setLeftMargin(PADDING)
    fmt.setRightMargin(PADDING)
    fmt.setTopMargin(HEADER_HEIGHT if top else 0)
    fmt.setBottomMargin(PADDING if bottom else 0)
    cursor.setPosition(line.position())
    cursor.setBlockFormat(fmt)


def _mark_code(cursor: QTextCursor, start: int, end: int) -> None:
    """Fixed-width family, the text's own size, and the code mark, on every fragment in [start, end)."""
    doc = cursor.document()
    block = doc.findBlock(start)
    while block.isValid() and block.position() < end:
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            lo, hi = max(start, fragment.position()), min(end, fragment.position() + fragment.length())
            if lo < hi:
                fmt = fragment.charFormat()
                for prop in FONT_SIZE_PROPERTIES:
                    fmt.clearProperty(prop)
                fmt.setFontFamilies(fixed_family())
                fmt.setFontFixedPitch(True)
                fmt.setProperty(CODE_PROPERTY, True)
                cursor.setPosition(lo)
                cursor.setPosition(hi, QTextCursor.MoveMode.KeepAnchor)
                cursor.setCharFormat(fmt)
            it += 1
        block = block.next()


def _style_inline_code(doc: QTextDocument) -> None:
    """Inline code spans (the importer gives them a fixed-pitch font) get the same treatment."""
    cursor = QTextCursor(doc)
    spans = []
    block = doc.begin()
    while block.isValid():
        if not is_code_line(block):
            it = block.begin()
            while not it.atEnd():
                fragment = it.fragment()
                if fragment.charFormat().fontFixedPitch():
                    spans.append((fragment.position(), fragment.position() + fragment.length()))
                it += 1
        block = block.next()
    for start, end in spans:
        _mark_code(cursor, start, end)


@lru_cache(maxsize=64)
def _lexer(language: str) -> Lexer | None:
    """Pygments' lexer for a fence's language (None: not one it knows). Kept: a streaming reply is
    rendered again with every few tokens, and finding a lexer by name searches every lexer Pygments
    has (~1.7 ms a code block). A lexer keeps no state between texts (its options are fixed here)."""
    try:
        return get_lexer_by_name(language, stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None


def _highlight(cursor: QTextCursor, start: int, text: str, language: str, dark: bool) -> None:
    """Colour `text` (which starts at document position `start`) with Pygments, if it knows the language."""
    for first, end, color, bold, italic in _code_spans(language, dark, text) if language else ():
        cursor.setPosition(start + first)
        cursor.setPosition(start + end, QTextCursor.MoveMode.KeepAnchor)
        cursor.mergeCharFormat(_code_format(color, bold, italic))


@lru_cache(maxsize=256)
def _code_spans(language: str, dark: bool, text: str) -> tuple[tuple[int, int, str, bool, bool], ...]:
    """The styled spans of a code block's `text` as Pygments colours it: (first, end) in UTF-16
    units of `text`, the colour ("" for none), bold, italic; () for a language it does not know.
    Kept per text: a streaming reply is rendered again with every few tokens and its finished code
    blocks do not change (lexing them again was half of a long reply's render); the same text,
    language and palette always give the same spans."""
    lexer = _lexer(language)
    if lexer is None:
        return ()
    style = get_style_by_name(DARK_STYLE if dark else LIGHT_STYLE)
    positions = utf16_offsets(text)
    spans = []
    for index, kind, value in lexer.get_tokens_unprocessed(text):
        if not value.strip() or kind in Token.Text:
            continue
        spec = style.style_for_token(kind)
        if spec["color"] or spec["bold"] or spec["italic"]:
            spans.append((positions[index], positions[index + len(value)], spec["color"] or "", bool(spec["bold"]), bool(spec["italic"])))
    return tuple(spans)


@lru_cache(maxsize=256)
def _code_format(color: str, bold: bool, italic: bool) -> QTextCharFormat:
    """The character format of one Pygments style (shared: merged into the document, never changed)."""
    fmt = QTextCharFormat()
    if color:
        fmt.setForeground(QColor(f"#{color}"))
    if bold:
        fmt.setFontWeight(QFont.Weight.Bold)
    if italic:
        fmt.setFontItalic(True)
    return fmt


class CodeHeader(QWidget):
    """The strip above a code block: its language on the left, Copy on the right."""

    copied = Signal()

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setObjectName("codeHeader")
        self.setCursor(Qt.CursorShape.ArrowCursor)
        self.text = ""
        self.language = QLabel()
        self.language.setObjectName("codeLanguage")
        self.language.setTextFormat(Qt.TextFormat.PlainText)
        self.copy_button = QToolButton()
        self.copy_button.setText("Copy")
        self.copy_button.setToolTip("Copy this code block")
        self.copy_button.setAutoRaise(True)
        self.copy_button.clicked.connect(self.copy)
        self._copied_timer = QTimer(self)  # "Copied" goes back to "Copy" after COPIED_MS
        self._copied_timer.setSingleShot(True)
        self._copied_timer.setInterval(COPIED_MS)
        self._copied_timer.timeout.connect(lambda: self.copy_button.setText("Copy"))
        layout = QHBoxLayout(self)
        layout.setContentsMargins(PADDING, 0, 4, 0)
        layout.addWidget(self.language)
        layout.addStretch(1)
        layout.addWidget(self.copy_button)
        self.setFixedHeight(HEADER_HEIGHT)

    def set_block(self, block: CodeBlock) -> None:
        self.text = block.text
        self.language.setText(block.language or "code")
        self.copy_button.setText("Copy")
        self._copied_timer.stop()

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.text)
        self.copy_button.setText("Copied")
        self._copied_timer.start()  # a second click restarts the 2 s
        self.copied.emit()
