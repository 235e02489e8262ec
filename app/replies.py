"""Generation and streaming: one reply at a time, asked of the worker and saved as it streams.

`Replies.stream` sends a `GenerateRequest` and writes the tokens that come back into the reply's
`ChatMessage` (the one the window shows) and into the store (`ReplyRecorder`: at least every
FLUSH_INTERVAL_S, and when it ends). It talks to the worker only through queued signals and the
worker's thread-safe `cancel`, so nothing here waits for the model. Failures arrive typed
(`app.failures.Failure`); a reply the model never started because the message cannot fit the
context window is announced by `unanswered`, so the conversation can take the turn back.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from PySide6.QtCore import QObject, QTimer, Signal

from app.backend import GenerateRequest
from app.conversation import ChatMessage
from app.failures import Failure, FailureKind
from app.reply_numbers import numbers_at
from app.reply_recorder import ReplyRecorder
from app.store import Store
from app.worker import Worker
from engine.events import TokenEvent

FLUSH_INTERVAL_S = 1.0  # a streaming reply is saved at least this often
CONTINUABLE = ("cancelled", "length", "interrupted")  # how a reply that can be continued ended


@dataclass(frozen=True)
class ActiveReply:
    """The reply being generated: the worker's request id, the message (and its index in the
    transcript) it streams into, and what saves it as it streams."""

    request_id: int
    index: int
    message: ChatMessage
    recorder: ReplyRecorder
    offset: int = 0  # tokens the reply already had (a continued reply): new tokens count on from here
    context_length: int = 0  # the context window it is fitted to (0: not known)


def so_far(message: ChatMessage, context_length: int, offset: int = 0) -> dict:
    """A reply's numbers as far as its newest token knows them, computed as a Stop's are
    (`app.reply_numbers`; the worker's own come only when it finishes). `offset`: the tokens it
    had before this run (a continued reply), which count in `generated_tokens` as a Stop counts
    them, but not in this run's speed and context."""
    last = next((t for t in reversed(message.tokens[offset:]) if t.prompt_tokens), None)
    if last is None:
        return {"generated_tokens": len(message.tokens)}
    return numbers_at(last, len(message.tokens) - offset, context_length) | {"generated_tokens": len(message.tokens)}


class Replies(QObject):
    reply_tokens = Signal(int, object)  # message index, new TokenEvents
    reply_finished = Signal(int, object)  # message index, stats dict
    reply_failed = Signal(int, str)  # message index, message for the user
    unanswered = Signal(int, str)  # message index, why: the model never started (context too long)
    prefill_progress = Signal(int, int)  # prompt tokens done, total
    busy_changed = Signal(bool)  # a reply is being generated

    _request_generate = Signal(int, object)

    def __init__(
        self, worker: Worker, store: Store, parent: QObject | None = None, model_context: Callable[[], int] = lambda: 0
    ):
        """`model_context()`: the loaded model's context window (0: not known), which a request
        that asks for none (0) is fitted to, as the backend fits it."""
        super().__init__(parent)
        self._worker, self._store = worker, store
        self._model_context = model_context
        self._next_request = 1
        self._active: ActiveReply | None = None
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(int(FLUSH_INTERVAL_S * 1000))
        self._flush_timer.timeout.connect(self._flush)
        self._request_generate.connect(worker.generate)
        worker.prefill_progress.connect(self._on_prefill_progress)
        worker.tokens.connect(self._on_tokens)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)

    @property
    def busy(self) -> bool:
        return self._active is not None

    @property
    def active_request(self) -> int | None:
        """The worker's id for the reply being generated (None when none is)."""
        return self._active.request_id if self._active else None

    def stream(
        self, index: int, message: ChatMessage, request: GenerateRequest, unsaved: Sequence[TokenEvent] = ()
    ) -> None:
        """Ask for `request` and stream its tokens into `message` (shown at `index`; it is stored
        already and may hold tokens, which new ones number on from) and into the store.
        `unsaved`: tokens of `message` not in the store yet (a reply branched from an alternative)."""
        request_id, self._next_request = self._next_request, self._next_request + 1
        recorder = ReplyRecorder(self._store, message.id, FLUSH_INTERVAL_S)
        if unsaved:
            recorder.add(list(unsaved))
        message.finish_reason = None  # streaming (again, for a continued reply)
        model = self._model_context()
        window = min(request.context_length or model, model) if model else request.context_length
        self._active = ActiveReply(request_id, index, message, recorder, offset=len(message.tokens),
                                   context_length=window or 0)
        self._flush_timer.start()
        self.busy_changed.emit(True)
        self._request_generate.emit(request_id, request)

    def stop(self) -> None:
        """Stop the reply being generated; what was generated so far stays (its end comes back
        through `reply_finished`)."""
        if self._active:
            self._worker.cancel(self._active.request_id)

    def live_numbers(self) -> dict:
        """The streaming reply's numbers now, as a Stop now would save them ({} when none streams)."""
        if self._active is None:
            return {}
        return so_far(self._active.message, self._active.context_length, self._active.offset)

    def abandon(self, why: str) -> bool:
        """Stop the active reply, save it as far as it got, and stop listening to it (the window
        is leaving it); whether there was one. `why` ("you switched conversation") is saved with
        the reply's numbers so far (what the last token knew), so it reopens saying why it
        stopped, with its context numbers."""
        if self._active is None:
            return False
        self._worker.cancel(self._active.request_id)
        message = self._active.message
        message.stats = self.live_numbers() | {"finish_reason": "cancelled", "stopped_because": why}
        message.finish_reason = "cancelled"
        self._end(message, "cancelled")
        self.busy_changed.emit(False)
        return True

    def _flush(self) -> None:
        """Save the active reply's tokens that arrived since the last save."""
        if self._active is not None:
            self._active.recorder.flush()

    def _end(self, message: ChatMessage, reason: str) -> None:
        self._flush_timer.stop()
        active, self._active = self._active, None
        if active is not None:
            active.recorder.finish(reason, message.stats | ({"error": message.error} if message.error else {}))

    def _mine(self, request_id: int) -> ActiveReply | None:
        return self._active if self._active and self._active.request_id == request_id else None

    def _on_prefill_progress(self, request_id: int, done: int, total: int) -> None:
        if self._mine(request_id):
            self.prefill_progress.emit(done, total)

    def _on_tokens(self, request_id: int, tokens: list[TokenEvent]) -> None:
        if (active := self._mine(request_id)) is None:
            return
        if active.offset:  # a continued reply: its tokens number on from what it had
            tokens = [replace(t, index=t.index + active.offset) for t in tokens]
        active.message.add_tokens(tokens)
        active.recorder.add(tokens)
        self.reply_tokens.emit(active.index, tokens)

    def _on_finished(self, request_id: int, stats: dict) -> None:
        if (active := self._mine(request_id)) is None:
            return
        message = active.message
        if active.offset:  # a continued reply counts all its tokens
            stats = {**stats, "generated_tokens": len(message.tokens)}
        message.stats = stats
        message.finish_reason = stats.get("finish_reason") or "cancelled"
        self._end(message, message.finish_reason)
        self.reply_finished.emit(active.index, stats)
        self.busy_changed.emit(False)

    def _on_failed(self, request_id: int, failure: Failure) -> None:
        if (active := self._mine(request_id)) is None:
            return
        message = active.message
        message.error = failure.message
        self._end(message, "error")
        self.reply_failed.emit(active.index, failure.message)
        self.busy_changed.emit(False)
        if failure.kind is FailureKind.CONTEXT_TOO_LONG and not message.tokens:
            self.unanswered.emit(active.index, failure.message)
