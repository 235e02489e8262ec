"""Attention, softmax, SiLU and GELU that are fast on the device in use.

On Metal, MLX's fused kernels are right (`mx.fast.scaled_dot_product_attention`, `nn.silu`). On the
CPU backend they are not: `exp` and `sigmoid` run at ~25 ns per element (numpy: ~1.5 ns), which made
the softmax inside attention and the SiLU inside the MLP about half of prefill time, and the CPU
`scaled_dot_product_attention` is an unfused fallback slower than plain matmuls. So on the CPU we
compute exp as 2^n * p(f) (a degree-6 polynomial, float32-accurate to ~1e-7 relative), compiled by
`mx.compile` into one fused, vectorisable kernel, and write attention as two matmuls around it.

With Glassbox's C++ kernels built (engine/native.py), attention is one operation of theirs: a
decoding step's fused attention, and for a prompt's chunk flash attention's blocking under the
cache's causal band (`Band`); the hidden layer's gate (SiLU or GELU times the up projection) runs
over their threads too. Without them, only large inputs (prefill) take the compiled path:
`mx.compile` re-traces for every new shape (~0.3 ms), which a decoding step, whose key length grows
by one each time, would pay on every layer. The JIT'd kernel itself is cached by MLX on disk, so
only the very first run on a machine compiles it.
"""

from __future__ import annotations

import functools
import math
import os
from dataclasses import dataclass

import mlx.core as mx
import mlx.nn as nn

from engine import native

LN2 = math.log(2.0)
LOG2E = 1.0 / LN2
EXP2_COEFFS = [LN2**k / math.factorial(k) for k in range(7)]  # 2^f = e^(f ln2), |f| <= 1/2


def _exp_poly(x: mx.array) -> mx.array:
    """exp(x) for float32 x: 0 below about -88, finite up to about +88."""
    t = mx.clip(x * LOG2E, -127.0, 127.0)
    n = mx.floor(t + 0.5)
    f = t - n
    p = EXP2_COEFFS[6]
    for c in reversed(EXP2_COEFFS[:6]):
        p = p * f + c
    scale = ((n.astype(mx.int32) + 127) << 23).view(mx.float32)  # 2^n built from its exponent bits
    return p * scale


def _silu_poly(x: mx.array) -> mx.array:
    return x / (1.0 + _exp_poly(-x))


# Below this many elements the per-shape trace costs more than the faster kernel saves.
MIN_ELEMENTS = 1 << 16


@functools.cache
def _compiled():
    """The compiled CPU kernels, or None if this machine cannot compile them (no C++ compiler) or
    GLASSBOX_NO_CPU_KERNELS is set (for A/B benchmarks)."""
    if os.environ.get("GLASSBOX_NO_CPU_KERNELS"):
        return None
    exp = mx.compile(_exp_poly)  # not shapeless: MLX cannot trace `view` without shapes
    silu = mx.compile(_silu_poly)
    try:
        mx.eval(exp(mx.zeros((4,))), silu(mx.zeros((4,))))
    except Exception:  # MLX's CPU compile JITs C++; without a compiler fall back to plain ops
        return None
    return exp, silu


def _use_cpu_kernels(size: int) -> bool:
    return size >= MIN_ELEMENTS and mx.default_device() == mx.cpu and _compiled() is not None


def exp(x: mx.array) -> mx.array:
    return _compiled()[0](x) if _use_cpu_kernels(x.size) else mx.exp(x)


def exp_per_step(x: mx.array) -> mx.array:
    """exp of one step's (vocab,) vector: the compiled kernel from 4,096 elements, since a 1-D
    vector of a vocabulary's size has the same shape every step and so is traced once (MLX's CPU
    exp took ~1.2 ms of a decode step for 49,152 logits; the kernel ~0.3 ms)."""
    if x.ndim == 1 and x.size >= 4096 and mx.default_device() == mx.cpu and _compiled() is not None:
        return _compiled()[0](x)
    return mx.exp(x)


def silu(x: mx.array) -> mx.array:
    """x * sigmoid(x)."""
    return _compiled()[1](x) if _use_cpu_kernels(x.size) else nn.silu(x)


GELU_SIGMOID_SCALE = 2.0 * math.sqrt(2.0 / math.pi)


def _gelu_approx_poly(x: mx.array) -> mx.array:
    """0.5 x (1 + tanh(u)) written as x * sigmoid(2u), u = sqrt(2 / pi) (x + 0.044715 x^3) (no
    cancellation in 1 + tanh(u) for negative x); 0 below x = -20, where it is 0 in float32 (and
    the clipped exp would turn a huge negative x into a finite non-zero value)."""
    y = x / (1.0 + _exp_poly(-GELU_SIGMOID_SCALE * (x + 0.044715 * x * x * x)))
    return mx.where(x < -20.0, 0.0, y)


