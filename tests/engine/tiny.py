"""Tiny random-weight models, a byte tokenizer and a scripted model for engine unit tests.

Kept out of conftest.py so tests import exactly what they use; nothing here loads a real model.
"""

from __future__ import annotations

from collections.abc import Sequence

import mlx.core as mx
import mlx.nn as nn

from engine.cache import KVCache, make_cache
from engine.models.llama import Model, ModelArgs
from engine.tokenizer import Tokenizer

VOCAB = 300


def tiny_args(**overrides) -> ModelArgs:
    params = dict(
        model_type="llama", hidden_size=64, num_hidden_layers=2, intermediate_size=128,
        num_attention_heads=4, num_key_value_heads=2, vocab_size=VOCAB,
    )
    params.update(overrides)
    return ModelArgs(**params)


def tiny_model(seed: int = 0, **overrides) -> Model:
    """A llama-family model with random weights, evaluated (float32)."""
    mx.random.seed(seed)
    model = Model(tiny_args(**overrides))
    mx.eval(model.parameters())
    return model


def random_tokens(n: int, seed: int = 0, vocab: int = VOCAB) -> mx.array:
    return mx.random.randint(0, vocab, (1, n), key=mx.random.key(seed)).astype(mx.int32)


def run(model: Model, tokens: mx.array, cache: list[KVCache] | None = None) -> mx.array:
    """Logits (B, L, vocab) for `tokens` on `cache` (a fresh plain cache when None), evaluated."""
    cache = make_cache(len(model.layers)) if cache is None else cache
    out = model(tokens, cache)
    mx.eval(out)
    return out


def run_stepwise(model: Model, tokens: mx.array, cache: list[KVCache]) -> mx.array:
    """Feed tokens one at a time; the per-step logits concatenated to (B, L, vocab)."""
    outs = [run(model, tokens[:, i : i + 1], cache) for i in range(tokens.shape[1])]
    return mx.concatenate(outs, axis=1)


def max_diff(a: mx.array, b: mx.array) -> float:
    return mx.max(mx.abs(a - b)).item()


# ---------------------------------------------------------------------------------------------
# A byte tokenizer: ids 0..255 are raw bytes, then a few specials and multi-byte tokens.

EOS, IM_START, IM_END = 256, 257, 258
SPECIALS = {EOS: "</s>", IM_START: "<|im_start|>", IM_END: "<|im_end|>"}
EXTRA = ["Hello", " world", "é", "🙂"]  # ids 259.. : whole words and whole characters


class ByteTokenizer(Tokenizer):
    """Encodes text as its UTF-8 bytes; decoding goes through the shared `token_bytes` table."""

    def __init__(self):
        token_bytes = [bytes([b]) for b in range(256)]
        token_bytes += [s.encode() for s in SPECIALS.values()] + [w.encode() for w in EXTRA]
        token_bytes += [b""] * (VOCAB - len(token_bytes))
        pieces = [t.decode("utf-8", errors="replace") for t in token_bytes]
        super().__init__(
            token_bytes=token_bytes, pieces=pieces, special_ids=set(SPECIALS), eos_ids={EOS},
            bos_id=None, add_bos=False, chat_template=None,
        )

    def _encode(self, text: str, special: bool) -> list[int]:
        return list(text.encode("utf-8"))


# ---------------------------------------------------------------------------------------------
# A scripted model: at absolute position p it predicts script[p] with certainty. It still writes
# to the cache (so offsets and kv_bytes move as with a real model) but ignores what it reads.


class ScriptedModel(nn.Module):
    def __init__(self, script: Sequence[int], vocab: int = VOCAB, n_layers: int = 2):
        super().__init__()
        self._script = list(script)
        self._vocab = vocab
        self.layers = [nn.Identity() for _ in range(n_layers)]
        self.calls: list[int] = []  # tokens per call, to observe chunked prefill

    def __call__(self, tokens: mx.array, cache: list[KVCache]) -> mx.array:
        B, L = tokens.shape
        start = cache[0].offset
        self.calls.append(L)
        kv = mx.zeros((B, 1, L, 8))
        for c in cache:
            c.update_and_fetch(kv, kv)
        positions = range(start, start + L)
        targets = mx.array([self._script[min(p, len(self._script) - 1)] for p in positions])
        logits = mx.where(mx.arange(self._vocab)[None] == targets[:, None], 20.0, 0.0)
        return logits[None].astype(mx.float32)  # (1, L, vocab)
