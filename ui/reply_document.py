"""A reply's Markdown as a QTextDocument that shows every character the model wrote.

`render_markdown` is Qt's Markdown importer (GitHub dialect, raw HTML off), fed the reply as
`app.markdown_text.markdown_as_written` prepares it (character references such as `&amp;` and
backslashes that are not Markdown's escapes show as written, LaTeX's included), plus the
repairs that make the document hold exactly what was written, each a small function on the document:
- an image shows as its Markdown text (`![alt](address)`), never loaded;
- a single line break stays a line break (Markdown would join the lines of a poem);
- Qt's stray empty first line in a table cell after a code block goes; tables get borders, a
  bold header row and columns that never break a word (`fit_table_columns`: a table too wide for
  the view scrolls sideways instead);
- a fence line with nothing after it (a stray closing ```) is text, not an empty code block, and
  a `#` comment of the code above it is text, not a heading (`ui.unfenced_code`);
- Markdown's markup (`# `, `**`, list markers, fences, pipes, escapes) is drawn faint where it was
  written (`ui.markup_shown`), so every token of a reply has characters on screen;
- code is styled by `ui.code_blocks`.
It returns the document's text, the source-to-document map (`ui.markdown_align.align`, Python
indices) and the code blocks.
"""

from __future__ import annotations

import re

from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
    QTextLength,
    QTextTable,
    QTextTableFormat,
)

from app.markdown_text import block_tokens, markdown_as_written, verbatim_ranges
from ui.code_blocks import CodeBlock, style_code
from ui.markdown_align import align, soft_breaks
from ui.markup_shown import show_markup
from ui.text_format import utf16_offsets
from ui.unfenced_code import comments_as_text

# GitHub Markdown (tables, strikethrough, task lists, autolinks) without raw HTML: a reply's
# "<smirk>" or "<div>" is text the model wrote, never markup.
MARKDOWN = QTextDocument.MarkdownFeature.MarkdownDialectGitHub | QTextDocument.MarkdownFeature.MarkdownNoHTML
IMAGE_CHARACTER = "\ufffc"
LINE_BREAK = "\u2028"
# A line that is only a list marker: an empty list item, which Qt's importer drops (CommonMark shows its marker)
EMPTY_ITEM = re.compile(r"^([ \t]*)(\d{1,9})?([.)]|[-*+])[ \t]*$")
STRAY_FENCE = re.compile(r"^ {0,3}(?:```|~~~)[^\n]*\s*\Z", re.MULTILINE)  # a fence on the last line written
BARE_FENCE = re.compile(r"^ {0,3}(?:`{3,}|~{3,})[ \t]*$", re.MULTILINE)  # a fence line with no language
NAMED_FENCE = re.compile(r"^ {0,3}(?:`{3,}[^`\s]|~{3,}[ \t]*\S)")  # a fence line that names a language
LIST_LINE = re.compile(r"[ \t]*(\d{1,9}[.)]|[-*+])([ \t]|$)")  # a list item's first line


def render_markdown(
    doc: QTextDocument, source: str, text_color: QColor, dark: bool, leading_breaks: bool = True
) -> tuple[str, list[int], list[CodeBlock]]:
    """Fill `doc` from `source`; (document text, source index -> document text index or -1, code blocks).

    The map is into `source` itself (what the tokens spell), not into the escaped text Qt is given.
    `leading_breaks`: the line breaks `source` starts with are drawn (not after a Thinking
    section, whose end they are)."""
    markdown, stray = stray_fences_as_text(keep_empty_list_items(markdown_as_written(source)))
    markdown = comments_as_text(markdown, stray)
    doc.setMarkdown(markdown, MARKDOWN)
    images_as_text(doc)
    tidy_tables(doc)
    rendered = doc.toRawText()
    fences = fence_lines(source, markdown)
    mapping = align(source, rendered, fences)
    rendered = keep_line_breaks(doc, source, rendered, mapping)
    if show_markup(doc, source, rendered, mapping, text_color, leading_breaks):  # the fence lines are drawn now: no skipping
        rendered = doc.toRawText()
        mapping = align(source, rendered)
    blocks = style_code(doc, text_color, dark)
    style_tables(doc, text_color)
    fit_table_columns(doc, doc.textWidth())
    return rendered, mapping, blocks


