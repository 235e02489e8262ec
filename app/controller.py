"""The chat controller: turns user intents into worker requests and keeps the conversation.

Views call `send`, `stop`, `load_model`, `new_chat`, `apply_settings`, the conversation intents
(`open_conversation`, `edit_and_resend`, `regenerate`, `switch_branch` …) and the memory intents,
and bind to the signals. It lives in the GUI thread and talks to the worker only through queued
signals (and the worker's thread-safe `cancel`), so nothing here ever waits for the model.

Everything is saved through `app.store.Store` as it happens: the user's message before its request
leaves, the streaming reply (its TokenEvents) at least every FLUSH_INTERVAL_S and when it ends
(`ReplyRecorder`). Each request carries the memories relevant to the user's message
(`MemoryStore.relevant`).

The open conversation is one value, `OpenConversation` (stored id and the transcript shown), so the
window's conversation and the one new messages are saved into are always the same: it is replaced
whole, and only after the new one has been read completely (`load_transcript`); a conversation that
cannot be opened leaves the open one as it was, and the user is told why.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from app.conversation import ChatMessage, Transcript
from app.conversation_loader import LoadedTranscript, load_transcript
from app.failures import Failure, FailureKind
from app.importers import read_conversations
from app.memory import ForgetIntent, Memory, MemoryStore, NothingNamed, RememberIntent, detect_intent
from app.model_loads import ModelLoads
from app.reply_recorder import ReplyRecorder
from app.reply_request import reply_request, settings_used
from app.settings import DEFAULT_MODEL, Settings
from app.store import Conversation, SearchHit, Store, StoreError, conversation_settings
from app.store.conversation_settings import ConversationSettings
from app.store.export import write_export
from app.store.imports import save_imported
from app.worker import Worker
from engine.events import TokenEvent

log = logging.getLogger(__name__)
FLUSH_INTERVAL_S = 1.0  # a streaming reply is saved at least this often
CONTINUABLE = ("cancelled", "length", "interrupted")  # how a reply that can be continued ended


@dataclass(frozen=True)
class ImportSummary:
    """What an import did: the file's name, the titles of the conversations made, what was skipped."""

    file_name: str
    titles: list[str]
    skipped: list[str]

    def text(self) -> str:
        """One line for the status bar, e.g. "Imported 3 conversations from conversations.json"."""
        count = len(self.titles)
        made = f"Imported {count} conversation{'s' if count != 1 else ''} from {self.file_name}"
        if not self.skipped:
            return made + "."
        return f"{made}; {len(self.skipped)} skipped ({self.skipped[0]}{'; …' if len(self.skipped) > 1 else ''})."


@dataclass(frozen=True)
class OpenConversation:
    """The conversation the window shows: its stored id (None until its first message is saved)
    and its transcript. Replaced whole, never field by field."""

    id: int | None = None
    transcript: Transcript = field(default_factory=Transcript)


@dataclass(frozen=True)
class ActiveReply:
    """The reply being generated: the worker's request id, its index in the transcript, and what
    saves it as it streams."""

    request_id: int
    index: int
    recorder: ReplyRecorder
    offset: int = 0  # tokens the reply already had (a continued reply): new tokens count on from here


