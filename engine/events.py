"""The one record of a generated token, from the engine to the window, the store and back.

`TokenEvent` holds plain Python values only (ints, floats, strings, tuples), so it crosses Qt
signals and threads as it is, and `app.store` serialises it and returns the same type. It lives
apart from `engine.generate` so that code which only reads records (the store, the views) does
not import MLX.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# One alternative at a step: (token id, the token's own text as `Tokenizer.piece` shows it, logprob).
Alternative = tuple[int, str, float]


@dataclass(frozen=True)
class TokenEvent:
    """One generated token, or (token None) a finish without a new token.

    Log-probabilities are natural logs; -inf marks a token the sampler filtered out. `text` is the
    text that became visible with this token, exactly as it streamed: the `text` of a reply's
    tokens concatenate to the reply. `piece` is the token's own text (bytes that are not whole
    characters shown as <0xNN>). The running numbers (prompt_tokens … kv_bytes) describe the live
    stream; a reply reopened from the store has them as 0 (its totals are in the reply's stats).
    """

    index: int  # 0 for the first generated token
    token: int | None
    text: str  # new text that became complete with this token (may be "")
    piece: str  # the token's own text, spaces visible as they are
    logprob: float  # under the model's raw distribution
    sampled_logprob: float  # under the distribution the sampler drew from
    entropy: float  # of the raw distribution, in nats
    top_raw: tuple[Alternative, ...] = ()  # best first, raw distribution
    top_final: tuple[Alternative, ...] = ()  # best first, the distribution the sampler drew from
    prompt_tokens: int = 0  # tokens in the whole prompt (cached + prefilled)
    cached_tokens: int = 0  # of those, reused from the KV cache
    ttft_s: float = 0.0  # time to the first token of this reply
    elapsed_s: float = 0.0  # since generation started
    step_s: float = 0.0  # this token's own time
    kv_bytes: int = 0  # KV-cache memory now held
    # tokens in the KV cache when kv_bytes was measured: the prompt and the reply up to this token
    # (a drawn token is fed back before it is reported), or one fewer for the last token of a
    # reply that ends at its token limit (never fed back); 0: not measured (a reopened reply)
    kv_tokens: int = 0
    finish_reason: str | None = None
    # prompt tokens in the KV cache when a stop came while the prompt was being read (cached ones
    # included; no token was generated then); None: the whole prompt was read
    prompt_read: int | None = None

    @property
    def prob(self) -> float:
        return math.exp(self.logprob)