def keep_empty_list_items(markdown: str) -> str:
    """An empty list item ("2. " at the end of a reply cut by a stop string, "- " while a list
    streams) written so its marker shows: Qt's importer drops the whole item, so the characters the
    model wrote vanished, and their tokens with them. The marker is escaped (`2\\.`): it shows as
    the text it is. Code is left as written; a lone "-" under a paragraph line (a heading's
    underline) is not a list item and is left too."""
    code = verbatim_ranges(markdown)
    lines = markdown.split("\n")
    offset = 0
    for number, line in enumerate(lines):
        match = EMPTY_ITEM.match(line)
        if match and not any(start <= offset < end for start, end in code):
            above = lines[number - 1] if number else ""
            bullet_can_start = not above.strip() or LIST_LINE.match(above)  # else a heading's underline
            if match.group(2) is not None or bullet_can_start:
                lines[number] = f"{line[: match.start(3)]}\\{line[match.start(3):]}"
        offset += len(line) + 1
    return "\n".join(lines)


def stray_fences_as_text(markdown: str) -> tuple[str, list[int]]:
    """(`markdown` with each stray fence line escaped, the indices of those lines). A fence line
    that opens no code (a closing ``` the model wrote after code it never opened, verify 5 N7,
    trial 6 finding 7) is shown as the characters written, not as the start of a code block. CommonMark opens a block at any fence line; a stray closer opens one that swallows
    everything after it: the prose the model went on to write shows as code. A fence is text when:
    - it has nothing after it but blank lines (an empty block; while a reply streams, a fence
      just written shows as text until its first code line arrives);
    - it is bare (no language after it) and nothing closes it: the block would run to the end of
      the reply. A closing fence is always bare, an opening one usually names its language, so a
      bare fence left open is most likely a closer whose opener was never written;
    - it is bare and the block it would open holds a fence line that names a language: the model
      went on to open a real block, which CommonMark would take as text inside the stray one.
    The rule only ever takes code away from what CommonMark makes of a stray fence, never makes
    prose into code, and every character shows either way. What it costs: a bare opener with
    its code after it shows that code as text until its closing fence is written (while a reply
    streams, or in a reply cut off before it), and a bare block that shows ``` lines with a
    language as its content (Markdown about Markdown) shows as text. Guessing that the text before
    the stray fence is code would turn prose into code whenever a reply ends on one; no Markdown
    renderer does that; what it does instead is keep a `#` comment of such code from being a
    heading (`ui.unfenced_code`)."""
    if not BARE_FENCE.search(markdown) and not STRAY_FENCE.search(markdown):
        return markdown, []  # no fence that can be stray: nothing to read
    escaped: list[int] = []
    for _ in range(markdown.count("\n") + 1):  # each pass turns one fence into text; the next reads again
        lines = markdown.split("\n")
        stray = next((token.map[0] for token in _fences(markdown) if _is_stray(token, lines)), None)
        if stray is None:
            break
        lines[stray] = _escaped_fence(lines[stray])
        escaped.append(stray)
        markdown = "\n".join(lines)
    return markdown, sorted(escaped)


def _escaped_fence(line: str) -> str:
    """A fence line with each fence character backslash-escaped (one escape only would leave a
    run of two that may open a code span or a strikethrough with text after it)."""
    mark = len(line) - len(line.lstrip(" "))
    rest = line[mark:]
    if not rest or rest[0] not in "`~":  # the fence is inside a quote or a list item's first line
        return f"{line[:mark]}\\{rest}"  # its marker escaped: the whole line is a paragraph's text
    run = len(rest) - len(rest.lstrip(rest[0]))
    return line[:mark] + "".join("\\" + ch for ch in rest[:run]) + rest[run:]


