"""How an answer is written for each endpoint: a chat completion's or a plain completion's shapes,
whole or as a stream's chunks, from the engine's TokenEvents (one formatter per request).

`routes` runs every request the same way and asks its formatter for the bodies: `opening()` (the
chunks a stream starts with), `token(ev, text)` (a chunk for one token, `text` being what the
token adds to the answer), `finish(reason)`, `usage(stats)` (the stream's usage chunk) and
`whole(text, reason, stats)` (the unstreamed answer, with the logprobs of every token added).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from app.server import text_shapes, translate
from engine.events import TokenEvent

TokenBytes = Callable[[int, str], bytes]


class Format(Protocol):
    id_prefix: str

    def opening(self) -> list[dict[str, Any]]: ...

    def token(self, ev: TokenEvent) -> dict[str, Any]: ...

    def finish(self, reason: str | None) -> dict[str, Any]: ...

    def usage(self, stats: dict[str, Any]) -> dict[str, Any]: ...

    def whole(self, text: str, reason: str | None, stats: dict[str, Any]) -> dict[str, Any]: ...


class ChatFormat:
    """`chat.completion` / `chat.completion.chunk`, logprobs as {"content": [per-token records]}."""

    id_prefix = "chatcmpl-"

    def __init__(self, call: translate.ChatCall, cid: str, created: int, model: str, token_bytes: TokenBytes):
        self.call, self.cid, self.created, self.model, self.token_bytes = call, cid, created, model, token_bytes
        self.logprobs: list[dict[str, Any]] = []

    def _entry(self, ev: TokenEvent) -> dict[str, Any] | None:
        if not self.call.logprobs:
            return None
        entry = translate.logprob_entry(ev, self.call.top_logprobs, self.token_bytes)
        self.logprobs.append(entry)
        return entry

    def opening(self) -> list[dict[str, Any]]:
        return [translate.chunk(self.cid, self.created, self.model, {"role": "assistant", "content": ""})]

    def token(self, ev: TokenEvent) -> dict[str, Any]:
        entry = self._entry(ev)
        return translate.chunk(self.cid, self.created, self.model, {"content": ev.text}, None,
                               None if entry is None else [entry])

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

    def __init__(self, call: translate.ChatCall, cid: str, created: int, model: str, token_bytes: TokenBytes):
        self.call, self.cid, self.created, self.model = call, cid, created, model
        self.logprobs = text_shapes.TextLogprobs(call.top_logprobs) if call.logprobs else None
        self.offset = 0  # characters of the completion written so far

    def opening(self) -> list[dict[str, Any]]:
        return []

    def token(self, ev: TokenEvent) -> dict[str, Any]:
        own = None
        if self.logprobs is not None:
            self.logprobs.add(ev, self.offset)
            own = text_shapes.TextLogprobs(self.call.top_logprobs)
            own.add(ev, self.offset)
        self.offset += len(ev.text)
        return text_shapes.chunk(self.cid, self.created, self.model, ev.text, None, own)

    def finish(self, reason: str | None) -> dict[str, Any]:
        return text_shapes.chunk(self.cid, self.created, self.model, "", reason)

    def usage(self, stats: dict[str, Any]) -> dict[str, Any]:
        return text_shapes.usage_chunk(self.cid, self.created, self.model, stats)

    def whole(self, text: str, reason: str | None, stats: dict[str, Any]) -> dict[str, Any]:
        return text_shapes.completion(self.cid, self.created, self.model, text, reason, self.logprobs, stats)
