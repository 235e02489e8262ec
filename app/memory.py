"""Memories: short facts about the user that every new request can carry.

`MemoryStore` keeps them in the app's database (with an FTS5 index); `detect_intent` recognises a
user asking to remember or to forget something; `MemoryStore.relevant` picks what goes into a
request: every pinned memory plus those the user's message is about (`app.memory_recall`).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from app.memory_recall import STOPWORDS, recall
from app.store import Store, StoreError, fts_query
from app.store.records import Memory, memory_from_row

_POLITE = r"(?:(?:hey|ok|okay|so|and|also|oh)[,\s]+)*(?:please[,\s]+)?(?:(?:can|could|would|will) you[,\s]+)?"
_REMEMBER = re.compile(
    rf"^\s*{_POLITE}(?:remember|don'?t forget|do not forget|keep in mind)"
    r"(?:(?:\s+that\b|\s*:|\s*,|\s+)(?P<fact>.*))?$",
    re.IGNORECASE | re.DOTALL,
)
# "remember when/what …" asks the model something; it is not a fact to keep.
_NOT_A_FACT = re.compile(r"^(?:when|what|how|who|whom|why|where|which|if|whether|me)\b", re.IGNORECASE)
_FORGET = re.compile(
    rf"^\s*{_POLITE}forget\b(?:\s+(?:that|about|what i said about|everything about)\b|\s*:)?\s*(?P<query>.*)$",
    re.IGNORECASE | re.DOTALL,
)


@dataclass(frozen=True)
class RememberIntent:
    """The user asked to keep `fact` (already normalised: "My name is Ada")."""

    fact: str


@dataclass(frozen=True)
class ForgetIntent:
    """The user asked to forget something described by `query`; the UI confirms the candidates."""

    query: str


@dataclass(frozen=True)
class NothingNamed:
    """The user asked to remember or to forget but named nothing: "remember that", "forget it."

    Nothing is saved or deleted, and `explanation` says so to the user.
    """

    verb: str  # "remember" or "forget"

    @property
    def explanation(self) -> str:
        if self.verb == "remember":
            return (
                "There is nothing to remember after “remember that”, so nothing was saved. "
                "Write the fact after it, for example “remember that my name is Ada”."
            )
        return (
            "There is nothing to forget in that message, so nothing was forgotten. "
            "Say what to forget, for example “forget my name”."
        )


Intent = RememberIntent | ForgetIntent | NothingNamed


def detect_intent(user_text: str) -> Intent | None:
    """Recognise "remember that …" and "forget …" at the start of a message; None otherwise.

    A request that names nothing to keep or to look for (no word but "that", "it" and the like)
    is `NothingNamed`, never a memory "That".
    """
    text = user_text.strip()
    if text.endswith("?"):  # "Do you remember …?", "Can you remember that?" are questions
        return None
    if m := _REMEMBER.match(text):
        fact = normalise_fact(m.group("fact") or "")
        if _NOT_A_FACT.match(fact):
            return None
        return RememberIntent(fact) if names_something(fact) else NothingNamed("remember")
    if m := _FORGET.match(text):
        query = m.group("query").strip().rstrip(".!").strip()
        return ForgetIntent(query) if names_something(query) else NothingNamed("forget")
    return None


def names_something(text: str) -> bool:
    """Whether `text` has a word that carries a topic (not only "that", "it", "me", punctuation)."""
    return bool(fts_query(text, drop=STOPWORDS))


def normalise_fact(fact: str) -> str:
    """One line, no trailing full stop, capitalised: "my name is Ada." -> "My name is Ada"."""
    flat = " ".join(fact.split()).rstrip(".!").strip()
    return flat[:1].upper() + flat[1:]


class MemoryStore:
    """The memories table of a `Store`: add, edit, delete, list, pin, search."""

    def __init__(self, store: Store):
        self._store = store

    def add(self, text: str, pinned: bool = False, source_message_id: int | None = None) -> Memory:
        """Save a fact; saving the same text again (any case) returns the existing memory."""
        text = " ".join(text.split())
        if not text:
            raise StoreError("a memory needs some text")
        now = time.time()
        with self._store.transaction() as db:
            row = db.execute("SELECT id FROM memories WHERE lower(text) = lower(?)", (text,)).fetchone()
            if row is not None:
                memory_id = row["id"]
            else:
                memory_id = db.execute(
                    "INSERT INTO memories (text, pinned, created, updated, source_message_id)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (text, int(pinned), now, now, source_message_id),
                ).lastrowid
        return self.get(memory_id)

    def get(self, memory_id: int) -> Memory:
        rows = self._store.query("SELECT * FROM memories WHERE id = ?", (memory_id,))
        if not rows:
            raise StoreError(f"no memory {memory_id}")
        return memory_from_row(rows[0])

    def edit(self, memory_id: int, text: str) -> Memory:
        text = " ".join(text.split())
        if not text:
            raise StoreError("a memory needs some text")
        self._update(memory_id, "text = ?", text)
        return self.get(memory_id)

    def pin(self, memory_id: int, pinned: bool = True) -> Memory:
        """Pinned memories go into every request, whatever the user says."""
        self._update(memory_id, "pinned = ?", int(pinned))
        return self.get(memory_id)

    def delete(self, memory_id: int) -> None:
        with self._store.transaction() as db:
            db.execute("DELETE FROM memories WHERE id = ?", (memory_id,))

    def list(self) -> list[Memory]:
        """Every memory: pinned first, then newest first."""
        rows = self._store.query("SELECT * FROM memories ORDER BY pinned DESC, created DESC, id DESC")
        return [memory_from_row(r) for r in rows]

    def search(self, text: str, limit: int = 10) -> list[Memory]:
        """Memories sharing topic words with `text`, best BM25 match first (forget candidates)."""
        match = fts_query(text, operator="OR", drop=STOPWORDS)
        if not match:
            return []
        rows = self._store.query(
            "SELECT m.* FROM memories_fts JOIN memories m ON m.id = memories_fts.rowid"
            " WHERE memories_fts MATCH ? ORDER BY bm25(memories_fts) LIMIT ?",
            (match, limit),
        )
        return [memory_from_row(r) for r in rows]

    def forget_candidates(self, intent: ForgetIntent, limit: int = 10) -> list[Memory]:
        """What a "forget …" request may mean; nothing is deleted until the user confirms."""
        return self.search(intent.query, limit)

    def relevant(self, user_text: str, limit: int = 5) -> list[Memory]:
        """Every pinned memory, then up to `limit` unpinned memories the user's message is about
        (`app.memory_recall.recall`: a memory recalled covers at least half of the message's
        IDF-weighted topic words, so one shared ordinary word, "name" in "Name three planets.",
        recalls nothing)."""
        everything = self.list()
        by_id = {m.id: m for m in everything}
        about = recall(user_text, [(m.id, m.text) for m in everything], limit + len(everything))
        return [m for m in everything if m.pinned] + [by_id[i] for i in about if not by_id[i].pinned][:limit]

    def _update(self, memory_id: int, assignment: str, value: object) -> None:
        with self._store.transaction() as db:
            cur = db.execute(
                f"UPDATE memories SET {assignment}, updated = ? WHERE id = ?", (value, time.time(), memory_id)
            )
            if cur.rowcount == 0:
                raise StoreError(f"no memory {memory_id}")
