"""Full-text search over every message, with queries built from what a person typed (never FTS5
syntax from the user)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.store.database import Database
from app.store.records import plain_text

WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class SearchHit:
    """One matching message: `text` is the message's whole text, as written."""

    conversation_id: int
    conversation_title: str
    message_id: int
    role: str
    text: str


def fts_query(
    text: str, operator: str = "AND", prefix: bool = False, drop: frozenset[str] = frozenset()
) -> str:
    """An FTS5 MATCH expression for the words of `text`, each quoted so no input is syntax.

    Returns "" when no word is left (callers then skip the query). `drop` is a set of lower-case
    words (stopwords) to leave out; `prefix` lets each word match as a prefix (search as you type).
    """
    words = [w for w in WORD.findall(text.lower()) if w not in drop]
    unique = list(dict.fromkeys(words))
    star = "*" if prefix else ""
    return f" {operator} ".join(f'"{w}"{star}' for w in unique)


def search_messages(db: Database, text: str, limit: int = 50) -> list[SearchHit]:
    """Messages of every conversation matching all words of `text` (as prefixes), best first;
    `app.search_words.matched_spans(hit.text, text)` finds the matched words in each."""
    match = fts_query(text, prefix=True)
    if not match:
        return []
    rows = db.query(
        """
        SELECT m.conversation_id, c.title, m.id, m.role, m.text
        FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
        JOIN conversations c ON c.id = m.conversation_id
        WHERE messages_fts MATCH ? ORDER BY bm25(messages_fts) LIMIT ?
        """,
        (match, limit),
    )
    return [SearchHit(r[0], plain_text(r[1]), r[2], plain_text(r[3]), plain_text(r[4])) for r in rows]
