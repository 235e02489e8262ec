"""A reply's numbers as one of its tokens knows them: the one formula behind what the status bar
shows while a reply streams, what a Stop saves (the backend's finished stats) and what a reply left
behind saves (closing the app, switching conversation), so each reopens as it was shown.

Qt-free. Units: seconds, tokens, bytes; `tokens_per_s` is NaN when not measurable (one token).
"""

from __future__ import annotations

import math
from typing import Any

from engine.events import TokenEvent


def numbers_at(token: TokenEvent, generated: int, context_length: int = 0) -> dict[str, Any]:
    """The numbers of a generation run as of `token`, `generated` tokens into the run (a continued
    reply's run counts only its own tokens: its prompt already holds the earlier ones).

    A run stopped while its prompt was read computed only the tokens read (`computed_tokens` <
    prompt − cached) and has no first-token time (None) when no token came. `context_length` (the
    window the request was fitted to) is included when known (> 0)."""
    decode_s = token.elapsed_s - token.ttft_s
    read = token.prompt_tokens if token.prompt_read is None else token.prompt_read
    numbers = {
        "prompt_tokens": token.prompt_tokens,
        "cached_tokens": token.cached_tokens,
        "generated_tokens": generated,
        "ttft_s": token.ttft_s if generated else None,
        "elapsed_s": token.elapsed_s,
        "tokens_per_s": (generated - 1) / decode_s if generated > 1 and decode_s > 0 else math.nan,
        "computed_tokens": read - token.cached_tokens,
        "kv_bytes": token.kv_bytes,
        "context_used": read + generated,
    }
    return numbers | ({"context_length": context_length} if context_length else {})
