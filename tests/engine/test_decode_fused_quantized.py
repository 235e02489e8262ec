"""The fused decode step over a quantized KV cache (engine/cache.py:QuantizedKVCache.attend_one):
keys and values quantized into preallocated buffers in place, exactly as mx.quantize quantizes
them, and attention reading them dequantized; the same logits as the unfused quantized path
(`attend_one` turned off: update_and_fetch + quantized matmuls), through buffer growth, the
prompt cache's reuse and rewinds; and the proof that the step is the fused one.
"""

from __future__ import annotations

import mlx.core as mx
import pytest

from engine import native
from engine.cache import QuantizedKVCache, make_cache, trim_cache
from engine.generate import decode_steps, prefill
from engine.sampling import GREEDY, Sampler
from scripts.decode_profile import graph_nodes
from tests.engine.test_decode_fused import llama_model, rel_err
from tests.engine.test_decode_fused_window import gemma3, qwen3, sequence, step_by_step, switch_off_fused

needs_kernels = pytest.mark.skipif(not native.available(), reason="Glassbox's CPU kernels are not built here")
# The unfused path scales the query before its quantized product and sums in another order: float32
# rounding apart, the same numbers (the quantized keys and values are bit for bit the same).
REL = 1e-4


def quantized_caches(model, bits: int, step: int = QuantizedKVCache.step):
    cache = model.make_cache("quantized", bits=bits) if hasattr(model, "make_cache") else make_cache(
        len(model.layers), "quantized", bits=bits)
    for c in cache:
        c.step = step
    return cache


@pytest.fixture
def unfused(monkeypatch):
    return switch_off_fused(monkeypatch)


MODELS = {"llama": llama_model, "qwen3": qwen3, "gemma3": gemma3}


@needs_kernels
@pytest.mark.parametrize("bits", [8, 4])
@pytest.mark.parametrize("name", list(MODELS))
def test_a_quantized_cache_decodes_on_the_fused_path_as_on_the_unfused_one(unfused, name, bits):
    """40 prompt tokens, 30 steps; buffers grown in steps of 16 rows, so the steps cross growths. A
    step per quantized layer: the key's and the value's three parts written (six operations) and the
    attention; no quantized products."""
    model, tokens = MODELS[name](), sequence()
    cache = quantized_caches(model, bits, step=16)
    fused = step_by_step(model, tokens, cache, 40)
    held = [c for c in cache if isinstance(c, QuantizedKVCache)]
    assert held and all(c._k[0].shape[2] > c.offset for c in held)  # preallocated rows
    _, ops = graph_nodes(model(tokens[:, :1], cache))
    assert ops["GlassboxQuantizedRotaryDecodeAttention"] == len(held), ops
    assert ops["GlassboxQuantizedKVWrite"] == 6 * len(held) and ops["QuantizedMatmul"] == 0, ops
    unfused()
    plain = step_by_step(model, tokens, quantized_caches(model, bits), 40)
    assert rel_err(fused, plain) <= REL


