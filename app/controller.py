"""The chat controller: the one object views talk to, coordinating five parts with one job each.

- `app.conversations.Conversations`: which conversation is open, and every change to stored ones;
- `app.turns.Turns`: asking for replies (send, regenerate, continue, edit and resend, branch);
- `app.replies.Replies`: generation and streaming, one reply at a time, saved as it streams;
- `app.memories.Memories`: the memory intents (the Memories dialog gets this object itself);
- `app.session_settings.SessionSettings`: the settings and the model they choose.

Views call the intents here (`send`, `stop`, `regenerate`, `open_conversation`, `apply_settings` …)
and bind to the signals, which are the parts' own (`_Relay`). They never get the store or the
memory table: an import-linter contract keeps ui/ from importing them, and
tests/ui/test_views_use_intents.py from reaching them through an attribute. (`worker` is handed
out once, to build the Inspector's own service.)
Everything lives in the GUI thread and talks to the worker only through queued signals (and the
worker's thread-safe `cancel`), so nothing here ever waits for the model.

What the controller itself decides is only what spans parts: leaving a conversation while a reply
streams stops that reply and saves it as far as it got before the next one is shown, and deleting
the open conversation opens a new chat and drops the conversation's KV cache in the worker.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.attachments import Attachment
from app.conversation import ChatMessage, Transcript
from app.conversations import Conversations, ImportSummary
from app.drafts import FILE_NAME as DRAFTS_FILE
from app.drafts import Drafts
from app.last_shown import FILE_NAME as SHOWN_FILE
from app.last_shown import LastShown
from app.memories import Memories
from app.memory import Memory
from app.notices import About, Notice
from app.replies import CONTINUABLE, FLUSH_INTERVAL_S, Replies
from app.session_settings import SessionSettings
from app.settings import ConversationSettings, Settings
from app.store import Conversation, SearchHit, Store
from app.turns import Turns
from app.worker import Worker

__all__ = ["CONTINUABLE", "FLUSH_INTERVAL_S", "ChatController", "ImportSummary"]


class _Relay:
    """A signal of one of the controller's parts, offered on the controller (under the same name
    unless `name` gives the part's own)."""

    def __init__(self, part: str, name: str = ""):
        self._part, self._name = part, name

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = self._name or name

    def __get__(self, controller: Any, owner: type | None = None) -> Any:
        return self if controller is None else getattr(getattr(controller, self._part), self._name)


