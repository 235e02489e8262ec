"""Coalescing a reply's token events into batches, without holding any of them back for long.

The worker's thread spends each decode step inside the model, so a record that arrives just after
a flush would wait for the next token (a slow step, a long pause) before anyone saw it. A
`FlushTimer` thread flushes held records once they are due, while the worker's thread is busy;
the record that ends a reply goes out at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class TokenBatcher:
    """Collects records and flushes them at most every `interval_s` (seconds on `clock`).

    The first record of a reply, and one that ends it (a `finish_reason`), are flushed at once;
    any other waits at most `interval_s`: `wake(seconds)` is asked to call `flush_due` when the
    held records are due (a `FlushTimer.after`; None: they wait for the next `add` or `flush`).
    Thread-safe: `flush_due` may run on another thread, and `flush` emits in order under a lock.
    """

    def __init__(
        self,
        flush: Callable[[list], None],
        interval_s: float,
        clock: Callable[[], float],
        wake: Callable[[float], None] | None = None,
    ):
        self._flush, self._interval, self._clock, self._wake = flush, interval_s, clock, wake
        self._pending: list = []
        self._last: float | None = None
        self._lock = threading.Lock()

    def add(self, record: Any) -> None:
        with self._lock:
            self._pending.append(record)
            now = self._clock()
            ends = getattr(record, "finish_reason", None) is not None
            if ends or self._last is None or now - self._last >= self._interval:
                self._flush_now(now)
            elif len(self._pending) == 1 and self._wake is not None:  # the first one held: be woken when due
                self._wake(self._last + self._interval - now)

    def flush(self, now: float | None = None) -> None:
        """Flush whatever is held (the end of a reply, or someone needs it now)."""
        with self._lock:
            self._flush_now(now)

    def flush_due(self) -> None:
        """Flush the held records if `interval_s` has passed since the last flush (a timer's call)."""
        with self._lock:
            if not self._pending or self._last is None:
                return
            early = self._last + self._interval - self._clock()
            if early <= 0:
                self._flush_now(None)
            elif self._wake is not None:  # woken a little early (two clocks): wait the rest
                self._wake(early)

    def _flush_now(self, now: float | None) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self._flush(batch)
        self._last = self._clock() if now is None else now


class FlushTimer:
    """A thread that calls `callback` once each time a deadline set by `after(seconds)` passes
    (a later `after` while one waits moves it). `close()` ends the thread; idempotent."""

    def __init__(self, callback: Callable[[], None]):
        self._callback = callback
        self._wakeup = threading.Condition()
        self._due: float | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="glassbox-token-flush", daemon=True)
        self._thread.start()

    def after(self, seconds: float) -> None:
        with self._wakeup:
            self._due = time.monotonic() + max(seconds, 0.0)
            self._wakeup.notify()

    def close(self) -> None:
        with self._wakeup:
            self._closed = True
            self._wakeup.notify()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._wakeup:
                while not self._closed and (self._due is None or time.monotonic() < self._due):
                    self._wakeup.wait(None if self._due is None else self._due - time.monotonic())
                if self._closed:
                    return
                self._due = None
            self._callback()
