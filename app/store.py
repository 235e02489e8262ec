"""The conversation store: conversations, branching messages, per-token probabilities and memories.

One SQLite file in WAL mode. Every write is one transaction, committed before the call returns, so
nothing a user typed is lost when the app (or the machine) dies; a reply being streamed is flushed
with `append_partial` at least every second and survives as far as it got.

Messages form a tree per conversation (`parent_id`): editing a user message or regenerating a reply
adds a sibling, and the conversation remembers which leaf is active. `active_path` walks from that
leaf back to the root.

A file that cannot be opened (corrupt, not a database, or from a newer Glassbox) is moved aside and a
fresh database is created in its place; `recovered_from` says where the old one went.
"""

from __future__ import annotations

import json
import math
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.markdown_text import escape_raw_html, plain_as_markdown

# Each entry upgrades the schema by one version; `PRAGMA user_version` is the number applied.
MIGRATIONS: list[str] = [
    """
    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        title TEXT NOT NULL DEFAULT '',
        title_is_auto INTEGER NOT NULL DEFAULT 1,  -- replaced by the first user message until renamed
        created REAL NOT NULL,
        updated REAL NOT NULL,
        active_leaf_id INTEGER,  -- the message the current branch ends at (no FK: set by the store)
        forked_from_conversation_id INTEGER REFERENCES conversations(id) ON DELETE SET NULL,
        forked_from_message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL
    );
    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
        parent_id INTEGER REFERENCES messages(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
        text TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL,
        model TEXT,
        settings TEXT,  -- JSON of the decoding settings the reply was generated with
        finished INTEGER NOT NULL DEFAULT 1,
        finish_reason TEXT
    );
    CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
    CREATE INDEX messages_by_parent ON messages(parent_id, id);
    -- A reply's tokens, one row per flush (chunk): appending never rewrites what is stored.
    CREATE TABLE message_tokens (
        message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        data TEXT NOT NULL,  -- JSON list of compact token records (see TokenRecord.to_row)
        PRIMARY KEY (message_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE memories (
        id INTEGER PRIMARY KEY,
        text TEXT NOT NULL,
        pinned INTEGER NOT NULL DEFAULT 0,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        source_message_id INTEGER REFERENCES messages(id) ON DELETE SET NULL
    );

    CREATE VIRTUAL TABLE messages_fts USING fts5(
        text, content='messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
    CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
        INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER messages_fts_update AFTER UPDATE OF text ON messages BEGIN
        INSERT INTO messages_fts(messages_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO messages_fts(rowid, text) VALUES (new.id, new.text);
    END;

    CREATE VIRTUAL TABLE memories_fts USING fts5(
        text, content='memories', content_rowid='id', tokenize='unicode61 remove_diacritics 2');
    CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
        INSERT INTO memories_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER memories_fts_update AFTER UPDATE OF text ON memories BEGIN
        INSERT INTO memories_fts(memories_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO memories_fts(rowid, text) VALUES (new.id, new.text);
    END;
    """,
    # 2: a finished reply's numbers (JSON of STAT_KEYS), shown again when it is reopened.
    """
    ALTER TABLE messages ADD COLUMN stats TEXT;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

TITLE_CHARS = 60
SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26  # primary result codes meaning "this file is not usable"
INTERRUPTED = "interrupted"  # finish reason of a reply the app died in the middle of
# The numbers of a finished reply that are kept (the worker's stats dict has more).
STAT_KEYS = (
    "prompt_tokens", "cached_tokens", "computed_tokens", "generated_tokens", "ttft_s", "tokens_per_s",
    "dropped_messages", "context_used", "context_length", "kv_cache", "finish_reason",
)  # fmt: skip


class StoreError(ValueError):
    """A request the store cannot carry out (unknown id, wrong kind of message)."""


# ---------------------------------------------------------------------------------------------
# Values handed out by the store.


@dataclass(frozen=True)
class Conversation:
    id: int
    title: str
    created: float
    updated: float
    active_leaf_id: int | None
    forked_from_conversation_id: int | None = None
    forked_from_message_id: int | None = None


@dataclass(frozen=True)
class Message:
    id: int
    conversation_id: int
    parent_id: int | None
    role: str
    text: str
    created: float
    model: str | None = None
    settings: dict[str, Any] | None = None
    finished: bool = True
    finish_reason: str | None = None
    stats: dict[str, Any] | None = None  # a finished reply's numbers (STAT_KEYS), if it has them


def clean_stats(stats: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The STAT_KEYS of a reply's stats with plain JSON values (NaN and infinities become None);
    None when nothing is left."""
    stats = stats or {}
    out: dict[str, Any] = {}
    for key in STAT_KEYS:
        if key not in stats:
            continue
        value = stats[key]
        if isinstance(value, float) and not math.isfinite(value):
            value = None
        elif value is not None and not isinstance(value, str | int | float):  # bool is an int
            continue
        out[key] = value
    return out or None


@dataclass(frozen=True)
class TokenRecord:
    """One generated token as stored: what was chosen, how likely it was, and what else was likely.

    Log-probabilities (natural log). `top` is the raw distribution's best alternatives as
    (id, piece, logprob); `top_final` the sampling distribution's as (id, logprob).
    """

    id: int
    piece: str
    logprob: float
    sampled_logprob: float
    entropy: float
    top: list[tuple[int, str, float]] = field(default_factory=list)
    top_final: list[tuple[int, float]] = field(default_factory=list)

    @property
    def prob(self) -> float:
        return math.exp(self.logprob)

    @classmethod
    def from_event(cls, event: Any, piece_of: Any = None) -> TokenRecord:
        """From an `engine.generate.TokenEvent`; `piece_of(id)` names the alternatives (a Tokenizer.piece)."""
        name = piece_of or (lambda _id: "")
        return cls(
            id=event.token,
            piece=event.piece,
            logprob=event.logprob,
            sampled_logprob=event.sampled_logprob,
            entropy=event.entropy,
            top=[(i, name(i), lp) for i, lp in event.top_raw],
            top_final=list(event.top_final),
        )

    @classmethod
    def from_mapping(cls, record: Mapping[str, Any]) -> TokenRecord:
        """From the worker's plain-dict token record (keys id, piece, logprob, sampled_logprob,
        entropy, top_raw [[id, piece, logprob]], top_final [[id, piece?, logprob]])."""
        return cls(
            id=record["id"],
            piece=record["piece"],
            logprob=record["logprob"],
            sampled_logprob=record["sampled_logprob"],
            entropy=record["entropy"],
            top=[(t[0], t[1], t[-1]) for t in record.get("top_raw", ())],
            top_final=[(t[0], t[-1]) for t in record.get("top_final", ())],
        )

    def to_row(self) -> list:
        """Compact JSON-ready form: [id, piece, logprob, sampled_logprob, entropy, top, top_final]."""
        return [
            self.id,
            self.piece,
            _r(self.logprob),
            _r(self.sampled_logprob),
            _r(self.entropy),
            [[i, p, _r(lp)] for i, p, lp in self.top],
            [[i, _r(lp)] for i, lp in self.top_final],
        ]

    @classmethod
    def from_row(cls, row: list) -> TokenRecord:
        tid, piece, lp, slp, ent, top, top_final = row
        return cls(tid, piece, lp, slp, ent, [tuple(t) for t in top], [tuple(t) for t in top_final])


def _r(x: float) -> float | None:
    """Round for storage; -inf (a token the sampler filtered out) is stored as null."""
    return round(x, 5) if math.isfinite(x) else None


@dataclass(frozen=True)
class SearchHit:
    conversation_id: int
    conversation_title: str
    message_id: int
    role: str
    snippet: str


# ---------------------------------------------------------------------------------------------
# Full-text queries built from what a person typed (never FTS5 syntax from the user).

WORD = re.compile(r"\w+", re.UNICODE)


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


# ---------------------------------------------------------------------------------------------


class Store:
    """The app's SQLite database. Thread-safe: every call takes one lock."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.recovered_from: Path | None = None  # where an unreadable old database was moved
        self.fallback_reason: str | None = None  # set when even a fresh file failed (in-memory then)
        self._lock = threading.RLock()
        self._conn = self._open_or_recover()

    # -- opening ---------------------------------------------------------------------------

    def _open_or_recover(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                return self._open(self.path)
            except UnreadableDatabase as e:
                self.recovered_from = self._move_aside(e.why)
                return self._open(self.path)
        except (sqlite3.Error, OSError) as e:
            # Never crash on open (a locked or unwritable file is not corrupt, so it is left alone):
            # keep the app usable in memory, and say why nothing will be kept.
            self.fallback_reason = f"could not open {self.path}: {e}"
            return self._open(":memory:")

    @staticmethod
    def _connect(target: str | Path) -> sqlite3.Connection:
        conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def _open(self, target: str | Path) -> sqlite3.Connection:
        conn = self._connect(target)
        try:
            try:
                check = conn.execute("PRAGMA quick_check").fetchone()[0]
            except sqlite3.DatabaseError as e:
                if getattr(e, "sqlite_errorcode", 0) & 0xFF not in (SQLITE_CORRUPT, SQLITE_NOTADB):
                    raise
                raise UnreadableDatabase("corrupt", str(e)) from e
            if check != "ok":
                raise UnreadableDatabase("corrupt", f"quick_check: {check}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise UnreadableDatabase(
                    "newer", f"schema version {version}, this Glassbox knows {SCHEMA_VERSION}"
                )
            conn.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit survives power loss too, not only a crash; flushes are ~1/s, so cheap.
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            for v in range(version, SCHEMA_VERSION):
                self._migrate(conn, v + 1, MIGRATIONS[v])
            # A reply still marked unfinished was cut off when the app last died.
            conn.execute(
                "UPDATE messages SET finished = 1, finish_reason = ? WHERE finished = 0", (INTERRUPTED,)
            )
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _migrate(conn: sqlite3.Connection, version: int, script: str) -> None:
        try:
            conn.executescript(f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {version};\nCOMMIT;")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _move_aside(self, why: str) -> Path:
        """Rename the database (and its WAL/SHM companions) to `<name>.<why>-<timestamp>`."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.{why}-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.{why}-{stamp}-{n}")
        self.path.rename(target)
        for suffix in ("-wal", "-shm"):
            companion = self.path.with_name(self.path.name + suffix)
            if companion.exists():
                companion.rename(target.with_name(target.name + suffix))
        return target

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # -- transactions (also used by MemoryStore) -------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed on success, rolled back on any error."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

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
        return _conversation(rows[0])

    def list_conversations(self) -> list[Conversation]:
        """All conversations, most recently active first."""
        rows = self.query("SELECT * FROM conversations ORDER BY updated DESC, id DESC")
        return [_conversation(r) for r in rows]

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE conversations SET title = ?, title_is_auto = 0 WHERE id = ?",
                (title.strip(), conversation_id),
            )

    def fork_conversation(self, message_id: int) -> Conversation:
        """A new conversation holding a copy of the branch up to `message_id` (tokens included).

        The new conversation records where it came from (`forked_from_*`); the original is untouched.
        """
        source = self.message(message_id)
        branch = self._path_to(message_id)
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
                copy = self._insert(db, new_id, parent, m.role, m.text, m.model, m.settings, m.finished)
                db.execute(
                    "UPDATE messages SET created = ?, finish_reason = ?, stats = ? WHERE id = ?",
                    (m.created, m.finish_reason, _stats_json(m.stats), copy),
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
        return _message(rows[0])

    def messages(self, conversation_id: int) -> list[Message]:
        """Every message of a conversation, all branches, oldest first."""
        rows = self.query("SELECT * FROM messages WHERE conversation_id = ? ORDER BY id", (conversation_id,))
        return [_message(r) for r in rows]

    def active_path(self, conversation_id: int) -> list[Message]:
        """The messages of the current branch, root first."""
        leaf = self.conversation(conversation_id).active_leaf_id
        return [] if leaf is None else self._path_to(leaf)

    def _path_to(self, message_id: int) -> list[Message]:
        """The messages from the root of the tree down to `message_id`, root first."""
        rows = self.query(
            """
            WITH RECURSIVE path(id, depth) AS (
                SELECT ?, 0
                UNION ALL
                SELECT m.parent_id, path.depth + 1 FROM messages m JOIN path ON m.id = path.id
                WHERE m.parent_id IS NOT NULL
            )
            SELECT m.* FROM path JOIN messages m ON m.id = path.id ORDER BY path.depth DESC
            """,
            (message_id,),
        )
        return [_message(r) for r in rows]

    def add_user_message(self, conversation_id: int, text: str, parent_id: int | None = None) -> Message:
        """Append a user message to the current branch (or under `parent_id`); committed at once.

        The first user message of a conversation that was never renamed becomes its title.
        """
        with self.transaction() as db:
            parent = self._leaf(db, conversation_id) if parent_id is None else parent_id
            message_id = self._insert(db, conversation_id, parent, "user", text)
            db.execute(
                "UPDATE conversations SET title = ? WHERE id = ? AND title_is_auto = 1 AND title = ''",
                (auto_title(text), conversation_id),
            )
        return self.message(message_id)

    def edit_user_message(self, message_id: int, text: str) -> Message:
        """Editing keeps the old branch: the new text becomes a sibling and the active branch."""
        old = self.message(message_id)
        if old.role != "user":
            raise StoreError(f"message {message_id} is a {old.role} message, not a user message")
        with self.transaction() as db:
            new_id = self._insert(db, old.conversation_id, old.parent_id, "user", text)
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
            parent = self._leaf(db, conversation_id) if parent_id is None else parent_id
            message_id = self._insert(
                db, conversation_id, parent, "assistant", "", model=model, settings=settings, finished=False
            )
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

    def append_partial(self, message_id: int, text: str, tokens: Sequence[TokenRecord] = ()) -> None:
        """Append streamed text (the new part only) and its tokens to a reply, in one transaction."""
        with self.transaction() as db:
            db.execute("UPDATE messages SET text = text || ? WHERE id = ?", (text, message_id))
            if tokens:
                db.execute(
                    "INSERT INTO message_tokens (message_id, seq, data) VALUES (?, "
                    "(SELECT coalesce(max(seq) + 1, 0) FROM message_tokens WHERE message_id = ?), ?)",
                    (message_id, message_id, json.dumps([t.to_row() for t in tokens], ensure_ascii=False)),
                )

    def finish(self, message_id: int, reason: str, stats: Mapping[str, Any] | None = None) -> None:
        """Mark a reply complete ("eos", "stop", "length", "cancelled", "error" …), keeping its
        `stats` (the worker's numbers; only STAT_KEYS with plain values are stored, NaN as null)."""
        with self.transaction() as db:
            db.execute(
                "UPDATE messages SET finished = 1, finish_reason = ?, stats = ? WHERE id = ?",
                (reason, _stats_json(clean_stats(stats)), message_id),
            )
            db.execute(
                "UPDATE conversations SET updated = ? WHERE id = "
                "(SELECT conversation_id FROM messages WHERE id = ?)",
                (time.time(), message_id),
            )

    def tokens(self, message_id: int) -> list[TokenRecord]:
        """The stored tokens of a reply, in generation order."""
        rows = self.query("SELECT data FROM message_tokens WHERE message_id = ? ORDER BY seq", (message_id,))
        return [TokenRecord.from_row(t) for r in rows for t in json.loads(r["data"])]

    def delete_message(self, message_id: int) -> None:
        """Delete a message and everything after it on every branch (a turn the model never answered,
        because it could not fit the context window). The active branch moves back to its parent."""
        m = self.message(message_id)
        with self.transaction() as db:
            db.execute("DELETE FROM messages WHERE id = ?", (message_id,))
            leaf = self._leaf(db, m.conversation_id)
            if leaf is not None and db.execute("SELECT 1 FROM messages WHERE id = ?", (leaf,)).fetchone() is None:
                db.execute(
                    "UPDATE conversations SET active_leaf_id = ? WHERE id = ?", (m.parent_id, m.conversation_id)
                )

    # -- branches --------------------------------------------------------------------------

    def siblings(self, message_id: int) -> list[Message]:
        """The alternatives at this point of the tree (this message included), oldest first."""
        m = self.message(message_id)
        rows = self.query(
            "SELECT * FROM messages WHERE conversation_id = ? AND parent_id IS ? ORDER BY id",
            (m.conversation_id, m.parent_id),
        )
        return [_message(r) for r in rows]

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

    # -- search ----------------------------------------------------------------------------

    def search(self, text: str, limit: int = 50, marks: tuple[str, str] = ("[", "]")) -> list[SearchHit]:
        """Messages of every conversation matching all words of `text` (as prefixes), best first."""
        match = fts_query(text, prefix=True)
        if not match:
            return []
        rows = self.query(
            """
            SELECT m.conversation_id, c.title, m.id, m.role,
                   snippet(messages_fts, 0, ?, ?, '…', 12) AS snippet
            FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid
            JOIN conversations c ON c.id = m.conversation_id
            WHERE messages_fts MATCH ? ORDER BY bm25(messages_fts) LIMIT ?
            """,
            (marks[0], marks[1], match, limit),
        )
        return [SearchHit(r[0], r[1], r[2], r[3], r["snippet"]) for r in rows]

    # -- export ----------------------------------------------------------------------------

    def export_markdown(self, conversation_id: int) -> str:
        """The current branch as Markdown (docs/export-format.md)."""
        conv = self.conversation(conversation_id)
        lines = [f"# {plain_as_markdown(conv.title or 'Untitled conversation')}", ""]
        for m in self.active_path(conversation_id):
            heading = m.role.capitalize() + (f" ({plain_as_markdown(m.model)})" if m.model else "")
            # a reply is Markdown, shown without raw HTML; a user message is plain text
            text = escape_raw_html(m.text) if m.role == "assistant" else plain_as_markdown(m.text)
            lines += [f"## {heading}", "", text, ""]
            if m.role == "assistant" and m.finish_reason not in (None, "eos", "stop"):
                lines += [f"*[reply ended: {m.finish_reason}]*", ""]
        return "\n".join(lines)

    def export_json(self, conversation_id: int) -> dict[str, Any]:
        """The whole conversation (every branch, every token) as a JSON-ready dict (docs/export-format.md)."""
        conv = self.conversation(conversation_id)
        return {
            "format": "glassbox-conversation",
            "version": 1,
            "conversation": {
                "id": conv.id,
                "title": conv.title,
                "created": conv.created,
                "updated": conv.updated,
                "active_path": [m.id for m in self.active_path(conversation_id)],
            },
            "messages": [self._export_message(m) for m in self.messages(conversation_id)],
        }

    def _export_message(self, m: Message) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": m.id,
            "parent_id": m.parent_id,
            "role": m.role,
            "text": m.text,
            "created": m.created,
        }
        if m.role == "assistant":
            out |= {
                "model": m.model,
                "settings": m.settings,
                "finish_reason": m.finish_reason,
                "stats": m.stats,
                "tokens": [_export_token(t) for t in self.tokens(m.id)],
            }
        return out

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _leaf(db: sqlite3.Connection, conversation_id: int) -> int | None:
        row = db.execute(
            "SELECT active_leaf_id FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"no conversation {conversation_id}")
        return row[0]

    @staticmethod
    def _insert(
        db: sqlite3.Connection,
        conversation_id: int,
        parent_id: int | None,
        role: str,
        text: str,
        model: str | None = None,
        settings: dict[str, Any] | None = None,
        finished: bool = True,
    ) -> int:
        """Insert a message and make it the conversation's active leaf."""
        now = time.time()
        cur = db.execute(
            "INSERT INTO messages (conversation_id, parent_id, role, text, created, model, settings, finished)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                conversation_id,
                parent_id,
                role,
                text,
                now,
                model,
                None if settings is None else json.dumps(settings),
                int(finished),
            ),
        )
        db.execute(
            "UPDATE conversations SET active_leaf_id = ?, updated = ? WHERE id = ?",
            (cur.lastrowid, now, conversation_id),
        )
        return cur.lastrowid