class ChatController(QObject):
    message_added = _Relay("_conversations")  # (index) user turn or reply placeholder shown
    conversation_reset = _Relay("_conversations")  # ()
    conversation_opened = _Relay("_conversations")  # (stored id, or None for a new chat)
    conversations_changed = _Relay("_conversations")  # () list, titles or order changed
    notice = _Relay("_conversations")  # (app.notices.Notice) something the user must know
    reply_tokens = _Relay("_replies")  # (message index, new TokenEvents)
    reply_finished = _Relay("_replies")  # (message index, stats dict)
    reply_failed = _Relay("_replies")  # (message index, message for the user)
    prefill_progress = _Relay("_replies")  # (prompt tokens done, total)
    busy_changed = _Relay("_replies")  # (a reply is being generated)
    settings_changed = _Relay("_session")  # (Settings)
    model_loading = _Relay("_session")  # (progress, text)
    model_waiting = _Relay("_session")  # (text) a load waits for the reply being written
    model_loaded = _Relay("_session")  # (info dict)
    model_failed = _Relay("_session")  # (message)
    terms_needed = _Relay("_session")  # (PendingTerms, spec): a model's terms, asked before it is loaded
    refused = _Relay("_turns")  # (message) a reply's tokens cannot be used with the loaded model
    token_count = _Relay("_session")  # (ticket, tokens; -1: could not count)
    message_too_long = _Relay("_turns")  # (the user's text and attachments, back to the composer; the explanation)
    memories_changed = _Relay("memories", "changed")  # ()
    memory_saved = _Relay("memories", "saved")  # (a memory's text, just saved)

    _request_forget = Signal(str)

    def __init__(
        self, worker: Worker, settings: Settings, store: Store | None = None, parent: QObject | None = None
    ):
        super().__init__(parent)
        self._worker = worker
        self._store = store if store is not None else Store(":memory:")
        self._conversations = Conversations(self._store, self)
        self._replies = Replies(worker, self._store, self, lambda: int((self.model_info or {}).get("context_length") or 0))
        self._session = SessionSettings(worker, settings, self, lambda: self._replies.busy)
        self.memories = Memories(self._store, self)
        self._turns = Turns(self._conversations, self._replies, self.memories, self._session, self)
        in_memory = str(self._store.path) == ":memory:"
        self._drafts = Drafts(None if in_memory else self._store.path.with_name(DRAFTS_FILE))
        self._shown = LastShown(None if in_memory else self._store.path.with_name(SHOWN_FILE))  # for `reopen`
        for shown in (self._conversations.conversation_opened, self._conversations.message_added):
            shown.connect(lambda *_: self._shown.put(self.conversation_id))  # a first message gives a new one its id
        self._request_forget.connect(worker.forget_conversation)
        self._replies.reply_finished.connect(lambda _index, _stats: self.conversations_changed.emit())

    # -- what views read ---------------------------------------------------------------------

    @property
    def store(self) -> Store:
        """The database (for the composition root and tests; views use the intents)."""
        return self._store

    @property
    def worker(self) -> Worker:
        """The model worker (the Inspector sends its own requests to it)."""
        return self._worker

    @property
    def settings(self) -> Settings:
        return self._session.settings

    @property
    def effective_settings(self) -> Settings:
        """The settings the open conversation's next reply is asked with (the app's, with the
        conversation's own in their place)."""
        return self._turns.effective_settings

    @property
    def completion_mode(self) -> bool:
        """Whether the open conversation is in the completion view (no chat template: the text is
        continued as written); see `app.turns.Turns.completion_mode`."""
        return self._turns.completion_mode

    def set_completion_mode(self, on: bool) -> None:
        """Switch the open conversation between the completion view and chat (kept with it)."""
        self._turns.set_completion_mode(on)

    @property
    def thinking_switch(self) -> bool:
        """Whether the loaded model's chat template reads enable_thinking (the toggle is offered)."""
        return "enable_thinking" in ((self.model_info or {}).get("template_options") or ())

    def set_enable_thinking(self, on: bool) -> None:
        """Let a reasoning model think first in the open conversation, or not (kept with it)."""
        own = self._conversations.own
        self._conversations.set_own(ConversationSettings(own.system_prompt, own.stop_strings, own.mode, on))

    @property
    def own_settings(self) -> ConversationSettings:
        """What the open conversation sets for itself (its system prompt, its stop strings)."""
        return self._conversations.own

    @property
    def conversation_id(self) -> int | None:
        """The open conversation's stored id (None for a new one not saved yet)."""
        return self._conversations.id

    @property
    def conversation(self) -> Transcript:
        """The open conversation's messages, as shown."""
        return self._conversations.transcript

    @property
    def open_notice(self) -> str:
        """What damaged rows cost the open conversation ("" when nothing)."""
        return self._conversations.open_notice

    @property
    def model_info(self) -> dict[str, Any] | None:
        """The loaded model's info dict (None before the first load finishes)."""
        return self._session.model_info

    @property
    def model_loading_now(self) -> bool:
        return self._session.loading

    @property
    def busy(self) -> bool:
        return self._replies.busy

    @property
    def active_request(self) -> int | None:
        return self._replies.active_request

    def message(self, index: int) -> ChatMessage:
        return self.conversation.messages[index]

    def index_of(self, message_id: int) -> int | None:
        """Where a stored message is in the shown branch, if it is there."""
        return self._conversations.index_of(message_id)

    def list_conversations(self) -> list[Conversation]:
        """Every stored conversation, most recently active first."""
        return self._conversations.list()

    def conversation_title(self) -> str:
        """The open conversation's title ("" for a new one)."""
        return self._conversations.title()

    def search(self, text: str) -> list[SearchHit]:
        return self._conversations.search(text)

    def store_notice(self) -> str:
        """What the user must know about the database this session (empty when all is well)."""
        return self._conversations.store_notice()

    def can_regenerate(self) -> bool:
        return self._turns.can_regenerate()

    def replies_to_user(self) -> bool:
        """Whether `regenerate` would answer a user message the conversation ends with."""
        return self._turns.replies_to_user()

    def can_continue(self) -> bool:
        """Whether the last reply stopped early and can be continued (`continue_reply`)."""
        return self._turns.can_continue()

    # -- replies ---------------------------------------------------------------------------

    def send(self, text: str, attached: Sequence[Attachment] = ()) -> bool:
        """Send a user message (False, and nothing sent, if it cannot be: `Turns.send`); a sent
        message is no longer the conversation's draft. `text`: what was typed; `attached`: the
        files attached to it (a part of the message of their own, `app.attachments`)."""
        asked_in = self.conversation_id
        sent = self._turns.send(text, attached)
        if sent:
            self._drafts.put(asked_in, "")
        return sent

    def draft(self) -> str:
        """What was typed in the open conversation's message box and not sent ("" when nothing)."""
        return self._drafts.get(self.conversation_id)

    def draft_attachments(self) -> tuple[Attachment, ...]:
        """The files attached to the open conversation's unsent message."""
        return self._drafts.attachments(self.conversation_id)

    def keep_draft(self, text: str, attachments: Sequence[Attachment] = ()) -> None:
        """Keep the message box's text and attached files as the open conversation's draft (saved
        at once, so it survives a switch, a restart, a crash)."""
        self._drafts.put(self.conversation_id, text, attachments)

    def regenerate(self) -> bool:
        """A new reply to the last user message; the old reply stays as an alternative branch (a
        conversation ending with the user's message gets that message answered)."""
        return self._turns.regenerate()

    def continue_with(self, index: int, token_index: int, token_id: int) -> bool:
        """Branch from an alternative token of the last reply (`Turns.continue_with`)."""
        return self._turns.continue_with(index, token_index, token_id)

    def continue_reply(self) -> bool:
        """Let the model go on writing the last reply where it stopped."""
        return self._turns.continue_reply()

    def edit_and_resend(self, index: int, text: str) -> bool:
        """Replace an earlier user message with `text` and ask again; the old branch is kept."""
        return self._turns.edit_and_resend(index, text)

    def stop(self) -> None:
        """Stop the reply being generated; what was generated so far stays."""
        self._replies.stop()

    def live_numbers(self) -> dict:
        """The streaming reply's numbers now, as a Stop now would save them ({} when none streams)."""
        return self._replies.live_numbers()

    # -- conversations ---------------------------------------------------------------------

    def set_own_settings(self, own: ConversationSettings) -> None:
        """Give the open conversation its own system prompt / stop strings (None fields: the
        app's); kept with the conversation (a new chat keeps them until its first message)."""
        self._conversations.set_own(own)

    def new_chat(self) -> None:
        """An empty conversation; it is saved (and listed) once its first message is sent."""
        left = self._leave_reply("you started a new conversation")
        self._conversations.clear()
        self._tell(left)

    def _leave_reply(self, why: str) -> Notice | None:
        """The window leaves the conversation a reply is being written in: the reply stops, is
        kept as far as it got saying why; the notice telling the user so (Continue goes on from
        there), to be shown once the other conversation is open (`_tell`), or None when no reply
        was being written."""
        title = self.conversation_title()
        if not self._replies.abandon(why):
            return None
        where = f" in “{title}”" if title else ""
        return Notice.info(
            f"The reply{where} stopped because {why}; it is kept as far as it got (Continue goes on from there).",
            About.CONVERSATION)

    def _tell(self, notice: Notice | None) -> None:
        """Show a notice about leaving a conversation after the next one opened: it lasts while that
        one is open and goes with the next change (About.CONVERSATION), never following the user on."""
        if notice is not None:
            self.notice.emit(notice)

    def reopen(self) -> None:
        """At start: the conversation that was on screen when Glassbox last closed, each message in
        the version it showed (the store keeps the branch shown); a new conversation if that was
        one; the latest when nothing is remembered or the conversation is gone."""
        shown = self._shown.get()
        if shown is None:
            self.open_latest()
        elif shown.conversation_id is not None:
            if shown.conversation_id in {c.id for c in self.list_conversations()}:
                self.open_conversation(shown.conversation_id)
            else:
                self.open_latest()

    def open_latest(self) -> None:
        """Reopen the most recently active conversation (an empty one if there is none)."""
        if latest := self.list_conversations():
            self.open_conversation(latest[0].id)

    def open_conversation(self, conversation_id: int) -> bool:
        """Show a stored conversation's active branch (a reply still streaming is stopped and kept).

        All or nothing: if it cannot be read, the open conversation stays open, `notice` says why,
        and False is returned. What damaged rows cost (their extras) is told through `notice` too.
        """
        loaded = self._conversations.read(conversation_id)
        if loaded is None:
            return False
        left = self._leave_reply("you switched conversation")
        if left is not None and conversation_id == self.conversation_id:
            loaded = self._conversations.read(conversation_id) or loaded  # the stopped reply's last tokens too
        self._conversations.show(loaded)
        self._tell(left)
        return True

    def show_message(self, conversation_id: int, message_id: int) -> int | None:
        """Open the conversation and branch holding a stored message (a search hit); its index in
        the shown branch, or None if it could not be shown."""
        if conversation_id != self.conversation_id and not self.open_conversation(conversation_id):
            return None
        if self.index_of(message_id) is None and not self.busy:  # a hit on another branch
            self._conversations.select_branch(message_id)
        return self.index_of(message_id)

    def switch_branch(self, index: int, step: int) -> None:
        """Show the previous (-1) or next (+1) alternative of a message that was edited or regenerated
        (nothing happens for an index that is not shown)."""
        if not self.busy and 0 <= index < len(self.conversation.messages) and self.message(index).id is not None:
            self._conversations.switch_branch(index, step)

    def rename_conversation(self, conversation_id: int, title: str) -> None:
        self._conversations.rename(conversation_id, title)

    def delete_conversation(self, conversation_id: int) -> None:
        """Delete it for good (the view confirms first). Deleting the open one opens its neighbour
        in the list (the one below it, else the one above), as LM Studio and Jan do; a new chat
        when none is left or the neighbour cannot be read. A reply being written in it stops, and
        the user is told so, not that anything was kept."""
        neighbour = None
        if conversation_id == self.conversation_id:
            title = self.conversation_title()
            neighbour = self._neighbour(conversation_id)
            if self._replies.abandon("you deleted the conversation"):
                end = "" if title[-1:] in ".!?…" else "."  # 'rivers.”' not 'rivers.”.' (verify 5, N9)
                self.notice.emit(Notice.info(f"Stopped the reply and deleted “{title}”{end}" if title else
                                             "Stopped the reply and deleted the conversation."))
            self._conversations.clear()
        self._conversations.delete(conversation_id)
        self._drafts.forget(conversation_id)
        self._request_forget.emit(str(conversation_id))  # its KV cache, in memory and on disk
        if neighbour is not None:
            self.open_conversation(neighbour)  # one that cannot be read leaves the new chat open (notice says why)

    def _neighbour(self, conversation_id: int) -> int | None:
        """The conversation listed after this one (most recently active first), else before it."""
        ids = [c.id for c in self.list_conversations()]
        if conversation_id not in ids or len(ids) < 2:
            return None
        at = ids.index(conversation_id)
        return ids[at + 1] if at + 1 < len(ids) else ids[at - 1]

    def import_conversations(self, path: str | Path) -> ImportSummary:
        """Import every conversation in a ChatGPT `conversations.json` or a Glassbox JSON export as
        new conversations and open the first; ImportFileError (nothing imported) if the file is not
        one. Conversations inside it that are damaged are skipped and listed in the summary."""
        summary = self._conversations.import_file(path)
        if summary.first_id is not None:
            self.open_conversation(summary.first_id)
        return summary

    def export(self, path: str | Path, kind: str) -> None:
        """Write the open conversation as "markdown" or "json" (docs/export-format.md)."""
        self._conversations.export(path, kind)

    # -- memories (the Memories dialog uses `memories` itself) -------------------------------

    def remember_fact(self, text: str, source_message_id: int | None = None) -> Memory:
        return self.memories.remember(text, source_message_id)

    def forget_candidates(self, text: str) -> list[Memory] | None:
        """For a "forget …" message, the memories it may mean (nothing is deleted); else None."""
        return self.memories.forget_candidates(text)

    def forget(self, memory_ids: list[int]) -> None:
        self.memories.forget(memory_ids)

    # -- settings and the model ----------------------------------------------------------------

    def apply_settings(self, settings: Settings) -> None:
        """Use new settings from the next reply on; load the model if it changed."""
        self._session.apply(settings)

    def remember(self, settings: Settings) -> None:
        """Keep new settings without acting on them (window layout, a model choice taken back)."""
        self._session.keep(settings)

    def load_model(self, spec: str) -> None:
        """Load a model in the worker; the current one stays usable until the new one is ready."""
        self._session.load_model(spec)

    def count_tokens(self, text: str) -> int:
        """How many tokens `text` is, answered later by `token_count` with the returned ticket."""
        return self._session.count_tokens(text)

    def close(self) -> None:
        """The app is closing: a reply still streaming is saved as far as it got."""
        self._replies.abandon("Glassbox was closed")
