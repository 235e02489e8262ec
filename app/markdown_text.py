"""Text handed to a Markdown renderer (the reply view, a viewer of the Markdown export) so that it
shows exactly what was written.

A reply is Markdown: its formatting renders (emphasis, headings, lists, code, tables, links), but
nothing in it is HTML and no character the model wrote is lost. `markdown_as_written` prepares it:
- Raw HTML is text: `<smirk>` shows as `<smirk>` (its `<` is escaped).
- Character references are text: `&amp;` shows as `&amp;`, `&lt;b&gt;` as `&lt;b&gt;` (a model that
  writes them is writing about HTML; the renderer would otherwise show `&` and `<b>`).
- Backslash escapes: a backslash before one of Markdown's formatting characters
  (MARKDOWN_ESCAPES: `` ` * _ # + - . ! < > | ~ = ``) is Markdown's own escape and is not shown
  (`\\*not italic\\*` shows `*not italic*`; the reply view then draws that backslash faint, as it
  draws all markup, `ui.markup_shown`), and a lone backslash at the end of a line is
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

Plain text — what a person wrote (a message), a title, a model name — is never read as syntax, and
the Markdown file must read as it too (people open exports in a text editor), so it is escaped only
where that is needed, which is decided by parsing (`shows_as_written`: CommonMark with raw HTML on,
GitHub's tables and strikethrough, as most viewers have them):
- A message (`plain_as_markdown`) that a viewer already shows as written is written as it is, its
  single line breaks as Markdown's other hard break (two spaces before the line end, which the file
  does not show). One that Markdown would change (a list, a heading, `*stars*`, `<b>`, `&amp;`, an
  attached file's code fence) is written as a fenced block whose fence is longer than any backtick
  run inside: every CommonMark viewer shows its content literally, and the file holds the message
  byte for byte, where backslash escapes would put a `\\` before half of its characters.
- A heading's text (`plain_line_as_markdown`: a title, a model name) cannot be a block: it is
  written as it is when it shows so, else with a backslash before only the characters that need one.
"""

from __future__ import annotations

import re
from functools import lru_cache

from markdown_it import MarkdownIt

MARKDOWN_ESCAPES = frozenset("`*_#+-.!<>|~=")  # a backslash before these is Markdown's escape
LINE_END = re.compile(r"\r\n?|\n")
TO_ESCAPE = re.compile(r"(\\+)(?=([\s\S]?))|[&<]")  # a run of backslashes (and what follows it), & or <
# What may start something verbatim inside a paragraph: a backslash (an escape), a backtick run
# (a code span), or "<" (an autolink: a URI or an e-mail address in angle brackets).
INLINE_START = re.compile(r"[\\`<]")
TICKS = re.compile(r"`+")
BACKSLASHES = re.compile(r"\\+")
AUTOLINK = re.compile(
    r"<[A-Za-z][A-Za-z0-9.+-]{1,31}:[^\s<>]*>"
    r"|<[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*>"
)
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


@lru_cache(maxsize=8)
def block_tokens(markdown: str) -> tuple:
    """markdown-it's block tokens for `markdown` as the reply view's parser reads it (CommonMark,
    raw HTML off, tables and strikethrough); `token.map` is each block's [first, last) line.
    Cached: one render reads the same text several times (code ranges, fences); never mutate them."""
    return tuple(_parser().parse(markdown))


def verbatim_ranges(markdown: str) -> list[tuple[int, int]]:
    """[start, end) of what a Markdown renderer shows verbatim, in order: code blocks (fenced or
    indented, whole lines), and the code spans and autolinks inside paragraphs, headings and table
    rows (a code span never reaches across blocks: a list item or a quote ends it)."""
    starts = [0] + [m.end() for m in LINE_END.finditer(markdown)]

    def offset(line: int) -> int:
        return starts[line] if line < len(starts) else len(markdown)

    blocks, inline = [], set()
    for token in block_tokens(markdown):
        if token.map and token.type in ("fence", "code_block"):
            blocks.append((offset(token.map[0]), offset(token.map[1])))
        elif token.map and token.type == "inline":
            inline.add((offset(token.map[0]), offset(token.map[1])))
    spans = [span for start, end in sorted(inline) for span in inline_verbatim(markdown, start, end)]
    return sorted(blocks + spans)


def inline_verbatim(markdown: str, start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) of the code spans and autolinks in markdown[start:end] (one paragraph, heading
    or table row), read left to right as CommonMark reads what `markdown_as_written` makes of it:
    one backslash before a character of MARKDOWN_ESCAPES escapes it, and a longer run of them is
    the model's characters (doubled there), so a backtick after it is not escaped; a backtick run
    not escaped opens a code span that the next run of the same length closes, else it is text;
    inside a code span a backslash is a character; an autolink is `<` scheme `:` … `>` or an
    e-mail address in angle brackets."""
    spans, i = [], start
    while (found := INLINE_START.search(markdown, i, end)) is not None:
        i = found.start()
        if markdown[i] == "\\":  # as `markdown_as_written` leaves it: one escapes, more are characters
            run = BACKSLASHES.match(markdown, i, end).end() - i
            i += 2 if run == 1 and i + 1 < end and markdown[i + 1] in MARKDOWN_ESCAPES else run
        elif markdown[i] == "`":
            opening = TICKS.match(markdown, i, end).end()
            closing = next((m for m in TICKS.finditer(markdown, opening, end) if m.end() - m.start() == opening - i), None)
            if closing is not None:
                spans.append((i, closing.end()))
            i = closing.end() if closing is not None else opening
        elif (link := AUTOLINK.match(markdown, i, end)) is not None:
            spans.append(link.span())
            i = link.end()
        else:
            i += 1
    return spans


@lru_cache(maxsize=1)
def _reader() -> MarkdownIt:
    """A Markdown viewer as most are: CommonMark, raw HTML on, GitHub's tables and strikethrough."""
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


