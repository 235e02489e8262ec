"""The Inspector's side of the app: turns "inspect this token" into worker requests, hears back.

Requests go to the worker thread (`Worker.submit_inspection` + its `inspect_pending` slot, so a
request made while a reply streams is served between two of its tokens); the GUI thread never runs
MLX. Only the newest request of each kind matters: older answers are dropped when they arrive.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from PySide6.QtCore import QObject, Signal

from app.controller import ChatController
from app.inspection import (
    AnalogyRequest,
    LookupRequest,
    MapRequest,
    PlaygroundRequest,
    StepRequest,
    to_json,
)
from app.reply_model import refusal
from app.reply_request import as_asked, is_completion, reply_request, settings_as_asked
from app.worker import Worker
from engine.sampling import SamplingSettings


class Measured(NamedTuple):
    """What a token measured while it streamed and the store does not keep (seconds, tokens, bytes)."""

    token: int | None
    step_s: float
    kv_bytes: int
    kv_tokens: int
    prompt_tokens: int
    cached_tokens: int


class InspectorService(QObject):
    step_ready = Signal(object)  # the report (app.inspection.step_report)
    map_ready = Signal(object)  # {"layer", "head", "weights": (T, T) numpy}
    playground_ready = Signal(object)
    lookup_ready = Signal(object)
    analogy_ready = Signal(object)
    map_progress = Signal(int, int)  # done, total query rows of the full map being computed
    step_progress = Signal(int, int)  # done, total tokens of a step's context read again (no cache held them)
    failed = Signal(str)
    refused = Signal(str)  # why a step cannot be inspected with the loaded model (no report stays shown)
    busy_changed = Signal(bool)

    _wake = Signal()

    def __init__(self, controller: ChatController, worker: Worker, parent: QObject | None = None):
        super().__init__(parent)
        self.controller, self._worker = controller, worker
        self._next_id = 1
        self._latest: dict[type, int] = {}  # request kind -> newest request id
        self._kinds: dict[int, type] = {}
        self.report: dict | None = None
        self.follow = False  # inspect the newest token of a streaming reply
        self.message_index: int | None = None
        self.served = None  # the API request (app.server.request_log.ServedRequest) being inspected, if one is
        self._wake.connect(worker.inspect_pending)
        worker.inspected.connect(self._on_inspected)
        worker.inspect_failed.connect(self._on_failed)
        worker.inspect_progress.connect(self._on_progress)
        # stored reply id -> {token index: what only a live token knows (its step time, cache
        # length and bytes)}: a reply shown again this run (another version, another conversation
        # and back) shows them as it did live; the store keeps none of them
        self._measured: dict[int, dict[int, Measured]] = {}
        controller.reply_tokens.connect(self._on_reply_tokens)
        controller.reply_tokens.connect(self._keep_measured)
        controller.reply_finished.connect(lambda index, _stats: self._keep_measured(index))

    # -- intents ---------------------------------------------------------------------------

    def inspect_token(self, message_index: int, token_index: int) -> None:
        """Inspect the step that produced token `token_index` of the reply at `message_index`."""
        conv = self.controller.conversation
        reply = conv.messages[message_index] if 0 < message_index < len(conv.messages) else None
        if reply is None or reply.role != "assistant" or not reply.tokens:
            self.failed.emit("No step selected: only a token of a reply in this conversation can be inspected.")
            return
        if why := refusal(reply, self.controller.model_info, "inspect this step"):
            self.clear()
            self.refused.emit(why)  # and no earlier report stays on screen as if it were this reply's
            return
        user = conv.messages[message_index - 1]
        history = tuple(conv.history(before=message_index - 1))
        asked = settings_as_asked(self.controller.effective_settings, reply.asked)  # its own prompt, not today's
        generate = reply_request(asked, user.content, history, reply.memories, self.controller.conversation_id,
                                 completion=is_completion(reply.asked))
        generate = as_asked(generate, reply.asked)  # its memories where they went then
        ids = tuple(t.token for t in reply.tokens if t.token is not None)
        token_index = max(0, min(token_index, len(ids) - 1)) if ids else 0
        self.message_index, self.served = message_index, None
        self._send(StepRequest(generate, ids, token_index))

    def inspect_request(self, served, token_index: int) -> None:
        """Inspect the step that produced token `token_index` of an API request's reply (`served`,
        a ServedRequest from View → API Requests): its prompt reassembled from the request it ran,
        exactly as for a conversation's reply."""
        ids = tuple(ev.token for ev in served.events if ev.token is not None)
        if served.generate is None or not ids:
            self.failed.emit("No step selected: this request has no reply tokens to inspect.")
            return
        token_index = max(0, min(token_index, len(ids) - 1))
        self.message_index, self.served = None, served
        self._send(StepRequest(served.generate, ids, token_index, origin="request"))

    def reply_records(self) -> tuple[list, dict] | None:
        """The inspected reply's token records and numbers (the Loop and Detokenization views'):
        the conversation's reply, or the API request's; None when a user's message is inspected."""
        if self.served is not None:
            return list(self.served.events), dict(self.served.stats)
        if self.message_index is not None:
            message = self.controller.message(self.message_index)
            return self._with_measurements(message), message.stats
        return None

    def _keep_measured(self, index: int, _records: list | None = None) -> None:
        """Keep what the reply at `index` measured live (its tokens so far, by their index), for
        when it is shown again from the store."""
        message = self.controller.message(index)
        if message.id is None:
            return
        kept = self._measured.setdefault(message.id, {})
        for t in message.tokens:
            if t.step_s or t.kv_tokens:
                kept[t.index] = Measured(t.token, t.step_s, t.kv_bytes, t.kv_tokens, t.prompt_tokens, t.cached_tokens)

    def _with_measurements(self, message) -> list:
        """The reply's tokens, each reopened one given back what it measured live this run (the
        same token at the same place: a token another version holds there is left as it is)."""
        kept = self._measured.get(message.id) if message.id is not None else None
        if not kept:
            return message.tokens
        out = []
        for t in message.tokens:
            m = kept.get(t.index)
            if m is not None and m.token == t.token and not (t.step_s or t.kv_tokens):
                t = replace(t, step_s=m.step_s, kv_bytes=m.kv_bytes, kv_tokens=m.kv_tokens,
                            prompt_tokens=m.prompt_tokens, cached_tokens=m.cached_tokens)  # fmt: skip
            out.append(t)
        return out

    def clear(self) -> None:
        """Forget the inspected step (the conversation changed): an answer still on its way is
        dropped when it comes."""
        self._latest.pop(StepRequest, None)
        self.report = None
        self.message_index, self.served = None, None

    def inspect_message(self, message_index: int, char_index: int) -> None:
        """Inspect the token of the user's message at `message_index` that holds character
        `char_index`: the step that predicted it, in the prompt the reply after it was given."""
        conv = self.controller.conversation
        user = conv.messages[message_index]
        if user.role != "user":
            self.failed.emit("Only a position in your own message or a reply's token can be inspected.")
            return
        after = conv.messages[message_index + 1] if message_index + 1 < len(conv.messages) else None
        reply = after if after is not None and after.role == "assistant" else None
        history = tuple(conv.history(before=message_index))
        memories = reply.memories if reply is not None else []
        # the prompt the reply after it was given: that reply's own settings, not today's
        asked = settings_as_asked(self.controller.effective_settings, reply.asked if reply is not None else {})
        completion = is_completion(reply.asked) if reply is not None else self.controller.completion_mode
        generate = reply_request(asked, user.content, history, memories, self.controller.conversation_id,
                                 completion=completion)
        generate = as_asked(generate, reply.asked if reply is not None else {})  # its memories where they went then
        self.message_index = message_index + 1 if reply is not None else None
        self.served = None
        self._send(StepRequest(generate, (), 0, message_char=char_index))

    def attention_map(self, layer: int, head: int) -> None:
        self._send(MapRequest(layer, head))

    def stop_map(self) -> None:
        """Stop the full attention map being computed (its answer never comes)."""
        request_id = self._latest.get(MapRequest)
        if request_id is not None and request_id in self._kinds:
            self._worker.stop_inspection(request_id)

    def playground(self, settings: SamplingSettings) -> None:
        self._send(PlaygroundRequest(settings))

    def lookup(self, text: str) -> None:
        if text:
            self._send(LookupRequest(text))

    def analogy(self, a: str, b: str, c: str) -> None:
        self._send(AnalogyRequest(a, b, c))

    def export(self, path: str | Path) -> None:
        """Write the inspected step as JSON (for notebooks and teaching)."""
        if self.report is None:
            raise ValueError("nothing has been inspected yet")
        Path(path).write_text(json.dumps(to_json(self.report), ensure_ascii=False, indent=1), encoding="utf-8")

    # -- internals --------------------------------------------------------------------------

    def _send(self, request: object) -> None:
        request_id = self._next_id
        self._next_id += 1
        older = self._latest.get(type(request))
        self._kinds.pop(older, None)  # the worker serves only the newest of a kind
        self._latest[type(request)] = request_id
        self._kinds[request_id] = type(request)
        self.busy_changed.emit(True)
        self._worker.submit_inspection(request_id, request)
        self._wake.emit()

    def _current(self, request_id: int) -> type | None:
        """The kind of an answered request, or None if a newer one of its kind was sent since."""
        kind = self._kinds.pop(request_id, None)
        current = kind is not None and self._latest.get(kind) == request_id
        self.busy_changed.emit(bool(self._kinds))
        return kind if current else None

    def _on_inspected(self, request_id: int, report: dict) -> None:
        kind = self._current(request_id)
        if kind is None:
            return
        if kind is StepRequest:
            self.report = report
        signals = {
            StepRequest: self.step_ready, MapRequest: self.map_ready, PlaygroundRequest: self.playground_ready,
            LookupRequest: self.lookup_ready, AnalogyRequest: self.analogy_ready,
        }  # fmt: skip
        signals[kind].emit(report)

    def _on_progress(self, request_id: int, done: int, total: int) -> None:
        if self._latest.get(MapRequest) == request_id and request_id in self._kinds:
            self.map_progress.emit(done, total)
        elif self._latest.get(StepRequest) == request_id and request_id in self._kinds:
            self.step_progress.emit(done, total)

    def _on_failed(self, request_id: int, message: str) -> None:
        if self._current(request_id) is not None:
            self.failed.emit(message)

    def _on_reply_tokens(self, index: int, records: list) -> None:
        if self.follow and records:
            self.inspect_token(index, len(self.controller.message(index).tokens) - 1)
