"""One-shot looks inside the model: the next-token distribution after a prompt."""

from __future__ import annotations

from collections.abc import Sequence

import mlx.core as mx
import mlx.nn as nn

from engine.generate import prefill
from engine.sampling import log_softmax


def next_token_logprobs(model: nn.Module, ids: Sequence[int], top: int = 10, chunk: int = 512):
    """[(id, logprob)] of the `top` most likely next tokens after `ids`, best first."""
    cache = model.make_cache()
    last = prefill(model, ids, cache, chunk)  # evaluates only the caches: no LM head per chunk
    logits = model(last[None], cache)
    logprobs = log_softmax(logits[0, -1].astype(mx.float32))
    k = min(top, logprobs.shape[-1])
    order = mx.argsort(-logprobs)[:k]
    return list(zip(order.tolist(), logprobs[order].tolist(), strict=True))
