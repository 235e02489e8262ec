"""The SQLite connection shared by the conversation store and the memory store: one lock, one
write transaction at a time."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app.store.schema import DURABLE_SYNC, open_database


class Database:
    """The app's SQLite database (WAL). Thread-safe: every call takes one lock.

    `recovered_from` is where an unreadable old file was moved; `fallback_reason` is set when even a
    fresh file could not be opened, so this session runs on an in-memory database.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        opened = open_database(self.path)
        self.recovered_from, self.fallback_reason = opened.recovered_from, opened.fallback_reason
        self._conn = opened.connection
        self._lock = threading.RLock()

    def notice(self) -> str:
        """What the user must know about the database this session (empty when all is well)."""
        if self.fallback_reason:
            return (
                f"Conversations cannot be saved this session ({self.fallback_reason}); "
                "nothing you write now will be kept after Glassbox closes."
            )
        if self.recovered_from:
            return (
                f"The conversation database could not be read, so a new one was started. "
                f"The old file was kept as {self.recovered_from}."
            )
        return ""

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction: committed on success, rolled back on any error.

        `durable` (the default): the commit is on disk when this returns, a power cut included
        (`synchronous=FULL`: the write-ahead log is synced). False: on disk once the operating
        system writes it (`synchronous=NORMAL`: no sync), which an app crash never loses but a power
        cut or OS crash may; the next durable commit syncs it too (the log is written in order), so
        what is lost is only ever the newest non-durable commits. For the chunks of a streaming
        reply, whose sync would hold up the window (2–40 ms on these disks, 1–2 ms without)."""
        with self._lock:
            if not durable:
                self._conn.execute("PRAGMA synchronous=NORMAL")
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            finally:
                if not durable:
                    self._conn.execute(f"PRAGMA synchronous={DURABLE_SYNC}")

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()
