"""Conversation lifecycle: which conversation is open, and every change to the stored ones.

The open conversation is one value, `OpenConversation` (stored id and the transcript shown), so the
window's conversation and the one new messages are saved into are always the same: it is replaced
whole, and only after the new one has been read completely (`load_transcript`); a conversation that
cannot be opened leaves the open one as it was, and `notice` says why. The open conversation's own
settings (`ConversationSettings`) travel with it.

Views reach none of this directly: they use the controller's intents (`app.controller`).
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.conversation import ChatMessage, Transcript
from app.conversation_loader import LoadedTranscript, load_transcript
from app.importers import read_conversations
from app.notices import Notice
from app.settings import ConversationSettings
from app.store import Conversation, SearchHit, Store, StoreError, conversation_settings
from app.store.export import write_export
from app.store.imports import already_stored, save_imported
from engine.events import TokenEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportSummary:
    """What an import did: the file's name, the titles of the conversations made, what was skipped
    (why, one line each; the last `duplicates` of them are conversations already in the list), and
    the conversation to open (the first one made, else the first one already there)."""

    file_name: str
    titles: list[str]
    skipped: list[str]
    first_id: int | None = None
    duplicates: int = 0

    def text(self) -> str:
        """One line for the status bar, e.g. "Imported 3 conversations from conversations.json"."""
        return self.forms()[0]

    def forms(self) -> list[str]:
        """The line from whole to short, for a status bar with little room, each saying how many
        were imported and, in fewer words, how many were skipped and why:
        "Imported 0 conversations from bike.json; 1 skipped (“Bikes” is already in your list with
        the same messages).", "Imported 0 conversations from bike.json; 1 already in your list.",
        "Imported 0 conversations; 1 already in your list.", "Imported 0; 1 already in your list."."""
        count = len(self.titles)
        made = f"Imported {count} conversation{'s' if count != 1 else ''}"
        if not self.skipped:
            return [f"{made} from {self.file_name}.", f"{made}."]
        first = self.skipped[0] + ("; …" if len(self.skipped) > 1 else "")
        whole = f"{made} from {self.file_name}; {len(self.skipped)} skipped ({first})."
        damaged = len(self.skipped) - self.duplicates
        why = ", ".join(part for part in (f"{damaged} could not be read" if damaged else "",
                                          f"{self.duplicates} already in your list" if self.duplicates else "") if part)  # fmt: skip
        return [whole, f"{made} from {self.file_name}; {why}.", f"{made}; {why}.", f"Imported {count}; {why}."]


@dataclass(frozen=True)
class OpenConversation:
    """The conversation the window shows: its stored id (None until its first message is saved),
    its transcript and its own settings. Replaced whole, never field by field."""

    id: int | None = None
    transcript: Transcript = field(default_factory=Transcript)
    own: ConversationSettings = field(default_factory=ConversationSettings)
    notice: str = ""  # what damaged rows cost it ("" when nothing)


class Conversations(QObject):
    message_added = Signal(int)  # index into the transcript (user turn or reply placeholder)
    conversation_reset = Signal()
    conversation_opened = Signal(object)  # stored conversation id (None: a new, unsaved one)
    conversations_changed = Signal()  # list, titles or order changed
    notice = Signal(object)  # a Notice: something the user must know (a conversation that could not be opened)

    def __init__(self, store: Store, parent: QObject | None = None):
        super().__init__(parent)
        self._store = store
        self._open = OpenConversation()

    # -- the open conversation ---------------------------------------------------------------

    @property
    def id(self) -> int | None:
        return self._open.id

    @property
    def transcript(self) -> Transcript:
        return self._open.transcript

    @property
    def own(self) -> ConversationSettings:
        return self._open.own

    @property
    def open_notice(self) -> str:
        return self._open.notice

    def index_of(self, message_id: int) -> int | None:
        """Where a stored message is in the shown branch, if it is there."""
        return next((i for i, m in enumerate(self.transcript.messages) if m.id == message_id), None)

    def set_own(self, own: ConversationSettings) -> None:
        """The open conversation's own settings; saved with it (a new chat keeps them until its
        first message)."""
        self._open = OpenConversation(self.id, self.transcript, own, self.open_notice)
        if self.id is not None:
            conversation_settings.write(self._store, self.id, own)

    def read(self, conversation_id: int) -> LoadedTranscript | None:
        """A stored conversation read completely, or None (and a notice) if it cannot be read."""
        try:
            return load_transcript(self._store, conversation_id)
        except (StoreError, sqlite3.Error) as e:
            log.exception("could not read conversation %s", conversation_id)
            self.notice.emit(Notice.error(f"This conversation could not be opened ({e}); nothing was changed."))
            return None

    def show(self, loaded: LoadedTranscript) -> None:
        """Make a completely read conversation the open one, and tell the views."""
        own = self.own if loaded.conversation_id == self.id else conversation_settings.read(self._store, loaded.conversation_id)
        self._open = OpenConversation(loaded.conversation_id, loaded.transcript, own, loaded.notice)
        self.conversation_reset.emit()
        for index in range(len(loaded.transcript.messages)):
            self.message_added.emit(index)
        self.conversation_opened.emit(self.id)
        if loaded.notice:
            self.notice.emit(Notice.warning(loaded.notice))  # damaged rows left out: the rest is there

    def reload(self) -> None:
        """Show the open conversation's active branch again, as stored (after a branch change)."""
        if self.id is not None and (loaded := self.read(self.id)) is not None:
            self.show(loaded)

    def clear(self) -> None:
        """An empty conversation; it is saved (and listed) once its first message is sent."""
        self._open = OpenConversation()
        self.conversation_reset.emit()
        self.conversation_opened.emit(None)

    # -- messages -----------------------------------------------------------------------------

    def add_user_message(self, text: str, title_text: str | None = None, attachments: tuple = ()) -> int:
        """Save a user message (typed text and attached files) after the active branch's leaf (the
        conversation too, with the own settings chosen for it, if this is its first message) and
        show it; its index. `title_text`: what a first message titles the conversation by, when not
        its text (only files attached)."""
        if self.id is None:
            created = self._store.create_conversation().id
            self._open = OpenConversation(created, self.transcript, self.own)
            if not self.own.empty:  # chosen for the new chat before its first message
                conversation_settings.write(self._store, created, self.own)
        stored = self._store.add_user_message(self.id, text, title_text=title_text, attachments=attachments)
        return self._append(ChatMessage("user", text, id=stored.id, attachments=stored.attachments))

    def add_reply(
        self, model: str, used: dict[str, Any], memories: list[str], regenerate: bool, kept: tuple[TokenEvent, ...] = ()
    ) -> int:
        """Save an empty reply (after the leaf, or beside the last reply when `regenerate`) that
        starts with the tokens `kept`, and show it; its index."""
        branch = (1, 1)
        if regenerate:
            stored = self._store.regenerate(self.id, model, used)
            self.show(load_transcript(self._store, self.id, skip_leaf=True))
            alternatives = len(self._store.siblings(stored.id))
            branch = (alternatives, alternatives)
        else:
            stored = self._store.start_assistant_message(self.id, model, used)
        reply = ChatMessage("assistant", id=stored.id, memories=memories, asked=used, branch=branch)
        reply.add_tokens(kept)
        return self._append(reply)

    def _append(self, message: ChatMessage) -> int:
        index = self.transcript.add(message)
        self.message_added.emit(index)
        return index

    def edit_user_message(self, index: int, text: str) -> None:
        """Save `text` as a new version of the user message at `index` (the old branch is kept)
        and show the new branch."""
        self._store.edit_user_message(self.transcript.messages[index].id, text)
        self.reload()

    def switch_branch(self, index: int, step: int) -> None:
        """Show the previous (-1) or next (+1) alternative of the message at `index`."""
        message_id = self.transcript.messages[index].id
        siblings = self._store.siblings(message_id)
        target = [s.id for s in siblings].index(message_id) + step
        if 0 <= target < len(siblings):
            self.select_branch(siblings[target].id)

    def select_branch(self, message_id: int) -> None:
        """Make the branch holding a stored message the active one, and show it."""
        self._store.select_branch(message_id)
        self.reload()

    def take_back(self, user_index: int) -> None:
        """Delete a user message that was never answered; a conversation left empty goes too."""
        self._store.delete_message(self.transcript.messages[user_index].id)
        if self._store.active_path(self.id):
            self.reload()
        else:  # it was the first message: no conversation is left to keep
            self._store.delete_conversation(self.id)
            self.clear()
        self.conversations_changed.emit()

    # -- stored conversations ------------------------------------------------------------------

    def list(self) -> list[Conversation]:
        """Every stored conversation, most recently active first."""
        return self._store.list_conversations()

    def title(self) -> str:
        """The open conversation's title ("" for a new one)."""
        return "" if self.id is None else self._store.conversation(self.id).title

    def rename(self, conversation_id: int, title: str) -> None:
        if title.strip():
            self._store.rename_conversation(conversation_id, title)
            self.conversations_changed.emit()

    def delete(self, conversation_id: int) -> None:
        """Delete a conversation that is not open, for good."""
        self._store.delete_conversation(conversation_id)
        self.conversations_changed.emit()

    def search(self, text: str) -> list[SearchHit]:
        """Messages matching `text`, best first (`matched_spans` finds the matches in each)."""
        return self._store.search(text)

    def export(self, path: str | Path, kind: str) -> None:
        """Write the open conversation as "markdown" or "json" (docs/export-format.md)."""
        if self.id is None:
            raise ValueError("there is nothing to export yet")
        write_export(self._store, self.id, Path(path), kind)

    def import_file(self, path: str | Path) -> ImportSummary:
        """Save every conversation in an export or a ChatGPT `conversations.json` as new ones, but
        one identical to a stored conversation (the same export imported twice) is skipped, named in
        the summary, and opened if nothing new was; ImportFileError (nothing imported) if the file is
        not one."""
        result = read_conversations(path)
        saved, skipped, known = [], list(result.skipped), []
        for imported in result.conversations:
            if (same := already_stored(self._store, imported)) is not None:  # an export imported again
                skipped.append(f"“{same.title}” is already in your list with the same messages")
                known.append(same)
            else:
                saved.append(save_imported(self._store, imported))
        self.conversations_changed.emit()
        first = saved[0] if saved else known[0] if known else None  # nothing new: open the one already there
        return ImportSummary(Path(path).name, [c.title for c in saved], skipped, first.id if first else None, len(known))

    def store_notice(self) -> str:
        """What the user must know about the database this session (empty when all is well)."""
        return self._store.notice()
