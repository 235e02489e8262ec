"""Saving a reply while it streams: its tokens at least every `interval_s`, and its end.

Qt-free: the controller calls `add` as token batches arrive and `flush` from a timer, so a reply
survives a crash as far as it got. What a crash can cost:
- the app dies: at most `interval_s` of the reply (every saved chunk is in the operating system's
  hands when `flush` returns);
- the machine loses power or the OS crashes: at most `durable_every_s` of it. A chunk's commit is
  synced to disk only every `durable_every_s` (the sync held up the window's thread for 2–40 ms a
  chunk, docs/benchmarks.md); the others are synced by the next synced commit. The reply's end
  (`finish`) is always synced, and so is everything the user wrote (the store's other writes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from app.store import Store
from engine.events import TokenEvent

DURABLE_EVERY_S = 10.0  # a streaming reply's chunks are synced to disk at least this often


class ReplyRecorder:
    """Appends one reply's tokens to the store in chunks and marks it finished."""

    def __init__(self, store: Store, message_id: int, interval_s: float, clock: Callable[[], float] = time.monotonic,
                 durable_every_s: float = DURABLE_EVERY_S):  # fmt: skip
        self.store, self.message_id = store, message_id
        self._interval, self._clock, self._durable_every = interval_s, clock, durable_every_s
        self._unsaved: list[TokenEvent] = []
        self._saved_at = self._synced_at = clock()

    def add(self, tokens: Sequence[TokenEvent]) -> None:
        """Keep new tokens; save them (with any earlier unsaved ones) if `interval_s` has passed."""
        self._unsaved.extend(tokens)
        if self._clock() - self._saved_at >= self._interval:
            self.flush()

    def flush(self) -> None:
        """Save the tokens that arrived since the last save (one chunk row); synced to disk when
        `durable_every_s` has passed since the last synced one."""
        self._saved_at = now = self._clock()
        if self._unsaved:
            tokens, self._unsaved = self._unsaved, []
            durable = now - self._synced_at >= self._durable_every
            self.store.append_partial(self.message_id, tokens, durable=durable)
            if durable:
                self._synced_at = now

    def finish(self, reason: str, stats: Mapping[str, Any] | None) -> None:
        """Save what is left and mark the reply complete (synced: the whole reply is on disk)."""
        self.flush()
        self.store.finish(self.message_id, reason, stats)
