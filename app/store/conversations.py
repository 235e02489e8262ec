"""Conversations and their branching messages: create, read, append, branch, fork, delete.

Messages form a tree per conversation (`parent_id`): editing a user message or regenerating a reply
adds a sibling, and the conversation remembers which leaf is active. `active_path` walks from that
leaf back to the root. Every write is one transaction, committed (and synced to disk) before the call
returns, so nothing a user typed is lost when the app (or the machine) dies; a reply being streamed
is flushed with `append_partial` at least every second and survives as far as it got (an app crash
costs at most a second of it, a power cut at most the chunks since the last synced one:
`app.reply_recorder`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from typing import Any

from app.attachments import Attachment
from app.store import export, search
from app.store.database import Database
from app.store.records import (
    Conversation,
    Message,
    ReplyTokens,
    attachments_json,
    conversation_from_row,
    message_from_row,
    plain_text,
    reply_tokens,
    settings_json,
    stats_json,
    tokens_to_row,
)
from engine.events import TokenEvent

TITLE_CHARS = 60


class StoreError(ValueError):
    """A request the store cannot carry out (unknown id, wrong kind of message)."""


class Store(Database):
    """Conversations, messages and their tokens in the app's database (see `Database`)."""

    # -- conversations ---------------------------------------------------------------------

    def create_conversation(self, title: str = "") -> Conversation:
        now = time.time()
        with self.transaction() as db:
            cur = db.execute(
                "INSERT INTO conversations (title, title_is_auto, created, updated) VALUES (?, ?, ?, ?)",
                (title, 0 if title else 1, now, now),
            )
        return self.conversation(cur.lastrowid)

    def conversation(self, conversation_id: int) -> Conversation:
        rows = self.query("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if not rows:
            raise StoreError(f"no conversation {conversation_id}")
        return conversation_from_row(rows[0])

    def list_conversations(self) -> list[Conversation]:
        """All conversations, most recently active first."""
        rows = self.query("SELECT * FROM conversations ORDER BY updated DESC, id DESC")
        return [conversation_from_row(r) for r in rows]

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE conversations SET title = ?, title_is_auto = 0 WHERE id = ?", (title.strip(), conversation_id)
            )

    def fork_conversation(self, message_id: int) -> Conversation:
        """A new conversation holding a copy of the branch up to `message_id` (tokens included).

        The new conversation records where it came from (`forked_from_*`); the original is untouched.
        """
        source = self.message(message_id)
        branch = self._path_to(source.conversation_id, message_id)
        original = self.conversation(source.conversation_id)
        now = time.time()
        with self.transaction() as db:
            new_id = db.execute(
                "INSERT INTO conversations (title, title_is_auto, created, updated,"
                " forked_from_conversation_id, forked_from_message_id) VALUES (?, 0, ?, ?, ?, ?)",
                (f"{original.title or 'Untitled'} (branch)", now, now, original.id, message_id),
            ).lastrowid
            parent = None
            for m in branch:
                copy = _insert(db, new_id, parent, m.role, m.text, m.model, m.settings, m.finished, m.attachments)
                db.execute(
                    "UPDATE messages SET created = ?, finish_reason = ?, stats = ? WHERE id = ?",
                    (m.created, m.finish_reason, stats_json(m.stats), copy),
                )
                db.execute(
                    "INSERT INTO message_tokens (message_id, seq, data)"
                    " SELECT ?, seq, data FROM message_tokens WHERE message_id = ?",
                    (copy, m.id),
                )
                parent = copy
        return self.conversation(new_id)

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete a conversation with all its messages and tokens (memories stay)."""
        with self.transaction() as db:
            db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    # -- messages --------------------------------------------------------------------------

    def message(self, message_id: int) -> Message:
        rows = self.query("SELECT * FROM messages WHERE id = ?", (message_id,))
        if not rows:
            raise StoreError(f"no message {message_id}")
        return message_from_row(rows[0])

    def messages(self, conversation_id: int) -> list[Message]:
        """Every message of a conversation, all branches, oldest first."""
        rows = self.query("SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,))
        return [message_from_row(r) for r in rows]

    def active_path(self, conversation_id: int) -> list[Message]:
        """The messages of the current branch, root first.

        An active leaf that is not a message of this conversation (a damaged row) is taken to be
        the conversation's newest message, so what is shown is always this conversation's.
        """
        leaf = self.conversation(conversation_id).active_leaf_id
        rows = self.query(
            "SELECT id FROM messages WHERE conversation_id = ? ORDER BY id = ? DESC, id DESC LIMIT 1",
            (conversation_id, leaf),
        )
        return self._path_to(conversation_id, rows[0]["id"]) if rows else []

    def _path_to(self, conversation_id: int, message_id: int) -> list[Message]:
        """The messages from the root of the tree down to `message_id`, root first (within the
        conversation, and at most as many as it has: a damaged parent link cannot loop)."""
        rows = self.query(
            """
            WITH RECURSIVE path(id, depth) AS (
                SELECT ?, 0
                UNION ALL
                SELECT m.parent_id, path.depth + 1 FROM messages m JOIN path ON m.id = path.id
                WHERE m.parent_id IS NOT NULL
                  AND path.depth < (SELECT count(*) FROM messages WHERE conversation_id = ?)
            )
            SELECT m.* FROM path JOIN messages m ON m.id = path.id
            WHERE m.conversation_id = ? ORDER BY path.depth DESC
            """,
            (message_id, conversation_id, conversation_id),
        )
        seen: set[int] = set()
        path = []
        for r in rows:
            if r["id"] not in seen:
                seen.add(r["id"])
                path.append(message_from_row(r))
        return path

    def add_user_message(self, conversation_id: int, text: str, parent_id: int | None = None,
                         title_text: str | None = None, attachments: Sequence[Attachment] = ()) -> Message:
        """Append a user message (its typed `text` and the files attached to it) to the current
        branch (or under `parent_id`); committed at once.

        The first user message of a conversation that was never renamed becomes its title (or
        `title_text`, when given: the attached files' names when nothing was typed).
        """
        with self.transaction() as db:
            parent = _leaf(db, conversation_id) if parent_id is None else parent_id
            message_id = _insert(db, conversation_id, parent, "user", text, attachments=attachments)
            db.execute(
                "UPDATE conversations SET title = ? WHERE id = ? AND title_is_auto = 1 AND title = ''",
                (auto_title(text if title_text is None else title_text), conversation_id),
            )
        return self.message(message_id)

    def edit_user_message(self, message_id: int, text: str) -> Message:
        """Editing keeps the old branch: the new text becomes a sibling and the active branch; the
        files attached to the old version stay attached to the new one."""
        old = self.message(message_id)
        if old.role != "user":
            raise StoreError(f"message {message_id} is a {old.role} message, not a user message")
        with self.transaction() as db:
            new_id = _insert(db, old.conversation_id, old.parent_id, "user", text, attachments=old.attachments)
        return self.message(new_id)

    def start_assistant_message(
        self,
        conversation_id: int,
        model: str | None = None,
        settings: dict[str, Any] | None = None,
        parent_id: int | None = None,
    ) -> Message:
        """An empty, unfinished reply after the current leaf (or `parent_id`); fill it with append_partial."""
        with self.transaction() as db:
            parent = _leaf(db, conversation_id) if parent_id is None else parent_id
            message_id = _insert(
                db, conversation_id, parent, "assistant", "", model=model, settings=settings, finished=False
            )
        return self.message(message_id)

    def add_reply(
        self, conversation_id: int, text: str, model: str | None = None, finish_reason: str = "eos"
    ) -> Message:
        """A finished reply with text and no per-token record (one imported from elsewhere), after
        the current leaf."""
        with self.transaction() as db:
            message_id = _insert(db, conversation_id, _leaf(db, conversation_id), "assistant", text, model=model)
            db.execute("UPDATE messages SET finish_reason = ? WHERE id = ?", (finish_reason, message_id))
        return self.message(message_id)

    def regenerate(
        self, conversation_id: int, model: str | None = None, settings: dict[str, Any] | None = None
    ) -> Message:
        """Start a new reply as a sibling of the current branch's last reply (which is kept)."""
        path = self.active_path(conversation_id)
        last_reply = next((m for m in reversed(path) if m.role == "assistant"), None)
        if last_reply is None:
            raise StoreError(f"conversation {conversation_id} has no reply to regenerate")
        return self.start_assistant_message(conversation_id, model, settings, parent_id=last_reply.parent_id)

    def append_partial(self, message_id: int, tokens: Sequence[TokenEvent], durable: bool = True) -> None:
        """Append streamed tokens to a reply: their text to the reply's text and the tokens themselves
        as one chunk, in one transaction. `durable=False`: not synced to disk before returning (an
        app crash keeps it, a power cut may not: `Database.transaction`)."""
        if not tokens:
            return
        with self.transaction(durable) as db:
            db.execute("UPDATE messages SET text = text || ? WHERE id = ?", ("".join(t.text for t in tokens), message_id))
            db.execute(
                "INSERT INTO message_tokens (message_id, seq, data) VALUES (?, "
                "(SELECT coalesce(max(seq) + 1, 0) FROM message_tokens WHERE message_id = ?), ?)",
                (message_id, message_id, tokens_to_row(tokens)),
            )

    def finish(self, message_id: int, reason: str, stats: Mapping[str, Any] | None = None) -> None:
        """Mark a reply complete ("eos", "stop", "length", "cancelled", "error" …), keeping its
        `stats` (the worker's numbers; only STAT_KEYS with plain values are stored, NaN as null)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE messages SET finished = 1, finish_reason = ?, stats = ? WHERE id = ?",
                (reason, stats_json(stats), message_id),
            )
            db.execute(
                "UPDATE conversations SET updated = ? WHERE id = (SELECT conversation_id FROM messages WHERE id = ?)",
                (time.time(), message_id),
            )

    def tokens(self, message_id: int) -> ReplyTokens:
        """The stored tokens of a reply, in generation order, exactly as they streamed (see
        `records.reply_tokens` for what a damaged row costs); none for a message that is gone."""
        found = self.query("SELECT text FROM messages WHERE id = ?", (message_id,))
        text = plain_text(found[0]["text"]) if found else ""
        rows = self.query("SELECT data FROM message_tokens WHERE message_id = ? ORDER BY seq", (message_id,))
        return reply_tokens((r["data"] for r in rows), text)

    def delete_message(self, message_id: int) -> None:
        """Delete a message and everything after it on every branch (a turn the model never answered,
        because it could not fit the context window). The active branch moves back to its parent."""
        m = self.message(message_id)
        with self.transaction() as db:
            db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            leaf = _leaf(db, m.conversation_id)
            if leaf is not None and db.execute("SELECT 1 FROM messages WHERE id = ?", (leaf,)).fetchone() is None:
                db.execute("UPDATE conversations SET active_leaf_id = ? WHERE id = ?", (m.parent_id, m.conversation_id))

    # -- branches --------------------------------------------------------------------------

    def siblings(self, message_id: int) -> list[Message]:
        """The alternatives at this point of the tree (this message included), oldest first."""
        m = self.message(message_id)
        rows = self.query(
            "SELECT * FROM messages WHERE conversation_id = ? AND parent_id IS ? ORDER BY id",
            (m.conversation_id, m.parent_id),
        )
        return [message_from_row(r) for r in rows]

    def select_branch(self, message_id: int) -> list[Message]:
        """Make the branch through `message_id` active (down to its newest leaf); return its path."""
        m = self.message(message_id)
        with self.transaction() as db:
            leaf = message_id
            while row := db.execute(
                "SELECT id FROM messages WHERE parent_id = ? ORDER BY id DESC LIMIT 1", (leaf,)
            ).fetchone():
                leaf = row["id"]
            db.execute("UPDATE conversations SET active_leaf_id = ? WHERE id = ?", (leaf, m.conversation_id))
        return self.active_path(m.conversation_id)

    # -- search and export (see search.py, export.py) --------------------------------------

    def search(self, text: str, limit: int = 50) -> list[search.SearchHit]:
        return search.search_messages(self, text, limit)

    def export_markdown(self, conversation_id: int) -> str:
        return export.export_markdown(self, conversation_id)

    def export_json(self, conversation_id: int) -> dict[str, Any]:
        return export.export_json(self, conversation_id)


def _leaf(db: sqlite3.Connection, conversation_id: int) -> int | None:
    row = db.execute("SELECT active_leaf_id FROM conversations WHERE id = ?", (conversation_id,)).fetchone()
    if row is None:
        raise StoreError(f"no conversation {conversation_id}")
    return row[0]


def _insert(
    db: sqlite3.Connection,
    conversation_id: int,
    parent_id: int | None,
    role: str,
    text: str,
    model: str | None = None,
    settings: dict[str, Any] | None = None,
    finished: bool = True,
    attachments: Sequence[Attachment] = (),
) -> int:
    """Insert a message and make it the conversation's active leaf."""
    now = time.time()
    cur = db.execute(
        "INSERT INTO messages (conversation_id, parent_id, role, text, created, model, settings, finished, attachments)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (conversation_id, parent_id, role, text, now, model, settings_json(settings), int(finished),
         attachments_json(attachments)),
    )
    db.execute(
        "UPDATE conversations SET active_leaf_id = ?, updated = ? WHERE id = ?", (cur.lastrowid, now, conversation_id)
    )
    return cur.lastrowid


def auto_title(text: str) -> str:
    """A conversation title from its first user message: first words, at most TITLE_CHARS."""
    flat = " ".join(text.split())
    if len(flat) <= TITLE_CHARS:
        return flat
    cut = flat[:TITLE_CHARS].rsplit(" ", 1)[0] or flat[:TITLE_CHARS]
    return cut.rstrip(" ,.;:") + "…"
