"""Markdown's markup drawn, faint, where the model wrote it, so no token of a reply vanishes.

Qt's Markdown importer turns `# `, `**`, `` ` ``, `> `, `[`…`](address)`, list markers, fences,
rules and table pipes into formatting and drops their characters. In Glassbox every token the
model wrote is shown with its probability, hovered and clicked; a token made only of markup
(a heading's `#`, a closing fence) had no character on screen, so it could not be found at all
(verify 5, N7). `show_markup` puts each such run of characters back into the document as faint
text at its place, keeping the formatting it made (a heading stays a heading, now with its `# `):
- inside a line (`# `, `**`, `> `, `](https://…)`, a table's pipes): before the next character
  shown from the same source line, else after the last one shown before it;
- a line of its own (a fence, `---`, a table's `|---|` row): a faint line of its own between the
  blocks around it, outside a code block (so Copy copies the code only);
- a list's marker (`1.`, `-`, `*`) replaces Qt's drawn bullet or number, so it is the model's
  character that shows and is clicked;
- a line's leading spaces after a line break that the view keeps (`    return x` in a paragraph,
  which Markdown would strip), and the up to three spaces Markdown strips before a block (" Hello"
  at the start of a reply, "  Two." after a blank line), show as no-break spaces;
- the line breaks a reply starts with (Markdown skips blank lines before the first block) show
  as line breaks, so the reply starts as low as the model made it.

Positions are Python indices into the document's text (`QTextDocument.toRawText()`), turned into
Qt positions with `utf16_offsets` where they meet a cursor. Callers re-align the source with the
new text afterwards (`ui.markdown_align.align`): the inserted characters are the source's own,
in the source's order, so they match.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import (
    QColor,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextFormat,
    QTextListFormat,
)

from ui.text_format import utf16_offsets

MARKUP_PROPERTY = QTextFormat.Property.UserProperty + 2  # marks characters that are Markdown's markup
MARKUP_ALPHA = 110  # how faint markup is drawn (of 255), over the text colour
LINE_BREAK = "\u2028"
PARAGRAPH = "\u2029"  # between blocks in QTextDocument.toRawText()
NO_BREAK_SPACE = "\u00a0"
MAX_BLOCK_INDENT = 3  # CommonMark: a block's first line may be indented up to 3 spaces; 4 make code


@dataclass(frozen=True)
class HiddenRun:
    """Source characters [start, end) on one line that show nothing, holding a non-space (or the
    leading spaces of a line the view starts on a kept line break)."""

    start: int
    end: int
    whole_line: bool  # the run is all of its source line but spaces


def hidden_runs(source: str, rendered: str, mapping: list[int]) -> list[HiddenRun]:
    """The runs of `source` (one line each) whose characters `mapping` maps to nothing (-1)."""
    runs, line_start = [], 0
    for line in source.split("\n"):
        line_end = line_start + len(line)
        i = line_start
        while i < line_end:
            if mapping[i] >= 0:
                i += 1
                continue
            j = i
            while j < line_end and mapping[j] < 0:
                j += 1
            text = source[i:j]
            before, after = source[line_start:i], source[j:line_end]
            if text.strip():
                runs.append(HiddenRun(i, j, not before.strip() and not after.strip()))
            elif i == line_start and j < line_end and _starts_a_line(rendered, mapping[j], text):
                runs.append(HiddenRun(i, j, False))  # indentation Markdown strips from a block or a kept line
            i = j
        line_start = line_end + 1
    return runs


def _starts_a_line(rendered: str, position: int, indent: str) -> bool:
    """Whether `indent` (whitespace) stripped before rendered `position` was a line's indentation:
    the line starts on a kept line break, or it starts a block (the document's start or a new
    paragraph) indented by fewer spaces than a code block's four (a tab makes code too)."""
    before = rendered[position - 1] if position > 0 else PARAGRAPH
    block = before == PARAGRAPH and len(indent) <= MAX_BLOCK_INDENT and set(indent) == {" "}
    return before == LINE_BREAK or block


def leading_breaks(source: str, mapping: list[int]) -> str:
    """The blank lines `source` starts with that show nothing ("\\n\\n" of "\\n\\nHello"), up to and
    including their last line break; "" when there are none or Markdown kept them."""
    stripped = source.lstrip()
    end = source.rfind("\n", 0, len(source) - len(stripped)) + 1
    return source[:end] if end and all(m < 0 for m in mapping[:end]) else ""


