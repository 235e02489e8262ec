"""OpenAI's plain-completion (`text_completion`) response shapes, built from the engine's TokenEvents.

Log-probabilities come in the completions shape: four parallel lists, one entry per token —
`tokens` (the token as readable text), `token_logprobs` (natural log, the model's raw
distribution, as the window shows it), `top_logprobs` (a {token: logprob} dict of the best
alternatives, best first; two ids with the same text keep the better one) and `text_offset` (where
the token's text starts in the completion's text, in characters; there is no echo, so the prompt
is not counted). A stream's chunks carry the same lists for their own tokens, offsets still
counted from the start of the completion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from app.server.translate import LOGPROB_FLOOR, usage
from engine.events import TokenEvent

OBJECT = "text_completion"


def _lp(value: float) -> float:
    return value if math.isfinite(value) else LOGPROB_FLOOR


@dataclass
class TextLogprobs:
    """The completions-shaped logprobs of the tokens added so far (`top` alternatives per token)."""

    top: int
    tokens: list[str] = field(default_factory=list)
    token_logprobs: list[float] = field(default_factory=list)
    top_logprobs: list[dict[str, float]] = field(default_factory=list)
    text_offset: list[int] = field(default_factory=list)

    def add(self, ev: TokenEvent, offset: int) -> None:
        """Add one token whose text starts at character `offset` of the completion."""
        alternatives: dict[str, float] = {}
        for _id, piece, lp in ev.top_raw[: self.top]:
            alternatives.setdefault(piece, _lp(lp))
        self.tokens.append(ev.piece)
        self.token_logprobs.append(_lp(ev.logprob))
        self.top_logprobs.append(alternatives)
        self.text_offset.append(offset)

    def body(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "token_logprobs": self.token_logprobs, "top_logprobs": self.top_logprobs,
                "text_offset": self.text_offset}


def chunk(cid: str, created: int, model: str, text: str, reason: str | None = None,
          logprobs: TextLogprobs | None = None) -> dict[str, Any]:
    """One chunk of a streamed plain completion."""
    choice = {"text": text, "index": 0, "logprobs": None if logprobs is None else logprobs.body(),
              "finish_reason": reason}
    return {"id": cid, "object": OBJECT, "created": created, "model": model, "system_fingerprint": None,
            "choices": [choice]}


def usage_chunk(cid: str, created: int, model: str, stats: dict[str, Any]) -> dict[str, Any]:
    """A stream's last chunk when `stream_options.include_usage` was asked: no choices, the usage."""
    return {"id": cid, "object": OBJECT, "created": created, "model": model, "system_fingerprint": None,
            "choices": [], "usage": usage(stats)}


def completion(cid: str, created: int, model: str, text: str, reason: str | None,
               logprobs: TextLogprobs | None, stats: dict[str, Any]) -> dict[str, Any]:
    """A whole plain completion."""
    return chunk(cid, created, model, text, reason, logprobs) | {"usage": usage(stats)}
