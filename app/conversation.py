"""The conversation as plain data: messages, and for replies the per-token record the views show."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A token record, as the worker sends it (plain values only):
#   index, id, text (delta that became visible), piece (the token's exact text),
#   logprob (raw model), sampled_logprob (after the decoding settings), entropy (nats),
#   top_raw / top_final: [[id, piece, logprob], ...] best first; and the running numbers
#   prompt_tokens, cached_tokens, ttft_s, elapsed_s, kv_bytes (absent from fakes).
TokenRecord = dict[str, Any]


@dataclass
class ChatMessage:
    role: str  # "user" or "assistant"
    text: str = ""
    tokens: list[TokenRecord] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)
    finish_reason: str | None = None
    error: str | None = None

    @property
    def streaming(self) -> bool:
        return self.role == "assistant" and self.finish_reason is None and self.error is None

    def add_tokens(self, records: list[TokenRecord]) -> None:
        self.tokens.extend(records)
        self.text += "".join(r["text"] for r in records)


@dataclass
class Conversation:
    messages: list[ChatMessage] = field(default_factory=list)

    def add(self, message: ChatMessage) -> int:
        self.messages.append(message)
        return len(self.messages) - 1

    def history(self) -> list[dict[str, str]]:
        """Finished turns as chat-template messages: failed or empty replies are left out."""
        turns = []
        for m in self.messages:
            if m.role == "assistant" and (m.error is not None or not m.text.strip() or m.streaming):
                continue
            turns.append({"role": m.role, "content": m.text})
        return turns