@functools.cache
def _compiled_gelu():
    """The compiled GELU (tanh approximation), or None where `_compiled` is None."""
    return mx.compile(_gelu_approx_poly) if _compiled() is not None else None


def gelu_approx(x: mx.array) -> mx.array:
    """GELU, tanh approximation (`nn.gelu_approx`; Gemma's MLP): MLX's CPU tanh runs at ~25 ns per
    element, ~half of a Gemma 3 prefill's MLP after the matrix products; the compiled polynomial
    form ~3x less (same float32 values to ~1e-7 relative)."""
    return _compiled_gelu()(x) if _use_cpu_kernels(x.size) else nn.gelu_approx(x)


def project(x: mx.array, *linears: nn.Module) -> list[mx.array]:
    """[linear(x) for each linear]: the projections of one input (a layer's Q, K and V). Quantized
    linears on Glassbox's kernels (`native_parts`, engine/native_modules.py) with one layout and
    no bias go through one fused operation when x has few rows (a decoding step)."""
    parts = _native_parts(x, linears)
    if parts is None:
        return [linear(x) for linear in linears]
    group, bits = parts[0][3:]
    return native.quantized_matmuls(x, [a for p in parts for a in p[:3]], group, bits)


def swiglu(x: mx.array, gate: nn.Module, up: nn.Module) -> mx.array:
    """silu(gate(x)) * up(x), the hidden layer of a SwiGLU feed-forward: one fused operation for
    two bias-free quantized linears of one layout on Glassbox's kernels at decode sizes."""
    parts = _native_parts(x, (gate, up))
    if parts is None:
        return _gated(gate(x), up(x), gelu=False)
    group, bits = parts[0][3:]
    return native.quantized_swiglu(x, list(parts[0][:3]), list(parts[1][:3]), group, bits)


def geglu(x: mx.array, gate: nn.Module, up: nn.Module) -> mx.array:
    """gelu_approx(gate(x)) * up(x), the hidden layer of a GeGLU feed-forward (Gemma): one fused
    operation on Glassbox's kernels at decode sizes, as `swiglu`."""
    parts = _native_parts(x, (gate, up))
    if parts is None:
        return _gated(gate(x), up(x), gelu=True)
    group, bits = parts[0][3:]
    return native.quantized_swiglu(x, list(parts[0][:3]), list(parts[1][:3]), group, bits, gelu=True)


def _gated(g: mx.array, u: mx.array, gelu: bool) -> mx.array:
    """silu(g) * u, or gelu_approx(g) * u: at a prompt chunk's size (float32 on the CPU) one
    operation over the kernel threads, else MLX's."""
    if g.dtype == mx.float32 and g.size >= MIN_ELEMENTS and native.available():
        return native.gated_activation(g, u, gelu)
    return (gelu_approx(g) if gelu else silu(g)) * u


def _native_parts(x: mx.array, linears) -> list[tuple] | None:
    """Each linear's (weight, scales, biases, group, bits) when all can share one kernel call on
    x, else None."""
    if x.ndim == 0 or x.size // x.shape[-1] > native.MAX_KERNEL_ROWS:
        return None
    parts = [getattr(linear, "native_parts", None) for linear in linears]
    if any(p is None for p in parts) or len({p[3:] for p in parts}) != 1:
        return None
    return parts


def softmax(x: mx.array, axis: int = -1) -> mx.array:
    if not _use_cpu_kernels(x.size):
        return mx.softmax(x, axis=axis, precise=True)
    e = exp(x - mx.max(x, axis=axis, keepdims=True))
    return e / mx.sum(e, axis=axis, keepdims=True)


@dataclass(frozen=True)
class Band:
    """A causal attention mask given by positions rather than spelled out (a cache's `make_mask`):
    query i (at position q0 + i) sees key j (at position k0 + j) when k0 + j <= q0 + i and, with
    window > 0, only when k0 + j > q0 + i - window (a sliding-window layer's last `window` tokens).
    """

    q0: int
    k0: int = 0
    window: int = 0

    def allowed(self, n_queries: int, n_keys: int) -> mx.array:
        """The mask spelled out: (n_queries, n_keys) bool, True where the query sees the key."""
        q_pos = mx.arange(self.q0, self.q0 + n_queries)[:, None]
        k_pos = mx.arange(self.k0, self.k0 + n_keys)[None]
        seen = k_pos <= q_pos
        return seen & (k_pos > q_pos - self.window) if self.window > 0 else seen


