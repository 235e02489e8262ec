"""Map characters of a Markdown source to characters of the document Qt renders from it.

Replies are rendered as Markdown, but probabilities belong to tokens of the source text. Markup
(`**`, list numbers, fences) disappears when rendered and whitespace changes shape, so each source
character is matched greedily to the next rendered character it equals; markup characters stay
unmatched (`ui.markup_shown` then draws them, and the source is aligned again). Whitespace matches whitespace of any kind (a newline becomes a paragraph break or a
space), except that a newline never becomes a no-break space.
"""

from __future__ import annotations

WHITESPACE = set(" \t\n\r\u2028\u2029\u00a0")
# Characters only the document has: the start and end of a table (QTextFrame) and of its cells,
# and the object replacement character. No source character is ever one of them.
RENDERED_ONLY = set("\ufdd0\ufdd1\ufffc")
# What a written space is shown as where Markdown would strip it (ui.markup_shown): never a line
# break's ("\n\n  Two." is a paragraph break, then the two spaces)
NO_BREAK_SPACE = "\u00a0"


def align(source: str, rendered: str, hidden: frozenset[int] = frozenset()) -> list[int]:
    """For each source index, the rendered index it became, or -1 (markup, dropped text).

    `hidden`: source indices known to show nothing (a fence line), never matched: the greedy match
    would otherwise give "```python"'s "p" the "p" of the code's first word "print"."""
    out = [-1] * len(source)
    j = 0
    n = len(rendered)
    for i, ch in enumerate(source):
        if i in hidden:
            continue
        while j < n and rendered[j] in RENDERED_ONLY:
            j += 1
        if j >= n:
            break
        r = rendered[j]
        if ch == r or (ch in WHITESPACE and r in WHITESPACE and not (ch == "\n" and r == NO_BREAK_SPACE)):
            out[i] = j
            j += 1
    return out


def soft_breaks(source: str, rendered: str, mapping: list[int]) -> list[int]:
    """Rendered indices of the spaces Markdown made of single line breaks ("Roses\\nare red").

    A reply's line breaks are the model's: a poem or a plain list must keep its lines, so the view
    turns these spaces back into line breaks. A whitespace run in the source holding exactly one
    newline, matched only to rendered spaces, is such a break (two newlines are a paragraph; a
    newline that became a block or line end, as in code, is one already).
    """
    out = []
    i, n = 0, len(source)
    while i < n:
        if source[i] not in WHITESPACE:
            i += 1
            continue
        k = i
        while k < n and source[k] in WHITESPACE:
            k += 1
        matched = [rendered[mapping[m]] for m in range(i, k) if mapping[m] >= 0]
        if source.count("\n", i, k) == 1 and matched and set(matched) == {" "}:  # not a block or line end
            out.append(max(mapping[m] for m in range(i, k)))
        i = k
    return out