class ChatController(QObject):
    message_added = Signal(int)  # index into conversation.messages (user turn or reply placeholder)
    reply_tokens = Signal(int, object)  # message index, new TokenEvents
    reply_finished = Signal(int, object)  # message index, stats dict
    reply_failed = Signal(int, str)  # message index, message for the user
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
    memory_saved = Signal(str)  # a memory's text, just saved (from any source)
    message_too_long = Signal(str, str)  # the user's text (back to the composer), the explanation
    token_count = Signal(int, int)  # ticket from count_tokens, tokens (-1: could not count)
    notice = Signal(str)  # something the user must know (a conversation that could not be opened)

    _request_load = Signal(str)
    _request_generate = Signal(int, object)
    _request_forget = Signal(str)
    _request_count = Signal(int, str)

    def __init__(
        self, worker: Worker, settings: Settings, store: Store | None = None, parent: QObject | None = None
    ):
        super().__init__(parent)
        self._worker = worker
        self.settings = settings
        self.store = store if store is not None else Store(":memory:")
        self.memory = MemoryStore(self.store)
        self._open = OpenConversation()
        self._own = ConversationSettings()  # what the open conversation sets for itself
        self.open_notice = ""  # what damaged rows cost the open conversation ("" when nothing)
        self._flush_timer = QTimer(self)
        self._flush_timer.setInterval(int(FLUSH_INTERVAL_S * 1000))
        self._flush_timer.timeout.connect(self._flush)
        self._loads = ModelLoads()
        self._next_request = 1
        self._active: ActiveReply | None = None  # the reply being generated
        self._request_load.connect(worker.load_model)
        self._request_generate.connect(worker.generate)
        self._request_forget.connect(worker.forget_conversation)
        self._request_count.connect(worker.count_tokens)
        worker.token_count.connect(self.token_count)
        self._next_count = 1
        worker.model_loading.connect(self._on_model_loading)
        worker.model_loaded.connect(self._on_model_loaded)
        worker.model_failed.connect(self._on_model_failed)
        worker.prefill_progress.connect(self._on_prefill_progress)
        worker.tokens.connect(self._on_tokens)
        worker.finished.connect(self._on_finished)
        worker.failed.connect(self._on_failed)

    # -- intents ---------------------------------------------------------------------------

    @property
    def conversation_id(self) -> int | None:
        """The open conversation's stored id (None for a new one not saved yet)."""
        return self._open.id

    @property
    def conversation(self) -> Transcript:
        """The open conversation's messages, as shown."""
        return self._open.transcript

    @property
    def model_info(self) -> dict[str, Any] | None:
        """The loaded model's info dict (None before the first load finishes)."""
        return self._loads.info

    @property
    def model_loading_now(self) -> bool:
        return self._loads.loading

    @property
    def worker(self) -> Worker:
        """The model worker (the Inspector sends its own requests to it)."""
        return self._worker

    @property
    def busy(self) -> bool:
        return self._active is not None

    @property
    def active_request(self) -> int | None:
        return self._active.request_id if self._active else None

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
            self._open = OpenConversation(self.store.create_conversation().id, self.conversation)
            if not self._own.empty:  # chosen for the new chat before its first message
                conversation_settings.write(self.store, self.conversation_id, self._own)
        history = tuple(self.conversation.history())
        stored = self.store.add_user_message(self.conversation_id, text)
        self.conversation.add(ChatMessage("user", text, id=stored.id))
        self.message_added.emit(len(self.conversation.messages) - 1)
        self._start_reply(text, history)
        self.conversations_changed.emit()
        return True

    def _start_reply(
        self, user_text: str, history: tuple, regenerate: bool = False, kept: tuple = (), force: int | None = None
    ) -> None:
        """Save an empty reply after the active branch's leaf (or beside the last reply) and ask for it.

        kept / force (Branch from an alternative): the new reply starts with these TokenEvents of the
        old one, then the token `force`, then the model's own continuation.
        """
        memories = [m.text for m in self.memory.relevant(user_text)]
        model = (self.model_info or {}).get("display_name") or self.settings.app.model
        used = settings_used(self.effective_settings, memories)
        branch = (1, 1)
        if regenerate:
            stored = self.store.regenerate(self.conversation_id, model, used)
            self._show(load_transcript(self.store, self.conversation_id, skip_leaf=True))
            alternatives = len(self.store.siblings(stored.id))
            branch = (alternatives, alternatives)
        else:
            stored = self.store.start_assistant_message(self.conversation_id, model, used)
        reply = ChatMessage("assistant", id=stored.id, memories=memories, asked=used, branch=branch)
        reply.add_tokens(kept)
        reply_index = self.conversation.add(reply)
        request_id = self._next_request
        self._next_request += 1
        recorder = ReplyRecorder(self.store, stored.id, FLUSH_INTERVAL_S)
        if kept:
            recorder.add(list(kept))
        self._active = ActiveReply(request_id, reply_index, recorder, offset=len(kept))
        self._flush_timer.start()
        self.message_added.emit(reply_index)
        self.busy_changed.emit(True)
        request = reply_request(self.effective_settings, user_text, history, memories, self.conversation_id)
        if force is not None:
            request = replace(request, continue_ids=tuple(t.token for t in kept), force_token=force)
        self._request_generate.emit(request_id, request)

    def continue_with(self, index: int, token_index: int, token_id: int) -> bool:
        """Branch from an alternative: a new version of the last reply (at `index`) that keeps its
        first `token_index` tokens, puts `token_id` at that step and lets the model go on from there
        (the prompt cache serves everything before the step). The old version is kept (‹ 1/2 ›)."""
        if not self.can_regenerate():
            return False
        messages = self.conversation.messages
        last = max(i for i, m in enumerate(messages) if m.role == "assistant")
        if index != last or token_index > len(messages[index].tokens):
            return False
        kept = tuple(messages[index].tokens[:token_index])
        user = max(i for i in range(index) if messages[i].role == "user")
        history = tuple(self.conversation.history(before=user))
        self._start_reply(messages[user].text, history, regenerate=True, kept=kept, force=token_id)
        return True

    def can_continue(self) -> bool:
        """Whether the last reply can be continued: it stopped early (Stop, the token limit, Glassbox
        closing) and its tokens are known, and nothing is being written now."""
        messages = self.conversation.messages
        if self.busy or not messages:
            return False
        last = messages[-1]
        return (last.role == "assistant" and last.id is not None and last.finish_reason in CONTINUABLE
                and last.error is None and any(t.token is not None for t in last.tokens))

    def continue_reply(self) -> bool:
        """Let the model go on writing the last reply where it stopped; the new tokens append to
        the same stored message. The prompt is the conversation with that reply as an unfinished
        assistant turn (`GenerateRequest.continue_ids`)."""
        if not self.can_continue():
            return False
        index = len(self.conversation.messages) - 1
        reply = self.message(index)
        user = max(i for i in range(index) if self.message(i).role == "user")
        history = tuple(self.conversation.history(before=user))
        ids = tuple(t.token for t in reply.tokens if t.token is not None)
        reply.finish_reason = None  # streaming again
        request_id = self._next_request
        self._next_request += 1
        recorder = ReplyRecorder(self.store, reply.id, FLUSH_INTERVAL_S)
        self._active = ActiveReply(request_id, index, recorder, offset=len(reply.tokens))
        self._flush_timer.start()
        self.busy_changed.emit(True)
        self.reply_tokens.emit(index, [])
        request = replace(
            reply_request(self.effective_settings, self.message(user).text, history, reply.memories,
                          self.conversation_id),
            continue_ids=ids,
        )
        self._request_generate.emit(request_id, request)
        return True

    # -- conversations ---------------------------------------------------------------------

    @property
    def own_settings(self) -> ConversationSettings:
        """What the open conversation sets for itself (its system prompt, its stop strings)."""
        return self._own

    @property
    def effective_settings(self) -> Settings:
        """The settings the open conversation's next reply is asked with: the app's, with the
        conversation's own system prompt and stop strings in their place where it has them."""
        return self._own.applied_to(self.settings)

    def set_own_settings(self, own: ConversationSettings) -> None:
        """Give the open conversation its own system prompt / stop strings (None fields: the
        app's); kept with the conversation (a new chat keeps them until its first message)."""
        self._own = own
        if self.conversation_id is not None:
            conversation_settings.write(self.store, self.conversation_id, own)

    def list_conversations(self) -> list[Conversation]:
        """Every stored conversation, most recently active first."""
        return self.store.list_conversations()

    def conversation_title(self) -> str:
        """The open conversation's title ("" for a new one)."""
        return "" if self.conversation_id is None else self.store.conversation(self.conversation_id).title

    def import_conversations(self, path: str | Path) -> ImportSummary:
        """Import every conversation in a ChatGPT `conversations.json` or a Glassbox JSON export as
        new conversations and open the first; ImportFileError (nothing imported) if the file is not
        one. Conversations inside it that are damaged are skipped and listed in the summary."""
        result = read_conversations(path)
        saved = [save_imported(self.store, c) for c in result.conversations]
        self.conversations_changed.emit()
        self.open_conversation(saved[0].id)
        return ImportSummary(Path(path).name, [c.title for c in saved], result.skipped)

    def open_latest(self) -> None:
        """Reopen the most recently active conversation (an empty one if there is none)."""
        latest = self.store.list_conversations()
        if latest:
            self.open_conversation(latest[0].id)

    def open_conversation(self, conversation_id: int) -> bool:
        """Show a stored conversation's active branch (a reply still streaming is stopped and kept).

        All or nothing: if it cannot be read, the open conversation stays open, `notice` says why,
        and False is returned. What damaged rows cost (their extras) is told through `notice` too.
        """
        loaded = self._read(conversation_id)
        if loaded is None:
            return False
        if self._abandon_reply() and conversation_id == self.conversation_id:
            loaded = self._read(conversation_id) or loaded  # the stopped reply's last tokens too
        self._show(loaded)
        return True

    def show_message(self, conversation_id: int, message_id: int) -> int | None:
        """Open the conversation and branch holding a stored message (a search hit); its index in
        the shown branch, or None if it could not be shown."""
        if conversation_id != self.conversation_id and not self.open_conversation(conversation_id):
            return None
        if self.index_of(message_id) is None and not self.busy:  # a hit on another branch
            self.store.select_branch(message_id)
            self._reload()
        return self.index_of(message_id)

    def _reload(self) -> None:
        """Show the open conversation's active branch again, as stored (after a branch change)."""
        if (loaded := self._read(self.conversation_id)) is not None:
            self._show(loaded)

    def _read(self, conversation_id: int) -> LoadedTranscript | None:
        """A stored conversation read completely, or None (and a notice) if it cannot be read."""
        try:
            return load_transcript(self.store, conversation_id)
        except (StoreError, sqlite3.Error) as e:
            log.exception("could not read conversation %s", conversation_id)
            self.notice.emit(f"This conversation could not be opened ({e}); nothing was changed.")
            return None

    def _show(self, loaded: LoadedTranscript) -> None:
        """Make a completely read conversation the open one, and tell the views."""
        if loaded.conversation_id != self._open.id:
            self._own = conversation_settings.read(self.store, loaded.conversation_id)
        self._open = OpenConversation(loaded.conversation_id, loaded.transcript)
        self.open_notice = loaded.notice
        self.conversation_reset.emit()
        for index in range(len(loaded.transcript.messages)):
            self.message_added.emit(index)
        self.conversation_opened.emit(self.conversation_id)
        if loaded.notice:
            self.notice.emit(loaded.notice)

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
        write_export(self.store, self.conversation_id, Path(path), kind)

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
        self.memory_saved.emit(memory.text)
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
        return self.store.notice()

    def stop(self) -> None:
        """Stop the reply being generated; what was generated so far stays."""
        if self._active:
            self._worker.cancel(self._active.request_id)

    def count_tokens(self, text: str) -> int:
        """Ask the worker how many tokens `text` is; returns the ticket `token_count` answers with
        (after any reply being written now)."""
        ticket, self._next_count = self._next_count, self._next_count + 1
        self._request_count.emit(ticket, text)
        return ticket

    def load_model(self, spec: str) -> None:
        """Load a model in the worker; the current one stays usable until the new one is ready."""
        self.model_loading.emit(-1.0, self._loads.start(spec))
        self._request_load.emit(spec)

    def new_chat(self) -> None:
        """An empty conversation; it is saved (and listed) once its first message is sent."""
        self._abandon_reply()
        self._open = OpenConversation()
        self._own = ConversationSettings()
        self.open_notice = ""
        self.conversation_reset.emit()
        self.conversation_opened.emit(None)

    def close(self) -> None:
        """The app is closing: a reply still streaming is saved as far as it got."""
        self._abandon_reply()

    def _abandon_reply(self) -> bool:
        """Stop the active reply, save it as far as it got, and stop listening to it; whether
        there was one."""
        if self._active is None:
            return False
        self._worker.cancel(self._active.request_id)
        message = self.message(self._active.index)
        self._end_reply(message, "cancelled")
        self.busy_changed.emit(False)
        return True

    def _flush(self) -> None:
        """Save the active reply's tokens that arrived since the last save."""
        if self._active is not None:
            self._active.recorder.flush()

    def _end_reply(self, message: ChatMessage, reason: str) -> None:
        self._flush_timer.stop()
        active, self._active = self._active, None
        if active is not None:
            active.recorder.finish(reason, message.stats | ({"error": message.error} if message.error else {}))

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
        if self._active and self._active.request_id == request_id:
            return self._active.index
        return None

    def _on_model_loading(self, progress: float, text: str) -> None:
        self.model_loading.emit(progress, text)

    def _on_model_loaded(self, info: dict) -> None:
        self._loads.loaded(info)
        self.model_loaded.emit(info)

    def _on_model_failed(self, message: str) -> None:
        message, fall_back = self._loads.failed(message)
        self.model_failed.emit(message)
        if fall_back:
            self.remember(replace(self.settings, app=replace(self.settings.app, model=DEFAULT_MODEL)))
            self.load_model(DEFAULT_MODEL)

    def _on_prefill_progress(self, request_id: int, done: int, total: int) -> None:
        if self._reply_index(request_id) is not None:
            self.prefill_progress.emit(done, total)

    def _on_tokens(self, request_id: int, tokens: list[TokenEvent]) -> None:
        index = self._reply_index(request_id)
        if index is None:
            return
        if self._active.offset:  # a continued reply: its tokens number on from what it had
            tokens = [replace(t, index=t.index + self._active.offset) for t in tokens]
        self.message(index).add_tokens(tokens)
        self._active.recorder.add(tokens)
        self.reply_tokens.emit(index, tokens)

    def _on_finished(self, request_id: int, stats: dict) -> None:
        index = self._reply_index(request_id)
        if index is None:
            return
        message = self.message(index)
        if self._active.offset:  # a continued reply counts all its tokens
            stats = {**stats, "generated_tokens": len(message.tokens)}
        message.stats = stats
        message.finish_reason = stats.get("finish_reason") or "cancelled"
        self._end_reply(message, message.finish_reason)
        self.reply_finished.emit(index, stats)
        self.busy_changed.emit(False)
        self.conversations_changed.emit()

    def _on_failed(self, request_id: int, failure: Failure) -> None:
        index = self._reply_index(request_id)
        if index is None:
            return
        message = self.message(index)
        error = failure.message
        message.error = error
        self._end_reply(message, "error")
        self.reply_failed.emit(index, error)
        self.busy_changed.emit(False)
        if failure.kind is FailureKind.CONTEXT_TOO_LONG and not message.tokens:
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
