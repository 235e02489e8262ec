"""Saving conversations read by `app.importers` (ChatGPT, Glassbox JSON) as new conversations.

Each conversation is written in one transaction, so an import that fails half-way leaves nothing
behind. Messages keep their tree, their creation times, and (from a Glassbox export) their model,
settings, finish reason, numbers and tokens, so exporting an imported conversation gives the same
messages. A reply without tokens (from ChatGPT) is marked finished with reason "imported".
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from app.importers import ImportedConversation, ImportedMessage
from app.settings import ConversationSettings
from app.store import conversation_settings
from app.store.conversations import _insert, auto_title
from app.store.records import Conversation, stats_json, tokens_to_row
from engine.events import TokenEvent

if TYPE_CHECKING:
    from app.store.conversations import Store

IMPORTED = "imported"  # finish reason of an imported reply that did not say how it ended


def imported_title(imported: ImportedConversation) -> str:
    """The title `save_imported` gives `imported`: its own, else one made from its first message."""
    first_user = next((m.text for m in imported.messages if m.role == "user"), "")
    return imported.title.strip() or auto_title(first_user) or "Imported conversation"


def already_stored(store: Store, imported: ImportedConversation) -> Conversation | None:
    """A stored conversation identical to `imported` (an export imported again, or the export of a
    conversation still in the list): the same title, creation time and messages (role, text and
    attached files, in the same order); None when there is none."""
    title = imported_title(imported)
    wanted = [(m.role, m.text, tuple(m.attachments)) for m in imported.messages]
    for conversation in store.list_conversations():
        if conversation.title != title or (imported.created is not None and conversation.created != imported.created):
            continue
        stored = [(m.role, m.text, tuple(m.attachments)) for m in store.messages(conversation.id)]
        if stored == wanted:
            return conversation
    return None


def save_imported(store: Store, imported: ImportedConversation) -> Conversation:
    """Write `imported` as a new conversation (its branch `active_leaf` active); returns it."""
    title = imported_title(imported)
    created = imported.created
    with store.transaction() as db:
        conversation_id = db.execute(
            "INSERT INTO conversations (title, title_is_auto, created, updated) VALUES (?, 0, ?, ?)",
            (title, created or 0.0, created or 0.0),
        ).lastrowid
        ids: list[int] = []
        for m in imported.messages:
            parent = None if m.parent is None else ids[m.parent]
            message_id = _insert(db, conversation_id, parent, m.role, m.text, m.model, m.settings,
                                 attachments=m.attachments)
            ids.append(message_id)
            if m.created is not None:
                db.execute("UPDATE messages SET created = ? WHERE id = ?", (m.created, message_id))
            if m.role == "assistant":
                db.execute(
                    "UPDATE messages SET finish_reason = ?, stats = ? WHERE id = ?",
                    (m.finish_reason or IMPORTED, stats_json(m.stats), message_id),
                )
                tokens = _tokens(m)
                if tokens:
                    db.execute("INSERT INTO message_tokens (message_id, seq, data) VALUES (?, 0, ?)",
                               (message_id, tokens_to_row(tokens)))
        leaf = ids[imported.active_leaf] if imported.active_leaf is not None else ids[-1]
        times = [m.created for m in imported.messages if m.created is not None]
        db.execute("UPDATE conversations SET active_leaf_id = ?, updated = ? WHERE id = ?",
                   (leaf, max(times, default=created or 0.0), conversation_id))
    own = ConversationSettings.from_json(imported.own_settings)
    if not own.empty:
        conversation_settings.write(store, conversation_id, own)
    return store.conversation(conversation_id)


def _tokens(m: ImportedMessage) -> list[TokenEvent]:
    """The exported tokens as TokenEvents, only when their shown text makes the message's text
    (otherwise they would describe a different text: the reply is kept without them)."""
    tokens = []
    for index, t in enumerate(m.tokens):
        try:
            tokens.append(TokenEvent(
                index=index, token=int(t["id"]), text=str(t.get("shown_text", t.get("text", ""))),
                piece=str(t.get("text", "")), logprob=_logprob(t.get("logprob")),
                sampled_logprob=_logprob(t.get("sampled_logprob")), entropy=_number(t.get("entropy")),
                top_raw=tuple((int(a["id"]), str(a.get("text", "")), _logprob(a.get("logprob"))) for a in t.get("top", [])),
                top_final=tuple((int(a["id"]), str(a.get("text", "")), _logprob(a.get("logprob")))
                                for a in t.get("top_final", [])),
            ))
        except (KeyError, TypeError, ValueError):
            return []
    return tokens if "".join(t.text for t in tokens) == m.text else []


def _logprob(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else -math.inf


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
