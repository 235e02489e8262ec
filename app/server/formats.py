"""How an answer is written for each endpoint: a chat completion's or a plain completion's shapes,
whole or as a stream's chunks, from the engine's TokenEvents (one formatter per request).

`routes` runs every request the same way and asks its formatter for the bodies: `opening()` (the
chunks a stream starts with), `token(ev)` (the chunk for one token event: the text it adds to the
answer and the logprobs of the content tokens that text reaches; None when a finishing event has
nothing to add), `finish(reason)`, `usage(stats)` (the stream's usage chunk) and
`whole(text, reason, stats)` (the unstreamed answer, with the logprobs of every content token).

Logprobs list the answer's content tokens only (`content_tokens`): not the end-of-turn token that
ended the reply, nor tokens a stop string cut. `usage.completion_tokens` counts every token the
model generated, those included (the window's count of the reply's tokens; see `translate.usage`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from app.server import text_shapes, translate
from app.server.content_tokens import ContentTokens, TokenDecoder
from engine.events import TokenEvent

TokenBytes = Callable[[int, str], bytes]


class Format(Protocol):
    id_prefix: str

    def opening(self) -> list[dict[str, Any]]: ...

    def token(self, ev: TokenEvent) -> dict[str, Any] | None: ...

    def finish(self, reason: str | None) -> dict[str, Any]: ...

    def usage(self, stats: dict[str, Any]) -> dict[str, Any]: ...

    def whole(self, text: str, reason: str | None, stats: dict[str, Any]) -> dict[str, Any]: ...


class ChatFormat:
    """`chat.completion` / `chat.completion.chunk`, logprobs as {"content": [per-token records]}."""

    id_prefix = "chatcmpl-"

    def __init__(self, call: translate.ChatCall, cid: str, created: int, model: str, token_bytes: TokenBytes,
                 decode: TokenDecoder):
        self.call, self.cid, self.created, self.model, self.token_bytes = call, cid, created, model, token_bytes
        self.content = ContentTokens(decode)
        self.logprobs: list[dict[str, Any]] = []

    def opening(self) -> list[dict[str, Any]]:
        return [translate.chunk(self.cid, self.created, self.model, {"role": "assistant", "content": ""})]

    def token(self, ev: TokenEvent) -> dict[str, Any] | None:
        released = self.content.add(ev)
        if ev.finish_reason is not None and not ev.text and not released:
            return None
        entries = None
        if self.call.logprobs:
            entries = [translate.logprob_entry(e, self.call.top_logprobs, self.token_bytes) for _, e in released]
            self.logprobs.extend(entries)
        return translate.chunk(self.cid, self.created, self.model, {"content": ev.text}, None, entries)

    def finish(self, reason: str | None) -> dict[str, Any]:
        return translate.chunk(self.cid, self.created, self.model, {}, reason)

    def usage(self, stats: dict[str, Any]) -> dict[str, Any]:
        return {"id": self.cid, "object": "chat.completion.chunk", "created": self.created, "model": self.model,
                "system_fingerprint": None, "choices": [], "usage": translate.usage(stats)}

    def whole(self, text: str, reason: str | None, stats: dict[str, Any]) -> dict[str, Any]:
        return translate.completion(self.cid, self.created, self.model, text, reason,
                                    self.logprobs if self.call.logprobs else None, stats)


class TextFormat:
    """`text_completion` (whole and chunks), logprobs in the completions shape (text_shapes)."""

    id_prefix = "cmpl-"

    def __init__(self, call: translate.ChatCall, cid: str, created: int, model: str, token_bytes: TokenBytes,
                 decode: TokenDecoder):
        self.call, self.cid, self.created, self.model = call, cid, created, model
        self.content = ContentTokens(decode)
        self.logprobs = text_shapes.TextLogprobs(call.top_logprobs) if call.logprobs else None

    def opening(self) -> list[dict[str, Any]]:
        return []

    def token(self, ev: TokenEvent) -> dict[str, Any] | None:
        released = self.content.add(ev)
        if ev.finish_reason is not None and not ev.text and not released:
            return None
        own = None
        if self.logprobs is not None:
            own = text_shapes.TextLogprobs(self.call.top_logprobs)
            for offset, e in released:  # offset: where the token's text starts in the completion
                self.logprobs.add(e, offset)
                own.add(e, offset)
        return text_shapes.chunk(self.cid, self.created, self.model, ev.text, None, own)

    def finish(self, reason: str | None) -> dict[str, Any]:
        return text_shapes.chunk(self.cid, self.created, self.model, "", reason)

    def usage(self, stats: dict[str, Any]) -> dict[str, Any]:
        return text_shapes.usage_chunk(self.cid, self.created, self.model, stats)

    def whole(self, text: str, reason: str | None, stats: dict[str, Any]) -> dict[str, Any]:
        return text_shapes.completion(self.cid, self.created, self.model, text, reason, self.logprobs, stats)
