"""The recent API requests, kept for the window's Requests view and its status bar (Qt-free).

`routes` adds a `ServedRequest` when a request reaches the model thread's queue and completes it
when it ends (answered, refused, failed or abandoned by its client); listeners hear of both, from
the server's thread (a window hands them over to its own thread). Only the newest `keep`
requests are kept, in memory: nothing is written to disk.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.events import TokenEvent

DEFAULT_KEEP = 200

_ids = itertools.count(1)


@dataclass
class ServedRequest:
    """One API request: what was asked, the tokens answered (as the window shows a reply's), its numbers.

    `endpoint` is "chat" or "completions"; `messages` are what the chat template got (chat), `prompt`
    the raw text (completions). `stats` is the engine's (empty until it ends); `finish_reason` is
    OpenAI's word, or None while it runs; `error` a refusal's or failure's message."""

    endpoint: str
    client_model: str | None
    messages: tuple[dict[str, str], ...] = ()
    prompt: str | None = None
    id: int = field(default_factory=lambda: next(_ids))
    started: float = field(default_factory=time.time)  # seconds since the epoch
    events: list[TokenEvent] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None
    error: str | None = None
    done: bool = False
    generate: Any = None  # the app.backend.GenerateRequest it ran (set on the model thread): the Inspector's

    @property
    def text(self) -> str:
        return "".join(ev.text for ev in self.events)

    @property
    def tokens_in(self) -> int:
        return int(self.stats.get("prompt_tokens", 0))

    @property
    def tokens_out(self) -> int:
        return len(self.events)

    @property
    def ttft_s(self) -> float:
        ttft = self.stats.get("ttft_s")  # None: no token came (stopped while the prompt was read)
        return math.nan if ttft is None else float(ttft)

    @property
    def tokens_per_s(self) -> float:
        return float(self.stats.get("tokens_per_s", math.nan))


Listener = Callable[[ServedRequest], None]


class RequestLog:
    """Thread-safe: `start` and `end` are called from the server's event loop, readers from anywhere."""

    def __init__(self, keep: int = DEFAULT_KEEP):
        self._lock = threading.Lock()
        self._recent: deque[ServedRequest] = deque(maxlen=keep)
        self._running = 0
        self._listeners: list[Listener] = []

    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unlisten(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    @property
    def running(self) -> int:
        with self._lock:
            return self._running

    def recent(self) -> list[ServedRequest]:
        """Oldest first."""
        with self._lock:
            return list(self._recent)

    def start(self, request: ServedRequest) -> None:
        with self._lock:
            self._recent.append(request)
            self._running += 1
        self._tell(request)

    def end(self, request: ServedRequest, stats: dict[str, Any] | None = None, finish_reason: str | None = None,
            error: str | None = None) -> None:
        """Mark `request` ended (once; later calls change nothing)."""
        with self._lock:
            if request.done:
                return
            request.done = True
            request.stats = dict(stats or {})
            request.finish_reason = finish_reason
            request.error = error
            self._running -= 1
        self._tell(request)

    def _tell(self, request: ServedRequest) -> None:
        for listener in list(self._listeners):
            listener(request)