# A backslash escape (CommonMark: before ASCII punctuation), a tilde, or what may open HTML
ESCAPE_OR_DOUBT = re.compile(r"\\[!-/:-@\[-`{-~]|~|<[A-Za-z!?/]")
DELIMITER_ROW = re.compile(r"^[ \t]*[|:-][|: \t-]*$", re.MULTILINE)  # what may be a table's delimiter row
ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")  # what a backslash escapes (CommonMark)


def shown_text(markdown: str, heading: bool = False) -> str | None:
    """The text a Markdown viewer shows for `markdown` when that is only text (paragraphs, or one
    heading when `heading`; single line breaks as "\n", paragraphs apart by "\n\n"); None when it
    would show anything else: formatting, a list, a quote, code, a link, HTML, a hard break."""
    # Where viewers differ from markdown-it, doubt: GitHub's strikethrough also takes single tildes
    # (`~gone~`) and Qt's (md4c) even strikes a space (`~ ~`), so two tildes not escaped may be one;
    # and md4c reads more as HTML (`<!1`), so a `<` not escaped before a letter, `!`, `?` or `/` may be
    doubts = [m.group() for m in ESCAPE_OR_DOUBT.finditer(markdown) if not m.group().startswith("\\")]
    if doubts.count("~") > 1 or any(d.startswith("<") for d in doubts):
        return None
    if any("|" in row and "-" in row for row in DELIMITER_ROW.findall(markdown)):
        return None  # md4c takes "1\n-|" for a table (its header row needs no pipe); markdown-it does not
    block = ("heading_open", "heading_close") if heading else ("paragraph_open", "paragraph_close")
    shown = []
    for token in _reader().parse(markdown):
        if token.type == "inline":
            parts = []
            for child in token.children or ():
                if child.type not in ("text", "softbreak"):
                    return None
                parts.append(child.content if child.type == "text" else "\n")
            shown.append("".join(parts))
        elif token.type not in block:
            return None
    if heading and len(shown) != 1:
        return None
    return "\n\n".join(shown)


# A line that is only a list marker ("+", "1.") is an empty list item, which by CommonMark cannot
# interrupt a paragraph; Qt's md4c reads it as one once it ends in the hard break's two spaces.
BARE_LIST_MARKER = re.compile(r"^[ \t]*(?:[-+*]|\d{1,9}[.)])[ \t]*$", re.MULTILINE)


def shows_as_written(text: str) -> bool:
    """Whether a Markdown viewer shows `text` (written as it is) exactly as written."""
    return not BARE_LIST_MARKER.search(text) and shown_text(text) == text


def plain_as_markdown(text: str) -> str:
    """What a person wrote, as Markdown that a viewer shows exactly as written and that reads as
    written in the file: as it is (single line breaks made hard: two trailing spaces) when a viewer
    shows it so, else a fenced block (see the module docstring). Blank lines around it are left out."""
    text = text.strip("\n")
    if not text:
        return ""
    if shows_as_written(text):
        return "\n\n".join(paragraph.replace("\n", "  \n") for paragraph in text.split("\n\n"))
    return fenced_as_written(text)


def fenced_as_written(text: str) -> str:
    """`text` as a fenced ```` ```text ```` block that every CommonMark viewer shows literally: its
    fence is longer than any backtick run inside, so no line of the text can close it. The block
    holds the text line for line (a last line break is the block's own)."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)  # only a fence this long closes it: no line inside can
    body = text if text.endswith("\n") else text + "\n"
    return f"{fence}text\n{body}{fence}"


def plain_line_as_markdown(text: str) -> str:
    """One line of plain text as a heading's text (after "# "): as it is when a viewer shows it so,
    else with a backslash before only the punctuation that needs one (line breaks become spaces)."""
    text = " ".join(text.splitlines()).strip()

    def written(escaped: set[int]) -> str:
        return "".join("\\" + ch if i in escaped else ch for i, ch in enumerate(text))

    def shows(escaped: set[int]) -> bool:
        return shown_text("# " + written(escaped), heading=True) == text

    escaped = {i for i, ch in enumerate(text) if ch in ASCII_PUNCTUATION}
    if shows(set()):
        return text
    if not shows(escaped):  # leading/trailing spaces a heading drops, a character no escape keeps
        return written(escaped)
    for i in sorted(escaped, reverse=True):  # drop each backslash not needed, last first: `\\*b*`, `\\<b>`
        if shows(escaped - {i}):
            escaped.discard(i)
    return written(escaped)
