"""Where a word too long for its line may break: Qt wraps text only between words and cuts (or
overflows) a longer one, so a path, a URL or a title that is one long word gets invisible break
points (U+200B) between its characters, in what is drawn only, never in the text kept."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

BREAK = "\u200b"  # zero-width space: where a word too long for its row may wrap
_SPACES = re.compile(r"(\s+)")


def breakable(text: str, width: float, advance: Callable[[str], float]) -> str:
    """`text` with a break point (U+200B, drawn as nothing) between the characters of each word
    (a run without whitespace) wider than `width` (as `advance` measures text, in pixels), so a
    wrapped line breaks inside that word instead of cutting it; never before a combining mark or a
    joiner, nor after a joiner. Whitespace is kept as it is; words that fit are unchanged."""
    pieces = _SPACES.split(text)
    for k in range(0, len(pieces), 2):  # words at even places, the whitespace between at odd ones
        word = pieces[k]
        if len(word) > 1 and advance(word) > width:
            out = [word[0]]
            for before, ch in zip(word, word[1:], strict=False):
                if not _joins(before, ch):
                    out.append(BREAK)
                out.append(ch)
            pieces[k] = "".join(out)
    return "".join(pieces)


def _joins(before: str, ch: str) -> bool:
    """Whether `ch` belongs with the character before it (a combining mark, a variation selector,
    either side of a zero-width joiner)."""
    return before == "\u200d" or unicodedata.category(ch) in ("Mn", "Me", "Cf") or 0xFE00 <= ord(ch) <= 0xFE0F
