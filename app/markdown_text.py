"""Text handed to a Markdown renderer (the reply view, a viewer of the Markdown export) so that it
shows exactly what was written.

A reply is Markdown: its formatting renders (emphasis, headings, lists, code, tables, links), but
nothing in it is HTML and no character the model wrote is lost. `markdown_as_written` prepares it:
- Raw HTML is text: `<smirk>` shows as `<smirk>` (its `<` is escaped).
- Character references are text: `&amp;` shows as `&amp;`, `&lt;b&gt;` as `&lt;b&gt;` (a model that
  writes them is writing about HTML; the renderer would otherwise show `&` and `<b>`).
- Backslash escapes: a backslash before one of Markdown's formatting characters
  (MARKDOWN_ESCAPES: `` ` * _ # + - . ! < > | ~ = ``) is Markdown's own escape and is not shown
  (`\\*not italic\\*` shows `*not italic*`), and a lone backslash at the end of a line is
  Markdown's hard line break; every other backslash is the model's character and is shown, each
  one: LaTeX keeps its backslashes (`\\(x^2\\)`, `\\[ … \\]`, `a \\\\` at a line's end, `\\{`,
  `\\%`, `\\&`), and so does a Windows path (`C:\\Users`, `\\\\server`).
- A block marker with nothing in its block is text: a line that is only `#` (up to `######`, with
  or without closing `#`s) or only `>` would be an empty heading or quote, showing nothing of
  what was written; it shows as the characters (a model that writes `#` lines writes characters).
- Code (fenced and indented blocks, code spans) and autolinks (`<https://…>`) are left exactly as
  written: a renderer shows them verbatim already.
Where code is comes from a CommonMark parser (markdown-it-py, with raw HTML off as in the reply
view), so indented blocks, fences inside lists and lazy paragraph lines are told apart as the
renderer tells them apart. One known difference from Qt's parser (md4c): a fence opened on a
list item's or a quote's own line (`- ```py`) and followed by a fence line outside the item is
closed there by Qt, at the item's end by CommonMark; what lies between may then show `&amp;` as `&`.

Plain text (a user message, a title, a model name) goes through `plain_as_markdown`: every
character Markdown would read as syntax is escaped, and its line breaks are kept.
"""

from __future__ import annotations

import re
from functools import lru_cache

from markdown_it import MarkdownIt

MARKDOWN_ESCAPES = frozenset("`*_#+-.!<>|~=")  # a backslash before these is Markdown's escape
LINE_END = re.compile(r"\r\n?|\n")
TO_ESCAPE = re.compile(r"(\\+)(?=([\s\S]?))|[&<]")  # a run of backslashes (and what follows it), & or <
# A code span (CommonMark: a backtick run closed by a run of the same length, within one paragraph)
# or an autolink (a URI or an e-mail address in angle brackets), whichever starts first.
INLINE_VERBATIM = re.compile(
    r"(?<![`\\])(?P<ticks>`+)(?!`)(?:(?!\n[ \t]*\n).)+?(?<!`)(?P=ticks)(?!`)"
    r"|<[A-Za-z][A-Za-z0-9.+-]{1,31}:[^\s<>]*>"
    r"|<[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*>",
    re.DOTALL,
)
INLINE_SYNTAX = re.compile(r"([\\`*_\[\]<>&|~])")
LINE_START_SYNTAX = re.compile(r"^(\s*)([#+\->=]|\d+[.)])")
EMPTY_BLOCK = re.compile(r"^([ ]{0,3})(#{1,6}(?:[ \t]+#*)?|>)([ \t]*)$", re.MULTILINE)  # an empty heading or quote


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    parser.core.ruler.disable(["inline", "text_join"])  # only the blocks are needed: code spans are found below
    return parser


def markdown_as_written(markdown: str) -> str:
    """`markdown` with everything outside code that a renderer would not show as written escaped:
    `&` and `<` always, and every backslash that is not Markdown's escape or hard line break (see
    the module docstring). The renderer then shows each character the model wrote, in order, except
    Markdown's own formatting."""
    if not any(ch in markdown for ch in "&<\\#>"):
        return markdown  # nothing to escape: no need to find the code
    pieces, position = [], 0
    for start, end in verbatim_ranges(markdown):
        pieces.append(_escape(markdown[position:start]))
        pieces.append(markdown[start:end])
        position = end
    pieces.append(_escape(markdown[position:]))
    return "".join(pieces)


def _escape(text: str) -> str:
    text = TO_ESCAPE.sub(_escaped, text)
    return EMPTY_BLOCK.sub(lambda m: f"{m.group(1)}\\{m.group(2)}{m.group(3)}", text)


def _escaped(match: re.Match) -> str:
    run, after = match.group(1), match.group(2)
    if run is None:  # & or <
        return "\\" + match.group(0)
    if len(run) == 1 and after and (after in MARKDOWN_ESCAPES or after in "\r\n"):
        return run  # Markdown's escape or hard line break: the renderer takes the backslash
    return run * 2  # the model's backslashes (LaTeX's \\, a path): each one shown


def verbatim_ranges(markdown: str) -> list[tuple[int, int]]:
    """[start, end) of what a Markdown renderer shows verbatim, in order: code blocks (fenced or
    indented, whole lines), and the code spans and autolinks inside paragraphs, headings and table
    rows (a code span never reaches across blocks: a list item or a quote ends it)."""
    starts = [0] + [m.end() for m in LINE_END.finditer(markdown)]

    def offset(line: int) -> int:
        return starts[line] if line < len(starts) else len(markdown)

    blocks, inline = [], set()
    for token in _parser().parse(markdown):
        if token.map and token.type in ("fence", "code_block"):
            blocks.append((offset(token.map[0]), offset(token.map[1])))
        elif token.map and token.type == "inline":
            inline.add((offset(token.map[0]), offset(token.map[1])))
    spans = [m.span() for start, end in sorted(inline) for m in INLINE_VERBATIM.finditer(markdown, start, end)]
    return sorted(blocks + spans)


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