def show_markup(
    doc: QTextDocument, source: str, rendered: str, mapping: list[int], text_color: QColor,
    starting_breaks: bool = True,
) -> bool:
    """Insert every hidden run of `source` into `doc` (see the module docstring); whether anything
    changed (the caller then reads the document's text and aligns again). `starting_breaks`: the
    line breaks `source` starts with are inserted too."""
    runs = hidden_runs(source, rendered, mapping)
    lists_bare = _bare_lists(doc)
    breaks = leading_breaks(source, mapping) if starting_breaks else ""
    if not runs and not lists_bare and not breaks:
        return False
    faint = QColor(text_color)
    faint.setAlpha(MARKUP_ALPHA)
    qt = utf16_offsets(rendered)
    cursor = QTextCursor(doc)
    cursor.beginEditBlock()
    for run in reversed(runs):  # from the end, so the positions of the earlier runs hold
        text = source[run.start : run.end]
        line_end = source.find("\n", run.end)
        after = _next_shown(mapping, run.end, len(source) if line_end < 0 else line_end)
        before = _last_shown(mapping, run.start)
        if run.whole_line:
            _insert_line(cursor, doc, text.strip(), faint, qt, before, after)
        elif not text.strip():
            cursor.setPosition(qt[after])
            cursor.insertText(text.replace(" ", NO_BREAK_SPACE), cursor.charFormat())
        else:
            if after is not None:
                position, like = qt[after], qt[after]  # before the next character, looking like it
            else:
                position = qt[before + 1] if before is not None else 0
                like = max(position - 1, 0)  # after the last one shown, looking like that
            cursor.setPosition(position)
            cursor.insertText(text, _faint_format(doc, like, faint))
    if breaks:  # last: at the very start, before what was inserted there
        cursor.setPosition(0)
        cursor.insertText(breaks.replace("\n", LINE_BREAK).replace(" ", NO_BREAK_SPACE), cursor.charFormat())
    cursor.endEditBlock()
    return True


def _next_shown(mapping: list[int], start: int, line_end: int) -> int | None:
    """The document index of the first source character shown in [start, line_end)."""
    return next((mapping[k] for k in range(start, min(line_end, len(mapping))) if mapping[k] >= 0), None)


def _last_shown(mapping: list[int], end: int) -> int | None:
    """The document index of the last source character shown before `end`."""
    return next((mapping[k] for k in range(end - 1, -1, -1) if mapping[k] >= 0), None)


def _faint_format(doc: QTextDocument, position: int, faint: QColor) -> QTextCharFormat:
    """The format of the character at `position` (a heading's size, a link's look), faint."""
    cursor = QTextCursor(doc)
    cursor.setPosition(min(position + 1, doc.characterCount() - 1))
    fmt = QTextCharFormat(cursor.charFormat())
    fmt.setForeground(faint)
    fmt.setProperty(MARKUP_PROPERTY, True)
    fmt.setAnchor(False)
    fmt.clearProperty(QTextFormat.Property.AnchorHref)
    return fmt


def _insert_line(
    cursor: QTextCursor,
    doc: QTextDocument,
    text: str,
    faint: QColor,
    qt: list[int],
    before: int | None,
    after: int | None,
) -> None:
    """`text` as a faint line of its own: after the block holding the last character shown before
    it (before the first block when there is none), in a plain paragraph (never a code line)."""
    fmt = QTextCharFormat()
    fmt.setForeground(faint)
    fmt.setProperty(MARKUP_PROPERTY, True)
    if before is None:
        cursor.setPosition(0)
        cursor.insertBlock(cursor.blockFormat(), cursor.charFormat())
        cursor.movePosition(QTextCursor.MoveOperation.PreviousBlock)
    else:
        cursor.setPosition(qt[before])
        cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock)
        cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())
    cursor.setBlockFormat(QTextBlockFormat())
    cursor.insertText(text, fmt)


def _bare_lists(doc: QTextDocument) -> bool:
    """Take Qt's drawn bullets and numbers off every list (the model's markers are inserted as
    text instead); whether there was a list."""
    found = False
    block = doc.begin()
    while block.isValid():
        text_list = block.textList()
        if text_list is not None and text_list.format().style() != QTextListFormat.Style.ListStyleUndefined:
            fmt = text_list.format()
            fmt.setStyle(QTextListFormat.Style.ListStyleUndefined)
            text_list.setFormat(fmt)
            found = True
        block = block.next()
    return found
