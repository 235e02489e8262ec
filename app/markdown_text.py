"""Text placed in a Markdown document (the Markdown export) so that a Markdown viewer shows it as
written: a reply's Markdown keeps its formatting but its raw HTML is escaped (a viewer would hide
`<smirk>` or let `<div>` swallow a paragraph); plain text (a user message, a title) has every
character that Markdown would read as syntax escaped, and its line breaks kept.
"""

from __future__ import annotations

import re

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.DOTALL)
INLINE_SYNTAX = re.compile(r"([\\`*_\[\]<>&|~])")
LINE_START_SYNTAX = re.compile(r"^(\s*)([#+\->=]|\d+[.)])")


def escape_raw_html(markdown: str) -> str:
    """`markdown` with `<` and `&` outside code written as entities, so no viewer reads HTML in it."""
    text, pieces, position = markdown, [], 0
    for start, end in _code_ranges(text):  # fenced blocks and code spans stay as they are
        pieces.append(_entities(text[position:start]))
        pieces.append(text[start:end])
        position = end
    pieces.append(_entities(text[position:]))
    return "".join(pieces)


def _entities(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;")


def _code_ranges(text: str) -> list[tuple[int, int]]:
    """[start, end) of fenced blocks and code spans, in order."""
    ranges, offset, fence, block_start = [], 0, None, 0
    prose_start = 0
    for line in text.split("\n"):
        match = FENCE.match(line)
        if fence is None and match:
            ranges += _spans(text, prose_start, offset)
            fence, block_start = match.group(1), offset
        elif fence is not None and match and match.group(1)[0] == fence[0] and len(match.group(1)) >= len(fence):
            ranges.append((block_start, offset + len(line)))
            fence, prose_start = None, offset + len(line)
        offset += len(line) + 1
    if fence is not None:
        ranges.append((block_start, len(text)))
    else:
        ranges += _spans(text, prose_start, len(text))
    return ranges


def _spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    return [(start + m.start(), start + m.end()) for m in CODE_SPAN.finditer(text[start:end])]


def plain_as_markdown(text: str) -> str:
    """Plain text written so a Markdown viewer shows exactly it: syntax characters escaped, and each
    single line break a hard break (a trailing backslash)."""
    lines = []
    for line in text.split("\n"):
        line = INLINE_SYNTAX.sub(r"\\\1", line)
        line = LINE_START_SYNTAX.sub(lambda m: m.group(1) + "\\" + m.group(2) if len(m.group(2)) == 1
                                     else m.group(1) + m.group(2)[:-1] + "\\" + m.group(2)[-1], line)  # fmt: skip
        lines.append(line)
    out = []
    for i, line in enumerate(lines):
        following = lines[i + 1] if i + 1 < len(lines) else ""
        out.append(line + "\\" if line.strip() and following.strip() else line)
    return "\n".join(out)