class UnreadableDatabase(Exception):
    """The file is corrupt or not a database ("corrupt"), or from a newer Glassbox ("newer")."""

    def __init__(self, why: str, detail: str):
        super().__init__(f"{why}: {detail}")
        self.why = why


def auto_title(text: str) -> str:
    """A conversation title from its first user message: first words, at most TITLE_CHARS."""
    flat = " ".join(text.split())
    if len(flat) <= TITLE_CHARS:
        return flat
    cut = flat[:TITLE_CHARS].rsplit(" ", 1)[0] or flat[:TITLE_CHARS]
    return cut.rstrip(" ,.;:") + "…"


def _conversation(r: sqlite3.Row) -> Conversation:
    return Conversation(
        r["id"], r["title"], r["created"], r["updated"], r["active_leaf_id"],
        r["forked_from_conversation_id"], r["forked_from_message_id"],
    )  # fmt: skip


def _message(r: sqlite3.Row) -> Message:
    return Message(
        id=r["id"],
        conversation_id=r["conversation_id"],
        parent_id=r["parent_id"],
        role=r["role"],
        text=r["text"],
        created=r["created"],
        model=r["model"],
        settings=None if r["settings"] is None else json.loads(r["settings"]),
        finished=bool(r["finished"]),
        finish_reason=r["finish_reason"],
        stats=None if r["stats"] is None else json.loads(r["stats"]),
    )


def _stats_json(stats: dict[str, Any] | None) -> str | None:
    return None if stats is None else json.dumps(stats, allow_nan=False)


def _export_token(t: TokenRecord) -> dict[str, Any]:
    def prob(lp: float | None) -> float | None:
        return None if lp is None else round(math.exp(lp), 6)

    return {
        "id": t.id,
        "text": t.piece,
        "logprob": t.logprob,
        "prob": prob(t.logprob),
        "sampled_logprob": t.sampled_logprob,
        "sampled_prob": prob(t.sampled_logprob),
        "entropy": t.entropy,
        "top": [{"id": i, "text": p, "logprob": lp, "prob": prob(lp)} for i, p, lp in t.top],
        "top_final": [{"id": i, "logprob": lp, "prob": prob(lp)} for i, lp in t.top_final],
    }
