"""The chat controller: turns user intents into worker requests and keeps the conversation.

Views call `send`, `stop`, `load_model`, `new_chat`, `apply_settings`, the conversation intents
(`open_conversation`, `edit_and_resend`, `regenerate`, `switch_branch` …) and the memory intents,
and bind to the signals. It lives in the GUI thread and talks to the worker only through queued
signals (and the worker's thread-safe `cancel`), so nothing here ever waits for the model.

Everything is saved through `app.store.Store` as it happens: the user's message before its request
leaves, the streaming reply (text and token records) at least every FLUSH_INTERVAL_S and when it
ends. Each request carries the memories relevant to the user's message (`MemoryStore.relevant`).
"""

from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.backend import GenerateRequest
from app.context import ContextTooLong
from app.conversation import ChatMessage, Conversation, from_stored
from app.memory import ForgetIntent, Memory, MemoryStore, NothingNamed, RememberIntent, detect_intent
from app.settings import DEFAULT_MODEL, Settings
from app.store import SearchHit, Store, TokenRecord
from app.worker import Worker

FLUSH_INTERVAL_S = 1.0  # a streaming reply is saved at least this often


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
    conversation_opened = Signal(object)  # stored conversation id (None: a new, unsaved one)
    conversations_changed = Signal()  # list, titles or order changed
    memories_changed = Signal()
    message_too_long = Signal(str, str)  # the user's text (back to the composer), the explanation

    _request_load = Signal(str)
    _request_generate = Signal(int, object)
    _request_forget = Signal(str)

    def __init__(
        self, worker: Worker, settings: Settings, store: Store | None = None, parent: QObject | None = None
    ):
        super().__init__(parent)
        self._worker = worker
        self.settings = settings
        self.store = store if store is not None else Store(":memory:")
        self.memory = MemoryStore(self.store)
        self.conversation = Conversation()
        self.conversation_id: int | None = None  # None until the first message is saved
        self._unsaved: list[dict] = []  # token records of the active reply not yet in the store
        self._saved_at = 0.0
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(int(FLUSH_INTERVAL_S * 1000))
        self._flush_timer.timeout.connect(self._flush)
        self.model_info: dict[str, Any] | None = None
        self.model_loading_now = False
        self._next_request = 1
        self._pending_loads: deque[str] = deque()  # specs sent to the worker, oldest first
        self._active: tuple[int, int] | None = None  # (request id, message index)
        self._request_load.connect(worker.load_model)
        self._request_generate.connect(worker.generate)
        self._request_forget.connect(worker.forget_conversation)
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
        """Send a user message; False (and nothing sent) if it is blank, names nothing to remember or
        forget (`NothingNamed`), or a reply is streaming.

        "remember that …" also saves the fact as a memory (the message is still sent, so the reply
        already knows it). The message is saved before the request leaves.
        """
        if not text.strip() or self.busy:
            return False
        intent = detect_intent(text)
        if isinstance(intent, NothingNamed):  # "remember that" alone: nothing saved or sent (the view says why)
            return False
        if isinstance(intent, RememberIntent):
            self.remember_fact(intent.fact)
        if self.conversation_id is None:
            self.conversation_id = self.store.create_conversation().id
        history = tuple(self.conversation.history())
        stored = self.store.add_user_message(self.conversation_id, text)
        self.conversation.add(ChatMessage("user", text, id=stored.id))
        self.message_added.emit(len(self.conversation.messages) - 1)
        self._start_reply(text, history)
        self.conversations_changed.emit()
        return True

    def _start_reply(self, user_text: str, history: tuple, regenerate: bool = False) -> None:
        """Save an empty reply after the active branch's leaf (or beside the last reply) and ask for it."""
        app = self.settings.app
        memories = [m.text for m in self.memory.relevant(user_text)]
        model = (self.model_info or {}).get("display_name") or app.model
        used = {
            "sampling": asdict(self.settings.sampling),
            "max_new_tokens": app.max_new_tokens,
            "context_length": app.context_length,
            "memories_used": memories,
        }
        branch = (1, 1)
        if regenerate:
            stored = self.store.regenerate(self.conversation_id, model, used)
            self._reload(skip_leaf=True)
            alternatives = len(self.store.siblings(stored.id))
            branch = (alternatives, alternatives)
        else:
            stored = self.store.start_assistant_message(self.conversation_id, model, used)
        reply = ChatMessage("assistant", id=stored.id, memories=memories, branch=branch)
        reply_index = self.conversation.add(reply)
        request_id = self._next_request
        self._next_request += 1
        self._active = (request_id, reply_index)
        self._unsaved, self._saved_at = [], time.monotonic()
        self._flush_timer.start()
        self.message_added.emit(reply_index)
        self.busy_changed.emit(True)
        request = GenerateRequest(
            user_message=user_text,
            sampling=self.settings.sampling,
            history=history,
            system_prompt=app.system_prompt,
            memories=tuple(memories),
            max_new_tokens=app.max_new_tokens,
            context_length=app.context_length,
            top_report=max(app.panel_top_k, 5),
            conversation_id=str(self.conversation_id),
            cache=app.cache_config,
        )
        self._request_generate.emit(request_id, request)

    # -- conversations ---------------------------------------------------------------------

    def open_latest(self) -> None:
        """Reopen the most recently active conversation (an empty one if there is none)."""
        latest = self.store.list_conversations()
        if latest:
            self.open_conversation(latest[0].id)

    def open_conversation(self, conversation_id: int) -> None:
        """Show a stored conversation's active branch (a reply still streaming is stopped and kept)."""
        self._abandon_reply()
        self.conversation_id = conversation_id
        self._reload()

    def _reload(self, skip_leaf: bool = False) -> None:
        """Rebuild the conversation from the store's active branch (without its last message, a
        reply about to stream, if `skip_leaf`) and tell the views."""
        messages = []
        path = self.store.active_path(self.conversation_id)
        for m in path[:-1] if skip_leaf else path:
            siblings = [s.id for s in self.store.siblings(m.id)]
            tokens = self.store.tokens(m.id) if m.role == "assistant" else []
            messages.append(from_stored(m, tokens, (siblings.index(m.id) + 1, len(siblings))))
        self.conversation = Conversation(messages)
        self.conversation_reset.emit()
        for index in range(len(messages)):
            self.message_added.emit(index)
        self.conversation_opened.emit(self.conversation_id)

    def index_of(self, message_id: int) -> int | None:
        """Where a stored message is in the shown branch, if it is there."""
        return next((i for i, m in enumerate(self.conversation.messages) if m.id == message_id), None)

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        if title.strip():
            self.store.rename_conversation(conversation_id, title)
            self.conversations_changed.emit()

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete it for good (the view confirms first); deleting the open one opens a new chat."""
        if conversation_id == self.conversation_id:
            self.new_chat()
        self.store.delete_conversation(conversation_id)
        self._request_forget.emit(str(conversation_id))  # its KV cache, in memory and on disk
        self.conversations_changed.emit()

    def search(self, text: str) -> list[SearchHit]:
        return self.store.search(text, marks=("\x02", "\x03"))

    def export(self, path: str | Path, kind: str) -> None:
        """Write the open conversation as "markdown" or "json" (docs/export-format.md)."""
        if self.conversation_id is None:
            raise ValueError("there is nothing to export yet")
        if kind == "markdown":
            text = self.store.export_markdown(self.conversation_id)
        else:
            text = json.dumps(self.store.export_json(self.conversation_id), ensure_ascii=False, indent=1)
        Path(path).write_text(text, encoding="utf-8")

    def can_regenerate(self) -> bool:
        return not self.busy and any(m.role == "assistant" for m in self.conversation.messages)

    def regenerate(self) -> bool:
        """A new reply to the last user message; the old reply stays as an alternative branch."""
        if not self.can_regenerate():
            return False
        messages = self.conversation.messages
        reply = max(i for i, m in enumerate(messages) if m.role == "assistant")
        user = max(i for i in range(reply) if messages[i].role == "user")
        self._start_reply(messages[user].text, tuple(self.conversation.history(before=user)), regenerate=True)
        return True

    def edit_and_resend(self, index: int, text: str) -> bool:
        """Replace an earlier user message with `text` and ask again; the old branch is kept."""
        message = self.message(index)
        if self.busy or message.role != "user" or message.id is None or not text.strip():
            return False
        history = tuple(self.conversation.history(before=index))
        self.store.edit_user_message(message.id, text)
        self._reload()
        self._start_reply(text, history)
        self.conversations_changed.emit()
        return True

    def switch_branch(self, index: int, step: int) -> None:
        """Show the previous (-1) or next (+1) alternative of a message that was edited or regenerated."""
        message = self.message(index)
        if self.busy or message.id is None:
            return
        siblings = self.store.siblings(message.id)
        target = [s.id for s in siblings].index(message.id) + step
        if 0 <= target < len(siblings):
            self.store.select_branch(siblings[target].id)
            self._reload()

    # -- memories --------------------------------------------------------------------------

    def remember_fact(self, text: str, source_message_id: int | None = None) -> Memory:
        memory = self.memory.add(text, source_message_id=source_message_id)
        self.memories_changed.emit()
        return memory

    def forget_candidates(self, text: str) -> list[Memory] | None:
        """For a "forget …" message, the memories it may mean (nothing is deleted); else None."""
        intent = detect_intent(text)
        if not isinstance(intent, ForgetIntent):
            return None
        return self.memory.forget_candidates(intent)

    def forget(self, memory_ids: list[int]) -> None:
        for memory_id in memory_ids:
            self.memory.delete(memory_id)
        self.memories_changed.emit()

    def store_notice(self) -> str:
        """What the user must know about the database this session (empty when all is well)."""
        if self.store.fallback_reason:
            return (
                f"Conversations cannot be saved this session ({self.store.fallback_reason}); "
                "nothing you write now will be kept after Glassbox closes."
            )
        if self.store.recovered_from:
            return (
                f"The conversation database could not be read, so a new one was started. "
                f"The old file was kept as {self.store.recovered_from}."
            )
        return ""

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
        """An empty conversation; it is saved (and listed) once its first message is sent."""
        self._abandon_reply()
        self.conversation_id = None
        self.conversation = Conversation()
        self.conversation_reset.emit()
        self.conversation_opened.emit(None)

    def close(self) -> None:
        """The app is closing: a reply still streaming is saved as far as it got."""
        self._abandon_reply()

    def _abandon_reply(self) -> None:
        """Stop the active reply, save it as far as it got, and stop listening to it."""
        if self._active is None:
            return
        self._worker.cancel(self._active[0])
        message = self.message(self._active[1])
        self._end_reply(message, "cancelled")
        self.busy_changed.emit(False)

    def _flush(self) -> None:
        """Save the active reply's tokens that arrived since the last save."""
        if self._active is None or not self._unsaved:
            return
        records, self._unsaved = self._unsaved, []
        self._saved_at = time.monotonic()
        message = self.message(self._active[1])
        self.store.append_partial(
            message.id, "".join(r["text"] for r in records), [TokenRecord.from_mapping(r) for r in records]
        )

    def _end_reply(self, message: ChatMessage, reason: str) -> None:
        self._flush()
        self._flush_timer.stop()
        self._active = None
        self.store.finish(message.id, reason, message.stats)

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
        self._unsaved.extend(records)
        if time.monotonic() - self._saved_at >= FLUSH_INTERVAL_S:
            self._flush()
        self.reply_tokens.emit(index, records)

    def _on_finished(self, request_id: int, stats: dict) -> None:
        index = self._reply_index(request_id)
        if index is None:
            return
        message = self.message(index)
        message.stats = stats
        message.finish_reason = stats.get("finish_reason") or "cancelled"
        self._end_reply(message, message.finish_reason)
        self.reply_finished.emit(index, stats)
        self.busy_changed.emit(False)
        self.conversations_changed.emit()

    def _on_failed(self, request_id: int, error: str) -> None:
        index = self._reply_index(request_id)
        if index is None:
            return
        message = self.message(index)
        message.error = error
        self._end_reply(message, "error")
        self.reply_failed.emit(index, error)
        self.busy_changed.emit(False)
        if ContextTooLong.describes(error) and not message.tokens:
            # Never answered: take the turn back out, and give the text back to the composer.
            user = self.message(index - 1)
            self.store.delete_message(user.id)
            if self.store.active_path(self.conversation_id):
                self._reload()
            else:  # it was the first message: no conversation is left to keep
                self.store.delete_conversation(self.conversation_id)
                self.new_chat()
            self.conversations_changed.emit()
            self.message_too_long.emit(user.text, error)
