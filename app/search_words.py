"""The words a conversation search matched, found again in a message's text (to mark them in the
search hits and in the transcript). Matched as the store's full-text index matches (SQLite FTS5,
`unicode61 remove_diacritics 2`, each query word a prefix): words are runs of letters and digits,
compared with case and accents folded. Spans are (start, length) in Python characters."""

from __future__ import annotations

import re
import unicodedata

TOKEN = re.compile(r"[^\W_]+", re.UNICODE)  # a word as unicode61 sees one: "_" and "'" split words


def _fold(word: str) -> str:
    """A word as the index compares it: case and diacritics folded (unicode61 remove_diacritics 2)."""
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c)).casefold()


def matched_spans(text: str, query: str) -> list[tuple[int, int]]:
    """Where the search `query` matches in `text`: (start, length) in Python characters of each
    word of `text` that starts with one of the query's words, as the search (prefix, case- and
    accent-blind) matched it, in order. `matched_spans("Paris, paris!", "par")` == [(0, 5), (7, 5)].
    """
    wanted = {_fold(w) for w in TOKEN.findall(query)}
    wanted.discard("")
    return [(m.start(), m.end() - m.start()) for m in TOKEN.finditer(text)
            if any(_fold(m.group()).startswith(w) for w in wanted)]  # fmt: skip