@needs_kernels
@pytest.mark.parametrize("bits", [8, 4])
def test_the_fused_write_stores_what_mx_quantize_gives(bits):
    """Bit for bit, the three buffers, for rows of every sign pattern and scale."""
    for seed, transform in enumerate((lambda x: x, mx.abs, lambda x: -mx.abs(x), lambda x: x * 1e-3,
                                      lambda x: x * 0, lambda x: x * 50)):
        x = transform(mx.random.normal((1, 1, 2 * 64), key=mx.random.key(seed)))
        buf = [mx.zeros((1, 2, 5, 64 * bits // 32), mx.uint32), mx.zeros((1, 2, 5, 2)), mx.zeros((1, 2, 5, 2))]
        out = native.quantized_kv_write(buf, x, 3, 32, bits)
        want = mx.quantize(x.reshape(1, 2, 1, 64), group_size=32, bits=bits)
        for got, ref in zip(out, want, strict=True):
            assert mx.array_equal(got[:, :, 3:4], ref).item() and not mx.any(got[:, :, :3]).item()


@needs_kernels
def test_a_write_into_a_view_copies_the_viewed_rows_first():
    """Buffers that are slices of larger ones (rows 0..5 of 9 in each of 2 heads: not contiguous)
    are gathered, then the new row written: nothing else of the larger arrays is touched."""
    big = [mx.random.randint(0, 1 << 30, (1, 2, 9, 16), key=mx.random.key(1)).astype(mx.uint32),
           mx.random.normal((1, 2, 9, 2), key=mx.random.key(2)), mx.random.normal((1, 2, 9, 2), key=mx.random.key(3))]
    mx.eval(big)
    kept = [mx.array(a) for a in big]
    x = mx.random.normal((1, 1, 128), key=mx.random.key(4))
    out = native.quantized_kv_write([a[:, :, :6] for a in big], x, 4, 32, 8)
    want = mx.quantize(x.reshape(1, 2, 1, 64), group_size=32, bits=8)
    for got, old, ref, orig in zip(out, kept, want, big, strict=True):
        assert got.shape[2] == 6 and mx.array_equal(got[:, :, 4:5], ref).item()
        assert mx.array_equal(got[:, :, :4], old[:, :, :4]).item() and mx.array_equal(got[:, :, 5:], old[:, :, 5:6]).item()
        assert mx.array_equal(orig, old).item()


@needs_kernels
def test_decoding_writes_the_quantized_buffers_in_place():
    model = llama_model()
    cache = quantized_caches(model, 8)
    last = prefill(model, sequence(30)[0].tolist(), cache)
    before = native.kv_write_copies()
    list(decode_steps(model, cache, Sampler(GREEDY), last, mx.array([1]), 12))
    assert native.kv_write_copies() == before


@needs_kernels
def test_a_rewound_and_a_copied_quantized_cache_answer_as_fresh_ones(unfused):
    """A snapshot taken mid-conversation (the prompt cache's copy) is not changed by later in-place
    writes, and a cache rewound by 12 tokens then fed an edit gives the edit's fresh logits."""
    model, tokens = llama_model(), sequence()
    cache = quantized_caches(model, 8)
    step_by_step(model, tokens[:, :50], cache, 40)
    snapshot = [c.copy() for c in cache]
    kept = [mx.array(a) for c in snapshot for a in c.state]
    mx.eval(kept)
    step_by_step(model, tokens[:, 50:], cache, 0)
    assert all(mx.array_equal(a, b).item() for a, b in zip(kept, [a for c in snapshot for a in c.state], strict=True))
    assert trim_cache(cache, 12) == 12
    edit = sequence(10, seed=12)
    after_edit = step_by_step(model, edit, cache, 0)
    resumed = step_by_step(model, tokens[:, 50:], snapshot, 0)
    unfused()
    fresh = step_by_step(model, tokens, quantized_caches(model, 8), 40)
    assert rel_err(resumed, fresh[:, 10:]) <= REL
    edited = mx.concatenate([tokens[:, : tokens.shape[1] - 12], edit], axis=1)
    assert rel_err(after_edit, step_by_step(model, edited, quantized_caches(model, 8), 40)[:, -10:]) <= REL


@needs_kernels
def test_bad_quantized_buffers_are_refused():
    x = mx.zeros((1, 1, 64))
    buf = [mx.zeros((1, 1, 4, 8), mx.uint32), mx.zeros((1, 1, 4, 2)), mx.zeros((1, 1, 4, 2))]
    with pytest.raises(ValueError, match="bits must be 4 or 8"):
        native.quantized_kv_write(buf, x, 0, 32, 2)
    with pytest.raises(ValueError, match="w \\(B, heads, capacity"):
        native.quantized_kv_write([buf[0], buf[1], mx.zeros((1, 1, 4, 3))], x, 0, 32, 4)
    with pytest.raises(ValueError, match="row outside"):
        native.quantized_kv_write(buf, x, 4, 32, 4)
