"""Full-text search over every message, with queries built from what a person typed (never FTS5
syntax from the user)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.search_words import query_words
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
    """Messages of every conversation matching all words of `text` (as prefixes; a word in a script
    without spaces, such as 自己紹介, anywhere in the text), best first (newest first when every word
    is such a word); `app.search_words.matched_spans(hit.text, text)` finds the matches in each."""
    spaced, substrings = query_words(text)
    match = fts_query(" ".join(spaced), prefix=True)
    if not match and not substrings:
        return []
    inside = "".join(" AND instr(m.text, ?) > 0" for _ in substrings)
    if match:
        sql = f"""
        SELECT m.conversation_id, c.title, m.id, m.role, m.text
        FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
        JOIN conversations c ON c.id = m.conversation_id
        WHERE messages_fts MATCH ?{inside} ORDER BY bm25(messages_fts) LIMIT ?
        """
        args = (match, *substrings, limit)
    else:
        sql = f"""
        SELECT m.conversation_id, c.title, m.id, m.role, m.text
        FROM messages m JOIN conversations c ON c.id = m.conversation_id
        WHERE 1{inside} ORDER BY m.id DESC LIMIT ?
        """
        args = (*substrings, limit)
    rows = db.query(sql, args)
    return [SearchHit(r[0], plain_text(r[1]), r[2], plain_text(r[3]), plain_text(r[4])) for r in rows]
