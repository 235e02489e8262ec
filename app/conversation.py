"""The conversation as plain data: messages, and for replies the per-token record the views show.

`ChatMessage.id` is the message's row in `app.store.Store` (None until it is saved);
`from_stored` rebuilds a message, tokens included, from what the store kept.
"""

from __future__ import annotations

import math
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
    id: int | None = None  # the stored message
    memories: list[str] = field(default_factory=list)  # memories the reply's request carried
    branch: tuple[int, int] = (1, 1)  # this message's place among its stored alternatives (n of m)

    @property
    def streaming(self) -> bool:
        return self.role == "assistant" and self.finish_reason is None and self.error is None

    def add_tokens(self, records: list[TokenRecord]) -> None:
        self.tokens.extend(records)
        self.text += "".join(r["text"] for r in records)


def from_stored(message: Any, tokens: list[Any], branch: tuple[int, int] = (1, 1)) -> ChatMessage:
    """A ChatMessage from an `app.store.Message` and its `TokenRecord`s, as the views show it live."""
    if message.role != "assistant":
        return ChatMessage(message.role, message.text, id=message.id, branch=branch)
    deltas = text_deltas(message.text, [t.piece for t in tokens])
    records = [stored_record(i, t, delta) for i, (t, delta) in enumerate(zip(tokens, deltas, strict=True))]
    return ChatMessage(
        "assistant",
        message.text,
        tokens=records,
        stats={"generated_tokens": len(records)} | (getattr(message, "stats", None) or {}),  # as it finished
        finish_reason=message.finish_reason or "interrupted",
        id=message.id,
        memories=list((message.settings or {}).get("memories_used", [])),
        branch=branch,
    )


def stored_record(index: int, token: Any, text: str) -> TokenRecord:
    """A stored TokenRecord in the worker's plain-dict form (alternatives of the final distribution
    are named from the raw ones; None, a filtered-out token, becomes -inf)."""
    names = {i: piece for i, piece, _lp in token.top}
    return {
        "index": index, "id": token.id, "text": text, "piece": token.piece,
        "logprob": _lp(token.logprob), "sampled_logprob": _lp(token.sampled_logprob), "entropy": token.entropy,
        "top_raw": [[i, p, _lp(lp)] for i, p, lp in token.top],
        "top_final": [[i, names.get(i, ""), _lp(lp)] for i, lp in token.top_final],
    }  # fmt: skip


def _lp(logprob: float | None) -> float:
    return -math.inf if logprob is None else logprob


def text_deltas(text: str, pieces: list[str]) -> list[str]:
    """Split `text` into what each token added to it. A piece that is not the text at that point (a
    token holding part of a UTF-8 character) adds nothing until a later piece matches; the text in
    between goes to the last such token."""
    deltas = [""] * len(pieces)
    offset, pending = 0, None
    for i, piece in enumerate(pieces):
        at = text.find(piece, offset) if piece else -1
        if piece and (at == offset or (pending is not None and 0 <= at - offset <= 4)):
            if pending is not None:
                deltas[pending] = text[offset:at]
            deltas[i], offset, pending = piece, at + len(piece), None
        else:
            pending = i
    if pending is not None:
        deltas[pending] = text[offset:]
    return deltas


@dataclass
class Conversation:
    messages: list[ChatMessage] = field(default_factory=list)

    def add(self, message: ChatMessage) -> int:
        self.messages.append(message)
        return len(self.messages) - 1

    def history(self, before: int | None = None) -> list[dict[str, str]]:
        """Finished turns (those before message `before`, if given) as chat-template messages:
        failed or empty replies are left out."""
        turns = []
        for m in self.messages[:before]:
            if m.role == "assistant" and (m.error is not None or not m.text.strip() or m.streaming):
                continue
            turns.append({"role": m.role, "content": m.text})
        return turns
