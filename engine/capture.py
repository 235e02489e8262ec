"""The hooks every architecture calls so one forward pass can report what happens inside it.

A model's `__call__(tokens, cache, capture=None)` runs exactly as in generation; when a capture is
given it also calls, in this order:

    capture.embedding(h)                    h: (B, L, dim) the residual stream after the embedding
    lc = capture.layer(i)                   per block i, a LayerCapture handed to the block
    lc.wants_weights                        if true, the block's attention calls lc.attend(...)
                                            instead of cache.attend(...): the explicit softmax
                                            path, so the weights exist (fused kernels never
                                            materialise them)
    lc.block(attn, mlp, out)                the attention update, the MLP update and the block's
                                            output (B, L, dim) each

An architecture file adds ~6 lines: pass `capture.layer(i)` to block i, call `block()` at the end
of the block and branch to `attend()` in the attention. engine/inspect.py also reads, by these
names: `model.head(h)` (final norm + LM head, softcapping included), `model.embed_tokens`,
`model.layers[i].self_attn.{n_heads, n_kv_heads, rope}` (a layer without `self_attn` and with
`is_linear` true is a linear-attention layer: its block never calls `attend`, so it has no weights)
and, if the model has one, `make_cache()`. Without a capture nothing else runs, so
generation is as fast as before (docs/benchmarks.md, "Inspector hooks"). The capture keeps lazy
MLX arrays only for what was asked (rows, layers, heads): large tensors are reduced here, in the
engine, before anything reaches the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import mlx.core as mx

from engine.kernels import mask_array, sink_softmax


class LayerCapture(Protocol):
    wants_weights: bool

    def attend(self, q: mx.array, k: mx.array, v: mx.array, scale: float, mask, sinks: mx.array | None = None) -> mx.array:
        """Attention written out (scores, masked softmax, weighted values), recording the weights."""
        ...

    def block(self, attn: mx.array, mlp: mx.array, out: mx.array) -> None: ...


class Capture(Protocol):
    def embedding(self, h: mx.array) -> None: ...

    def layer(self, index: int) -> LayerCapture: ...


def explicit_attention(
    q: mx.array, k: mx.array, v: mx.array, scale: float, mask, sinks: mx.array | None = None,
) -> tuple[mx.array, mx.array]:
    """softmax(q k^T * scale, masked) v with grouped-query heads, and the weights (with `sinks`,
    gpt-oss's per-head sink logits in the normalisation: the weights then sum to less than 1).

    q: (B, heads, L, D); k, v: (B, kv_heads, S, D). Returns (out (B, heads, L, D), weights
    (B, heads, L, S)); masked entries are exactly 0.
    """
    B, H, L, D = q.shape
    n_kv, S = k.shape[1], k.shape[2]
    rep = H // n_kv
    qg = (q * scale).reshape(B, n_kv, rep, L, D)  # query heads grouped by the KV head they share
    scores = qg @ k[:, :, None].swapaxes(-1, -2)  # (B, kv, rep, L, S)
    allowed = mask_array(mask, L, S)
    if allowed is not None:
        scores = mx.where(allowed, scores, -mx.inf)
    weights = sink_softmax(scores, sinks)
    out = (weights @ v[:, :, None].astype(mx.float32)).reshape(B, H, L, v.shape[-1])
    return out.astype(q.dtype), weights.reshape(B, H, L, S)


@dataclass
class LayerRecord:
    """What one block reported, reduced to the kept rows (lazy until `Recorder.evaluate`)."""

    attn: mx.array | None = None  # (R, dim) the attention update at the kept rows
    mlp: mx.array | None = None  # (R, dim) the MLP update
    out: mx.array | None = None  # (R, dim) the residual stream after the block
    weights: mx.array | None = None  # (heads, R, S) or, with `full_head`, (L, S) for that head
    values: mx.array | None = None  # (kv_heads, S, D) the values the weights were applied to
    key_start: int = 0  # absolute position of key 0 (a sliding-window cache holds a suffix)
    allowed: mx.array | None = None  # (R, S) bool, or (L, S) with full_head: keys the mask allowed


@dataclass
class Recorder:
    """A Capture that keeps the rows `rows` of one call (positions relative to the call's tokens).

    offset: tokens already in the cache (the absolute position of the call's first token).
    weight_layers: the layers whose attention weights to compute explicitly (all heads at the kept
    rows); with `full_head` set, that head's whole (L, S) map instead.
    """

    offset: int
    rows: Sequence[int]
    weight_layers: frozenset[int] = frozenset()
    full_head: int | None = None
    embedded: mx.array | None = None  # (R, dim)
    layers: dict[int, LayerRecord] = field(default_factory=dict)

    def embedding(self, h: mx.array) -> None:
        self.embedded = self._rows(h)

    def layer(self, index: int) -> _RecorderLayer:
        return _RecorderLayer(self, self.layers.setdefault(index, LayerRecord()), index in self.weight_layers)

    def _rows(self, h: mx.array) -> mx.array:
        return h[0, mx.array(list(self.rows))].astype(mx.float32)  # (R, dim)

    def evaluate(self) -> None:
        arrays = [self.embedded] + [
            a for r in self.layers.values() for a in (r.attn, r.mlp, r.out, r.weights, r.allowed) if a is not None
        ]
        mx.eval(arrays)


class _RecorderLayer:
    def __init__(self, recorder: Recorder, record: LayerRecord, wants_weights: bool):
        self.recorder, self.record, self.wants_weights = recorder, record, wants_weights

    def attend(self, q, k, v, scale, mask, sinks=None):
        out, weights = explicit_attention(q, k, v, scale, mask, sinks)
        rec, r = self.record, self.recorder
        L, S = q.shape[2], k.shape[2]
        rec.key_start = r.offset + L - S
        rows = mx.array(list(r.rows))
        rec.values = v[0]
        allowed = mask_array(mask, L, S)
        allowed = mx.ones((L, S), dtype=mx.bool_) if allowed is None else allowed
        if r.full_head is not None:
            rec.weights, rec.allowed = weights[0, r.full_head], allowed
        else:
            rec.weights, rec.allowed = weights[0][:, rows], allowed[rows]
        return out

    def block(self, attn, mlp, out):
        rec, rows = self.record, self.recorder._rows
        rec.attn, rec.mlp, rec.out = rows(attn), rows(mlp), rows(out)
