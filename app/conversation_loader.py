"""Reading a stored conversation into what the window shows, all or nothing.

`load_transcript` reads everything first and builds the `Transcript` only when every read has
succeeded, so a caller that switches to the result only after it returns never shows half a
conversation. What could not be read of a damaged row (see `app.store.records`) is left out and
described in `LoadedTranscript.notice`, in words for the user.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.conversation import ChatMessage, Transcript, from_stored
from app.store import ReplyTokens, Store


@dataclass(frozen=True)
class LoadedTranscript:
    conversation_id: int
    transcript: Transcript
    notice: str = ""  # what was lost to damaged rows ("" when nothing was)


def load_transcript(store: Store, conversation_id: int, skip_leaf: bool = False) -> LoadedTranscript:
    """The active branch of a stored conversation (without its last message, a reply about to
    stream, if `skip_leaf`). Raises StoreError (or sqlite3.Error) if the conversation cannot be read."""
    path = store.active_path(conversation_id)
    messages: list[ChatMessage] = []
    lost_tokens = lost_details = 0
    for m in path[:-1] if skip_leaf else path:
        siblings = [s.id for s in store.siblings(m.id)]
        branch = (siblings.index(m.id) + 1, len(siblings)) if m.id in siblings else (1, 1)
        tokens = store.tokens(m.id) if m.role == "assistant" else ReplyTokens(())
        lost_tokens += tokens.damaged
        lost_details += bool(m.damage)
        messages.append(from_stored(m, tokens.tokens, branch))
    return LoadedTranscript(conversation_id, Transcript(messages), damage_notice(lost_tokens, lost_details))


def damage_notice(lost_tokens: int, lost_details: int) -> str:
    """What the user is told when damaged rows cost part of a conversation's extras."""
    parts = []
    if lost_tokens:
        parts.append(f"the token details (probabilities) of {_replies(lost_tokens)}")
    if lost_details:
        parts.append(f"the settings or numbers of {_messages(lost_details)}")
    if not parts:
        return ""
    return (
        f"Part of this conversation's saved data is damaged: {' and '.join(parts)} could not be read "
        "and are not shown. Every message's text is intact."
    )


def _replies(n: int) -> str:
    return "1 reply" if n == 1 else f"{n} replies"


def _messages(n: int) -> str:
    return "1 message" if n == 1 else f"{n} messages"
