"""The chat controller: turns user intents into worker requests and keeps the conversation.

Views call `send`, `stop`, `load_model`, `new_chat`, `apply_settings`, and bind to the signals. It
lives in the GUI thread and talks to the worker only through queued signals (and the worker's
thread-safe `cancel`), so nothing here ever waits for the model.
"""

from __future__ import annotations

from collections import deque
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.backend import GenerateRequest
from app.conversation import ChatMessage, Conversation
from app.settings import DEFAULT_MODEL, Settings
from app.worker import Worker


class ChatController(QObject):
    message_added = Signal(int)  # index into conversation.messages (user turn or reply placeholder)
    reply_tokens = Signal(int, object)  # message index, new token records
    reply_finished = Signal(int, object)  # message index, stats dict
    reply_failed = Signal(int, str)  # message index, message
    prefill_progress = Signal(int, int)  # prompt tokens done, total
    busy_changed = Signal(bool)  # a reply is being generated
    conversation_reset = Signal()
    model_loading = Signal(float, str)
    model_loaded = Signal(object)  # info dict
    model_failed = Signal(str)
    settings_changed = Signal(object)  # Settings

    _request_load = Signal(str)
    _request_generate = Signal(int, object)

    def __init__(self, worker: Worker, settings: Settings, parent: QObject | None = None):
        super().__init__(parent)
        self._worker = worker
        self.settings = settings
        self.conversation = Conversation()
        self.model_info: dict[str, Any] | None = None
        self.model_loading_now = False
        self._next_request = 1
        self._pending_loads: deque[str] = deque()  # specs sent to the worker, oldest first
        self._active: tuple[int, int] | None = None  # (request id, message index)
        self._request_load.connect(worker.load_model)
        self._request_generate.connect(worker.generate)
        worker.model_loading.connect(self._on_model_loading)
        worker.model_loaded.connect(self._on_model_loaded)
        worker.model_failed.connect(self._on_model_failed)
        worker.prefill_progress.connect(self._on_prefill_progress)
        worker.tokens.connect(self._on_tokens)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)

    # -- intents ---------------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._active is not None

    @property
    def active_request(self) -> int | None:
        return self._active[0] if self._active else None

    def message(self, index: int) -> ChatMessage:
        return self.conversation.messages[index]

    def send(self, text: str) -> bool:
        """Send a user message; False (and nothing sent) if it is blank or a reply is streaming."""
        if not text.strip() or self.busy:
            return False
        history = tuple(self.conversation.history())
        self.conversation.add(ChatMessage("user", text))
        self.message_added.emit(len(self.conversation.messages) - 1)
        reply_index = self.conversation.add(ChatMessage("assistant"))
        request_id = self._next_request
        self._next_request += 1
        self._active = (request_id, reply_index)
        self.message_added.emit(reply_index)
        self.busy_changed.emit(True)
        app = self.settings.app
        request = GenerateRequest(
            user_message=text,
            sampling=self.settings.sampling,
            history=history,
            system_prompt=app.system_prompt,
            max_new_tokens=app.max_new_tokens,
            context_length=app.context_length,
            top_report=max(app.panel_top_k, 5),
        )
        self._request_generate.emit(request_id, request)
        return True

    def stop(self) -> None:
        """Stop the reply being generated; what was generated so far stays."""
        if self._active:
            self._worker.cancel(self._active[0])

    def load_model(self, spec: str) -> None:
        """Load a model in the worker; the current one stays usable until the new one is ready."""
        self.model_loading_now = True
        self._pending_loads.append(spec)
        name = "the default model" if spec == "default" else Path(spec).name
        self.model_loading.emit(-1.0, f"Loading {name}…")
        self._request_load.emit(spec)

    def new_chat(self) -> None:
        self.stop()
        self._active = None
        self.conversation = Conversation()
        self.busy_changed.emit(False)
        self.conversation_reset.emit()

    def apply_settings(self, settings: Settings) -> None:
        """Use new settings from the next reply on; load the model if it changed."""
        model_changed = settings.app.model != self.settings.app.model
        if model_changed:
            settings = replace(settings, app=settings.app.with_recent_model(settings.app.model))
        self.settings = settings
        self.settings_changed.emit(settings)
        if model_changed:
            self.load_model(settings.app.model)

    def remember(self, settings: Settings) -> None:
        """Keep new settings without acting on them (window layout, a model choice taken back)."""
        self.settings = settings
        self.settings_changed.emit(settings)

    # -- worker signals ---------------------------------------------------------------------

    def _reply_index(self, request_id: int) -> int | None:
        if self._active and self._active[0] == request_id:
            return self._active[1]
        return None

    def _on_model_loading(self, progress: float, text: str) -> None:
        self.model_loading.emit(progress, text)

    def _on_model_loaded(self, info: dict) -> None:
        if self._pending_loads:
            self._pending_loads.popleft()
        self.model_loading_now = bool(self._pending_loads)
        self.model_info = info
        self.model_loaded.emit(info)

    def _on_model_failed(self, message: str) -> None:
        failed = self._pending_loads.popleft() if self._pending_loads else None
        self.model_loading_now = bool(self._pending_loads)
        # With nothing loaded to fall back on (a saved model that is gone), use the default one.
        fall_back = self.model_info is None and failed not in (None, DEFAULT_MODEL) and not self._pending_loads
        if fall_back:
            message += " Loading the default model instead."
        self.model_failed.emit(message)
        if fall_back:
            self.remember(replace(self.settings, app=replace(self.settings.app, model=DEFAULT_MODEL)))
            self.load_model(DEFAULT_MODEL)

    def _on_prefill_progress(self, request_id: int, done: int, total: int) -> None:
        if self._reply_index(request_id) is not None:
            self.prefill_progress.emit(done, total)

    def _on_tokens(self, request_id: int, records: list) -> None:
        index = self._reply_index(request_id)
        if index is None:
            return
        self.message(index).add_tokens(records)
        self.reply_tokens.emit(index, records)

    def _on_finished(self, request_id: int, stats: dict) -> None:
        index = self._reply_index(request_id)
        if index is None:
            return
        message = self.message(index)
        message.stats = stats
        message.finish_reason = stats.get("finish_reason") or "cancelled"
        self._active = None
        self.reply_finished.emit(index, stats)
        self.busy_changed.emit(False)

    def _on_failed(self, request_id: int, error: str) -> None:
        index = self._reply_index(request_id)
        if index is None:
            return
        self.message(index).error = error
        self._active = None
        self.reply_failed.emit(index, error)
        self.busy_changed.emit(False)
