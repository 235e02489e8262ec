"""Map characters of a Markdown source to characters of the document Qt renders from it.

Replies are rendered as Markdown, but probabilities belong to tokens of the source text. Markup
(`**`, list numbers, fences) disappears when rendered and whitespace changes shape, so each source
character is matched greedily to the next rendered character it equals; markup characters stay
unmatched. Whitespace matches whitespace of any kind (a newline becomes a paragraph break or a
space).
"""

from __future__ import annotations

WHITESPACE = set(" \t\n\r\u2028\u2029\u00a0")


def align(source: str, rendered: str) -> list[int]:
    """For each source index, the rendered index it became, or -1 (markup, dropped text)."""
    out = [-1] * len(source)
    j = 0
    n = len(rendered)
    for i, ch in enumerate(source):
        if j >= n:
            break
        r = rendered[j]
        if ch == r or (ch in WHITESPACE and r in WHITESPACE):
            out[i] = j
            j += 1
    return out
