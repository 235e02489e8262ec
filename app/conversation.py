"""The conversation as the window shows it: messages, and for replies their `TokenEvent`s.

`ChatMessage.id` is the message's row in `app.store.Store` (None until it is saved); `from_stored`
rebuilds a message from what the store kept, tokens included, exactly as they streamed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from app.attachments import Attachment, message_content
from app.context import memories_in_system
from app.store import Message
from engine.events import TokenEvent


@dataclass
class ChatMessage:
    role: str  # "user" or "assistant"
    text: str = ""
    tokens: list[TokenEvent] = field(default_factory=list)  # a reply's tokens; their texts make `text`
    stats: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None
    error: str | None = None
    id: int | None = None  # the stored message
    memories: list[str] = field(default_factory=list)  # memories the reply's request carried
    asked: dict[str, Any] = field(default_factory=dict)  # what the reply was asked with (reply_request.settings_used)
    branch: tuple[int, int] = (1, 1)  # this message's place among its stored alternatives (n of m)
    attachments: tuple[Attachment, ...] = ()  # files attached to a user message (its `text` is what was typed)

    @property
    def content(self) -> str:
        """What the model reads for this message: the text, then the attached files' blocks."""
        return message_content(self.text, self.attachments) if self.attachments else self.text

    @property
    def streaming(self) -> bool:
        return self.role == "assistant" and self.finish_reason is None and self.error is None

    def add_tokens(self, tokens: Sequence[TokenEvent]) -> None:
        self.tokens.extend(tokens)
        self.text += "".join(t.text for t in tokens)


def from_stored(message: Message, tokens: Sequence[TokenEvent] = (), branch: tuple[int, int] = (1, 1)) -> ChatMessage:
    """A ChatMessage from a stored message and its tokens (`Store.tokens(...).tokens`)."""
    if message.role != "assistant":
        return ChatMessage(message.role, message.text, id=message.id, branch=branch, attachments=message.attachments)
    memories = (message.settings or {}).get("memories_used")
    stats = message.stats or {}
    failed = message.finish_reason == "error"
    return ChatMessage(
        "assistant",
        message.text,
        tokens=list(tokens),
        # as it finished; text without tokens (an import) has an unknown count, never "0 tokens"
        stats=({"generated_tokens": len(tokens)} if tokens or not message.text else {}) | stats,
        finish_reason=message.finish_reason or "interrupted",
        error=(str(stats.get("error") or "This reply failed.")) if failed else None,  # kept out of the history
        id=message.id,
        memories=[m for m in memories if isinstance(m, str)] if isinstance(memories, list) else [],
        asked=_asked(message),
        branch=branch,
    )


def _asked(message: Message) -> dict[str, Any]:
    """What a stored reply was asked with, and the model that wrote it (app/reply_model.py)."""
    asked = dict(message.settings) if isinstance(message.settings, dict) else {}
    if isinstance(message.model, str) and message.model:
        asked.setdefault("model", message.model)
    return asked


@dataclass
class Transcript:
    """The messages of the branch the window shows, oldest first."""

    messages: list[ChatMessage] = field(default_factory=list)

    def add(self, message: ChatMessage) -> int:
        self.messages.append(message)
        return len(self.messages) - 1

    def history(self, before: int | None = None) -> list[dict[str, Any]]:
        """Finished turns (those before message `before`, if given) as chat-template messages:
        failed or empty replies are left out. A user message carries the memories it was sent with
        (`memories`: those of the reply after it, when that reply had them with the message), and a
        reply asked with a prompt that opened its thinking says so (`thinking_opened`); both are
        read by app/context.py, never given to a template. So every message is sent again exactly
        as it was sent the first time."""
        turns = []
        for i, m in enumerate(self.messages[:before]):
            if m.role == "assistant" and (m.error is not None or not m.text.strip() or m.streaming):
                continue
            turn = {"role": m.role, "content": m.content}
            if m.role == "assistant" and m.asked.get("opens_thinking"):
                turn["thinking_opened"] = True
            if m.role == "user" and (memories := self._sent_with(i)):
                turn["memories"] = memories
            turns.append(turn)
        return turns

    def _sent_with(self, index: int) -> list[str]:
        """The memories the user message at `index` was sent with: those of the reply after it, when
        that reply had them with the message (not in the system turn, as replies saved before did)."""
        reply = self.messages[index + 1] if index + 1 < len(self.messages) else None
        if reply is None or reply.role != "assistant" or memories_in_system(reply.asked):
            return []
        return list(reply.memories)
