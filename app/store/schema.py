"""Opening the database: schema migrations, and recovery from a file that cannot be used.

A file that cannot be opened (corrupt, not a database, or from a newer Glassbox) is moved aside and
a fresh database is created in its place; a file that cannot be opened at all (locked, unwritable)
leaves the app running on an in-memory database. `open_database` says which happened.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.paths import aside_name
from app.store.records import upgrade_token_rows

# Each entry upgrades the schema by one version (an SQL script, or a function for a change of row
# format); `PRAGMA user_version` is the number applied.
MIGRATIONS: list[str | Callable[[sqlite3.Connection], None]] = [
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
        data TEXT NOT NULL,  -- JSON of one chunk of TokenEvents (records.TOKEN_ROW_FORMAT)
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
    # 3: every token row keeps the token's own text (records.TOKEN_ROW_FORMAT); old rows converted once.
    upgrade_token_rows,
    # 4: what a conversation sets for itself (its system prompt, stop strings): conversation_settings.py
    """
    CREATE TABLE conversation_settings (
        conversation_id INTEGER PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
        data TEXT NOT NULL  -- JSON object; a missing key means the app's setting
    );
    """,
    # 5: the files attached to a user message, a part of it beside its typed text (app/attachments.py).
    # Older messages keep NULL: their text holds any attached file inline and is shown as it was.
    """
    ALTER TABLE messages ADD COLUMN attachments TEXT;  -- JSON list of Attachment.to_json(); NULL: none
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26  # primary result codes meaning "this file is not usable"
INTERRUPTED = "interrupted"  # finish reason of a reply the app died in the middle of
DURABLE_SYNC = "FULL"  # the connection's `synchronous`: every commit is synced unless asked otherwise


class UnreadableDatabase(Exception):
    """The file is corrupt or not a database ("corrupt"), or from a newer Glassbox ("newer")."""

    def __init__(self, why: str, detail: str):
        super().__init__(f"{why}: {detail}")
        self.why = why


@dataclass(frozen=True)
class OpenedDatabase:
    connection: sqlite3.Connection
    recovered_from: Path | None = None  # where an unreadable old database was moved
    fallback_reason: str | None = None  # set when even a fresh file failed (in-memory then)


def open_database(path: Path) -> OpenedDatabase:
    """Open (creating and migrating as needed) the database at `path`; never raises for a bad file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return OpenedDatabase(_open(path))
        except UnreadableDatabase as e:
            moved = _move_aside(path, e.why)
            return OpenedDatabase(_open(path), recovered_from=moved)
    except (sqlite3.Error, OSError) as e:
        # Never crash on open (a locked or unwritable file is not corrupt, so it is left alone):
        # keep the app usable in memory, and say why nothing will be kept.
        return OpenedDatabase(_open(":memory:"), fallback_reason=f"could not open {path}: {e}")


def _connect(target: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False, timeout=10)
    conn.row_factory = sqlite3.Row
    return conn


def _open(target: str | Path) -> sqlite3.Connection:
    conn = _connect(target)
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
            raise UnreadableDatabase("newer", f"schema version {version}, this Glassbox knows {SCHEMA_VERSION}")
        conn.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit survives power loss too, not only a crash (a streaming reply's chunks ask
        # for less: `Database.transaction(durable=False)`)
        conn.execute(f"PRAGMA synchronous={DURABLE_SYNC}")
        conn.execute("PRAGMA foreign_keys=ON")
        for v in range(version, SCHEMA_VERSION):
            _migrate(conn, v + 1, MIGRATIONS[v])
        # A reply still marked unfinished was cut off when the app last died.
        conn.execute("UPDATE messages SET finished = 1, finish_reason = ? WHERE finished = 0", (INTERRUPTED,))
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection, version: int, step: str | Callable[[sqlite3.Connection], None]) -> None:
    """Apply one migration and set `user_version`, all in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if callable(step):
            step(conn)
        else:
            for statement in _statements(step):
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _statements(script: str) -> list[str]:
    """The complete SQL statements of a script (triggers' inner semicolons kept)."""
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return [s for s in statements if s]


def _move_aside(path: Path, why: str) -> Path:
    """Rename the database (and its WAL/SHM companions) to `<name>.<why>-<timestamp>`."""
    target = aside_name(path, why)
    path.rename(target)
    for suffix in ("-wal", "-shm"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            companion.rename(target.with_name(target.name + suffix))
    return target