def _is_stray(token, lines: list[str]) -> bool:
    """Whether the fenced block `token` opens at a stray fence (see `stray_fences_as_text`)."""
    first, last = token.map
    after = lines[first + 1 :]
    if last >= len(lines) and not token.content.strip() and all(not line.strip() for line in after):
        return True
    if token.info.strip() or not BARE_FENCE.match(lines[first]):
        return False  # a fence that names its language opens a block (and one in a quote's line is left)
    closed = last - 1 > first and lines[last - 1].strip().startswith(token.markup)
    inside = lines[first + 1 : last - 1 if closed else last]
    return not closed or any(NAMED_FENCE.match(line) for line in inside)


def fence_lines(source: str, markdown: str) -> frozenset[int]:
    """The indices of `source` on the lines that open and close its fenced code blocks (found in
    `markdown`, the same text as Qt is given it, line for line): they show nothing of their own."""
    starts = [0]
    for line in source.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    lines = markdown.split("\n")
    hidden: set[int] = set()
    for token in _fences(markdown):
        first, end = token.map
        closed = end - 1 > first and lines[end - 1].strip().startswith(token.markup)
        for line in (first, end - 1) if closed else (first,):
            if line + 1 < len(starts):
                hidden.update(range(starts[line], starts[line + 1] - 1))
    return frozenset(hidden)


def _fences(markdown: str) -> list:
    """The fenced code blocks of `markdown`, as markdown-it's block tokens (`map`: line range)."""
    return [t for t in block_tokens(markdown) if t.type == "fence" and t.map]


def images_as_text(doc: QTextDocument) -> None:
    """An image shows as the Markdown the model wrote (`![alt](address)`), never loaded."""
    cursor = QTextCursor(doc)
    position = doc.toRawText().rfind(IMAGE_CHARACTER)
    while position >= 0:
        qt_position = utf16_offsets(doc.toRawText())[position]
        cursor.setPosition(qt_position)
        cursor.setPosition(qt_position + 1, QTextCursor.MoveMode.KeepAnchor)
        fmt = cursor.charFormat()
        if fmt.isImageFormat():
            image = fmt.toImageFormat()
            alt = image.property(QTextFormat.Property.ImageAltText) or ""
            cursor.insertText(f"![{alt}]({image.name()})", QTextCharFormat())
        position = doc.toRawText().rfind(IMAGE_CHARACTER, 0, position)


def keep_line_breaks(doc: QTextDocument, source: str, rendered: str, mapping: list[int]) -> str:
    """Turn the spaces Markdown made of single line breaks back into line breaks; the new text."""
    breaks = soft_breaks(source, rendered, mapping)
    if not breaks:
        return rendered
    positions = utf16_offsets(rendered)
    cursor = QTextCursor(doc)
    cursor.beginEditBlock()
    chars = list(rendered)
    for index in breaks:
        cursor.setPosition(positions[index])
        cursor.setPosition(positions[index] + 1, QTextCursor.MoveMode.KeepAnchor)
        cursor.insertText(LINE_BREAK)
        chars[index] = LINE_BREAK
    cursor.endEditBlock()
    return "".join(chars)


def tables(doc: QTextDocument) -> list[QTextTable]:
    return [frame for frame in doc.rootFrame().childFrames() if isinstance(frame, QTextTable)]


def tidy_tables(doc: QTextDocument) -> None:
    """Drop the empty first line Qt's importer leaves in a table's cells after a code block."""
    for table in tables(doc):
        for row in range(table.rows()):
            for column in range(table.columns()):
                cell = table.cellAt(row, column)
                cursor = cell.firstCursorPosition()
                block = cursor.block()
                if block.length() == 1 and cell.lastCursorPosition().block() != block:
                    kept = block.next().blockFormat()
                    cursor.deleteChar()  # the empty line's end: the next line moves up
                    cursor.setBlockFormat(kept)


