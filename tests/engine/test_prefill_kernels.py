"""The kernels for a prompt's chunk (many queries at once) against the computation written out.

`native.prefill_attention` computes softmax(q k^T * scale) v under a causal band (optionally a
sliding window) with flash attention's blocking; it must equal the plain masked softmax for every
shape a model gives it (grouped heads, head sizes that are not a multiple of the kernel's tile,
keys and values of another width, views into a cache buffer, a transposed query), and each cache
kind must reach it with the mask it means. The hidden layer's gate (SiLU or GELU times the up
projection) over the kernel threads equals MLX's.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import pytest

from engine import kernels, native
from engine.cache import make_cache
from engine.kernels import Band, mask_array

needs_kernels = pytest.mark.skipif(not native.available(), reason="Glassbox's CPU kernels are not built here")
REL = 2e-5


def rel_err(out: mx.array, ref: mx.array) -> float:
    return (mx.abs(out - ref).max() / mx.maximum(mx.abs(ref).max(), 1e-30)).item()


def reference(q, k, v, scale, allowed):
    """Masked softmax attention, every query head against its KV head's keys; a query that sees
    no key gets zeros (the kernel's choice; a softmax over nothing has no value)."""
    rep = q.shape[1] // k.shape[1]
    k, v = mx.repeat(k, rep, axis=1), mx.repeat(v, rep, axis=1)
    scores = (q * scale) @ k.swapaxes(-1, -2)
    if allowed is None:
        return mx.softmax(scores, axis=-1, precise=True) @ v
    weights = mx.softmax(mx.where(allowed, scores, -mx.inf), axis=-1, precise=True)
    return mx.where(allowed.any(axis=-1)[:, None], mx.nan_to_num(weights, nan=0.0) @ v, 0.0)


def inputs(batch, heads, kv_heads, queries, keys, d, dv, seed):
    """q as a transposed view (B, L, H, D) -> (B, H, L, D), as a model makes it; k and v as the
    first `keys` rows of larger buffers, as a cache returns them."""
    q = mx.random.normal((batch, queries, heads, d), key=mx.random.key(seed)).transpose(0, 2, 1, 3) * 2
    k = mx.random.normal((batch, kv_heads, keys + 9, d), key=mx.random.key(seed + 1))[:, :, :keys]
    v = mx.random.normal((batch, kv_heads, keys + 9, dv), key=mx.random.key(seed + 2))[:, :, :keys]
    return q, k, v


@needs_kernels
@pytest.mark.parametrize(
    ("batch", "heads", "kv_heads", "queries", "keys", "d", "dv", "band"),
    [
        (1, 9, 3, 130, 130, 64, 64, Band(0)),  # SmolLM2's heads, a whole prompt
        (1, 4, 1, 37, 100, 256, 256, Band(63)),  # Gemma 3's, a chunk after 63 cached tokens
        (2, 6, 2, 5, 9, 8, 8, Band(4, 0, 3)),  # a window of 3, two sequences
        (1, 3, 3, 70, 70, 20, 13, Band(0)),  # head sizes off the 16-wide tiles, values narrower
        (1, 2, 1, 33, 200, 16, 16, None),  # every key visible
        (1, 8, 8, 130, 300, 32, 32, Band(170, 0, 64)),
        (1, 4, 2, 50, 80, 24, 40, Band(120, 90, 16)),  # a rotating cache's keys from position 90
        (1, 16, 1, 3, 577, 576, 512, Band(574)),  # latent attention's shape (rank + RoPE, rank)
        (1, 1, 1, 1, 5, 4, 4, Band(4)),  # one query, one head
    ],
)
def test_equals_masked_softmax_attention(batch, heads, kv_heads, queries, keys, d, dv, band):
    q, k, v = inputs(batch, heads, kv_heads, queries, keys, d, dv, seed=queries + keys)
    scale = d**-0.5
    bounds = None if band is None else (band.q0, band.k0, band.window)
    out = native.prefill_attention(q, k, v, scale, bounds)
    allowed = None if band is None else band.allowed(queries, keys)
    assert out.shape == (batch, heads, queries, dv)
    assert rel_err(out, reference(q, k, v, scale, allowed)) <= REL


@needs_kernels
def test_a_query_that_sees_no_key_gets_zeros_and_the_others_are_untouched():
    q, k, v = inputs(1, 2, 1, 6, 6, 16, 16, seed=3)
    band = Band(q0=0, k0=3)  # keys at positions 3..8: queries 0..2 see none of them
    out = native.prefill_attention(q, k, v, 0.25, (band.q0, band.k0, band.window))
    assert mx.all(out[:, :, :3] == 0).item()
    assert rel_err(out[:, :, 3:], reference(q, k, v, 0.25, band.allowed(6, 6))[:, :, 3:]) <= REL


def test_a_band_spelled_out_is_the_causal_window_mask():
    allowed = Band(q0=5, k0=2, window=3).allowed(3, 7)  # queries at 5, 6, 7; keys at 2..8
    assert allowed.tolist() == [
        [False, True, True, True, False, False, False],
        [False, False, True, True, True, False, False],
        [False, False, False, True, True, True, False],
    ]
    assert mask_array("causal", 2, 4).tolist() == [[True, True, True, False], [True, True, True, True]]
    assert mask_array(None, 2, 4) is None


@needs_kernels
@pytest.mark.parametrize("mask", ["causal", Band(2, 0, 0), Band(2, 1, 3), None])
def test_attention_of_a_chunk_takes_the_kernel_for_a_band(mask, monkeypatch):
    calls = []
    kernel = native.prefill_attention
    monkeypatch.setattr(native, "prefill_attention", lambda *a: calls.append(a[-1]) or kernel(*a))
    q, k, v = inputs(1, 4, 2, 3, 5, 32, 32, seed=11)
    out = kernels.attention(q, k, v, 32**-0.5, mask)
    assert calls and rel_err(out, reference(q, k, v, 32**-0.5, mask_array(mask, 3, 5))) <= REL


@needs_kernels
def test_an_explicit_mask_array_keeps_the_written_out_attention(monkeypatch):
    monkeypatch.setattr(native, "prefill_attention", lambda *a: pytest.fail("an arbitrary mask has no band"))
    q, k, v = inputs(1, 4, 2, 3, 5, 32, 32, seed=12)
    allowed = mx.array([[True, False, True, False, True]] * 3)
    out = kernels.attention(q, k, v, 32**-0.5, allowed)
    assert rel_err(out, reference(q, k, v, 32**-0.5, allowed)) <= REL


@needs_kernels
@pytest.mark.parametrize(("kind", "window"), [("plain", None), ("rotating", 6), ("rotating", 64), ("quantized", None)])
def test_each_cache_kind_reaches_the_kernel_with_the_mask_it_means(kind, window):
    """A prompt in chunks, then decoding steps, through the cache's own mask and attention, equal
    to attention written out over what the cache returned under that mask spelled out."""
    cache = make_cache(1, kind, window=window)[0]
    for step, n in enumerate([9, 5, 1, 1, 7]):
        q, k, v = inputs(1, 4, 2, n, n, 32, 32, seed=100 + 10 * step)
        mask = cache.make_mask(n)
        keys, values = cache.update_and_fetch(k, v)
        out = cache.attend(q, keys, values, scale=32**-0.5, mask=mask)
        if kind == "quantized":  # the reference reads what the cache holds: the dequantized rows
            keys, values = (mx.dequantize(*p, group_size=cache.group_size, bits=cache.bits) for p in (keys, values))
        ref = reference(q, keys, values, 32**-0.5, mask_array(mask, n, keys.shape[2]))
        assert rel_err(out, ref) <= (REL if kind != "quantized" else 1e-3), (kind, step)


@needs_kernels
@pytest.mark.parametrize("gelu", [False, True])
def test_the_gated_activation_of_a_chunk_equals_mlx(gelu):
    g = mx.random.normal((1, 300, 1000), key=mx.random.key(21)) * 6
    u = mx.random.normal((1, 300, 1000), key=mx.random.key(22))
    out = native.gated_activation(g, u, gelu)
    ref = (nn.gelu_approx(g) if gelu else nn.silu(g)) * u
    assert out.shape == g.shape and rel_err(out, ref) <= 1e-5
