"""The words a conversation search matched, found again in a message's text (to mark them in the
search hits and in the transcript). Matched as the store's full-text index matches (SQLite FTS5,
`unicode61 remove_diacritics 2`, each query word a prefix): words are runs of letters and digits,
compared with case and accents folded. Spans are (start, length) in Python characters.

Scripts written without spaces between words (Chinese, Japanese, Thai, …) make a whole sentence
one "word" for the index, so a query word in such a script (`unspaced`) is looked for as a
substring instead (the store: `instr`), and only its own characters are marked."""

from __future__ import annotations

import re
import unicodedata

TOKEN = re.compile(r"[^\W_]+", re.UNICODE)  # a word as unicode61 sees one: "_" and "'" split words
# Scripts written without spaces between words: CJK ideographs (and extensions), kana, Hangul, Thai,
# Lao, Khmer, Myanmar.
UNSPACED = re.compile(
    "[\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af"
    "\u0e00-\u0eff\u1780-\u17ff\u1000-\u109f\U00020000-\U0003ffff]"
)


def unspaced(word: str) -> bool:
    """Whether a query word is in a script written without spaces (looked for as a substring)."""
    return bool(UNSPACED.search(word))


def query_words(query: str) -> tuple[list[str], list[str]]:
    """(the words the full-text index matches as prefixes, the words looked for as substrings),
    each in order, without repeats."""
    words = list(dict.fromkeys(TOKEN.findall(query)))
    return [w for w in words if not unspaced(w)], [w for w in words if unspaced(w)]


def fold(word: str) -> str:
    """A word as the index compares it: case and diacritics folded (unicode61 remove_diacritics 2)."""
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c)).casefold()


def matched_spans(text: str, query: str) -> list[tuple[int, int]]:
    """Where the search `query` matches in `text`: (start, length) in Python characters of each
    word of `text` that starts with one of the query's words, as the search (prefix, case- and
    accent-blind) matched it, and of each occurrence of an unspaced query word, in order. `matched_spans("Paris, paris!", "par")` == [(0, 5), (7, 5)].
    """
    spaced, substrings = query_words(query)
    wanted = {fold(w) for w in spaced}
    wanted.discard("")
    spans = [(m.start(), m.end() - m.start()) for m in TOKEN.finditer(text)
             if any(fold(m.group()).startswith(w) for w in wanted)]  # fmt: skip
    for word in substrings:
        spans += [(m.start(), len(word)) for m in re.finditer(re.escape(word), text)]
    return sorted(set(spans))