CELL_TEXT_MAX_PX = 320  # a column holding sentences wraps them at words beyond this width
CELL_PADDING = 5  # px around a table cell's text
TABLE_INDENT_PX = 20  # what Qt's table layout takes beside its columns (indent, outer border), with room to spare


def column_text_widths(doc: QTextDocument, table: QTextTable) -> list[tuple[float, float]]:
    """(longest word, longest line at most CELL_TEXT_MAX_PX) of each column's text, in px."""
    plain, bold = QFont(doc.defaultFont()), QFont(doc.defaultFont())  # the header row is bold
    bold.setWeight(QFont.Weight.Bold)
    widths = []
    for column in range(table.columns()):
        longest, word = 0.0, 0.0
        for row in range(table.rows()):
            cell = table.cellAt(row, column)
            cursor = cell.firstCursorPosition()
            cursor.setPosition(cell.lastCursorPosition().position(), QTextCursor.MoveMode.KeepAnchor)
            metrics = QFontMetricsF(bold if row == 0 else plain)
            for line in cursor.selectedText().split("\u2029"):
                longest = max(longest, metrics.horizontalAdvance(line))
                word = max([word, *(metrics.horizontalAdvance(w) for w in line.split())])
        widths.append((word, max(word, min(longest, CELL_TEXT_MAX_PX))))
    return widths


def fit_table_columns(doc: QTextDocument, width: float) -> None:
    """Give each table's columns widths for a view `width` px wide (<= 0: not known yet).

    A column is as wide as its longest line (at most CELL_TEXT_MAX_PX) while the table fits;
    narrower, the columns of sentences give way down to their longest word, never below: Qt would
    otherwise break "1000000" into "10 00 00 0". A table still wider than the view scrolls
    sideways (`ui.code_scroll`)."""
    extra = 2 * (CELL_PADDING + 1) + 2  # padding and borders around a cell's text
    for table in tables(doc):
        columns = column_text_widths(doc, table)
        room = width - 2 * doc.documentMargin() - extra * len(columns) - TABLE_INDENT_PX
        natural = sum(n for _w, n in columns)
        slack = sum(n - w for w, n in columns)
        if width <= 0 or natural <= room or slack <= 0:
            share = 1.0
        else:
            share = max(0.0, (room - sum(w for w, _n in columns)) / slack)
        fmt = table.format()
        fmt.setColumnWidthConstraints(
            [QTextLength(QTextLength.Type.FixedLength, w + (n - w) * share + extra) for w, n in columns]
        )
        table.setFormat(fmt)


def style_tables(doc: QTextDocument, text_color: QColor) -> None:
    """Visible cell borders, room around the text, and a bold header row (a Markdown table's first)."""
    border = QColor(text_color)
    border.setAlpha(70)
    bold = QTextCharFormat()
    bold.setFontWeight(QFont.Weight.Bold)
    for table in tables(doc):
        fmt = table.format()
        fmt.setBorder(1)
        fmt.setBorderBrush(border)
        fmt.setBorderStyle(QTextTableFormat.BorderStyle.BorderStyle_Solid)
        fmt.setBorderCollapse(True)
        fmt.setCellPadding(CELL_PADDING)
        fmt.setCellSpacing(0)
        fmt.setTopMargin(4)  # apart from the paragraph or code block next to it
        fmt.setBottomMargin(10)  # room for its sideways bar when it is wider than the view
        table.setFormat(fmt)
        for column in range(table.columns()):
            cell = table.cellAt(0, column)
            cursor = cell.firstCursorPosition()
            cursor.setPosition(cell.lastCursorPosition().position(), QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(bold)
