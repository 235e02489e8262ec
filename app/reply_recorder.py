"""Saving a reply while it streams: its tokens at least every `interval_s`, and its end.

Qt-free: the controller calls `add` as token batches arrive and `flush` from a timer, so a reply
survives a crash as far as it got (at most `interval_s` of it lost).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from app.store import Store
from engine.events import TokenEvent


class ReplyRecorder:
    """Appends one reply's tokens to the store in chunks and marks it finished."""

    def __init__(self, store: Store, message_id: int, interval_s: float, clock: Callable[[], float] = time.monotonic):
        self.store, self.message_id = store, message_id
        self._interval, self._clock = interval_s, clock
        self._unsaved: list[TokenEvent] = []
        self._saved_at = clock()

    def add(self, tokens: Sequence[TokenEvent]) -> None:
        """Keep new tokens; save them (with any earlier unsaved ones) if `interval_s` has passed."""
        self._unsaved.extend(tokens)
        if self._clock() - self._saved_at >= self._interval:
            self.flush()

    def flush(self) -> None:
        """Save the tokens that arrived since the last save (one chunk row)."""
        self._saved_at = self._clock()
        if self._unsaved:
            tokens, self._unsaved = self._unsaved, []
            self.store.append_partial(self.message_id, tokens)

    def finish(self, reason: str, stats: Mapping[str, Any] | None) -> None:
        """Save what is left and mark the reply complete."""
        self.flush()
        self.store.finish(self.message_id, reason, stats)