def as_band(mask, n_queries: int, n_keys: int) -> Band | None:
    """A cache's mask (None, "causal", a `Band` or a bool array) as a Band; None when it is none
    ("every key") or an array (no band to read off it: check `mask is None` to tell them apart)."""
    if isinstance(mask, Band):
        return mask
    if isinstance(mask, str):  # "causal": the queries are the last n_queries of the keys
        return Band(n_keys - n_queries)
    return None


def mask_array(mask, n_queries: int, n_keys: int) -> mx.array | None:
    """A cache's mask (None, "causal", a `Band` or a bool (L, S) array) as a bool (L, S) array, or
    None (every key visible)."""
    band = as_band(mask, n_queries, n_keys)
    return band.allowed(n_queries, n_keys) if band is not None else mask


def attention(q: mx.array, k: mx.array, v: mx.array, scale: float, mask, sinks: mx.array | None = None) -> mx.array:
    """softmax(q k^T * scale + mask) v with grouped-query heads; mask: None, "causal", a `Band` or
    a bool (L, S) array.

    sinks (heads,): attention sinks (gpt-oss): one learned logit per head that takes part in the
    softmax's normalisation but has no value, so a head can attend to "nothing" (MLX's fused op).

    q: (B, heads, L, D); k, v: (B, kv_heads, S, D) with heads a multiple of kv_heads.
    On the CPU with Glassbox's kernels, one operation: a decoding step's fused attention, and for
    more queries (a prompt's chunk) flash attention's blocking over the band (no (L, S) score
    matrix, the tiles a causal mask hides skipped; engine/_native/prefill_attention.h). Without
    them, the queries go through in blocks whose score matrix stays cache-sized.
    """
    H, L, S = q.shape[1], q.shape[2], k.shape[2]
    fused_mask = mask if mask is None or isinstance(mask, str) else mask_array(mask, L, S)  # MLX's op's forms
    if sinks is not None:
        return mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=fused_mask, sinks=sinks)
    if native.available():
        if L == 1 and mask is None:  # a decode step: one fused op
            return native.decode_attention(q, k, v, scale)
        band = as_band(mask, L, S)
        if band is not None or mask is None:
            return native.prefill_attention(q, k, v, scale, None if band is None else (band.q0, band.k0, band.window))
    if not _use_cpu_kernels(H * L * S):
        return mx.fast.scaled_dot_product_attention(q, k, v, scale=scale, mask=fused_mask)
    mask = mask_array(mask, L, S)
    block = max(1, BLOCK_ELEMENTS // (H * S))
    outs = [
        _attention_block(q[:, :, i : i + block], k, v, scale, None if mask is None else mask[i : i + block])
        for i in range(0, L, block)
    ]
    return outs[0] if len(outs) == 1 else mx.concatenate(outs, axis=2)


# Scores per query block: small enough that the softmax's passes stay in the CPU cache.
BLOCK_ELEMENTS = 1 << 17


def _attention_block(q: mx.array, k: mx.array, v: mx.array, scale: float, mask) -> mx.array:
    B, H, L, D = q.shape
    n_kv, S = k.shape[1], k.shape[2]
    rep = H // n_kv
    q = (q * scale).reshape(B, n_kv, rep * L, D)  # the query heads sharing one KV head, stacked
    scores = (q @ k.swapaxes(-1, -2)).reshape(B, n_kv, rep, L, S)
    if mask is not None:
        scores = mx.where(mask, scores, -mx.inf)
    weights = softmax(scores, axis=-1).reshape(B, n_kv, rep * L, S)
    return (weights @ v).reshape(B, H, L, v.shape[-1])


def sink_softmax(scores: mx.array, sinks: mx.array | None) -> mx.array:
    """Softmax over the last axis of grouped scores (B, kv_heads, rep, L, S), in float32; with
    `sinks` (heads = kv_heads × rep,), each head's sink logit joins the normalisation and is dropped
    after (see `attention`)."""
    scores = scores.astype(mx.float32)
    if sinks is None:
        return mx.softmax(scores, axis=-1, precise=True)
    n_kv, rep = scores.shape[1], scores.shape[2]
    sink = mx.broadcast_to(sinks.astype(mx.float32).reshape(1, n_kv, rep, 1, 1), (*scores.shape[:-1], 1))
    return mx.softmax(mx.concatenate([scores, sink], axis=-1), axis=-1, precise=True)[..., :-1]
