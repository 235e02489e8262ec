"""The fused decode step with per-head q/k norms and sliding windows (Gemma 3's local layers, Qwen
3's norms): the same logits as the unfused path (`attend_one` turned off, so the same kernels do
every other operation) and as the one-pass forward, across windows that have slid, the prompt
cache's reuse, and rewinds; and the proof that the step is the fused one.

Tiny random-weight checkpoints (tests/engine/checkpoints.py; Gemma 3: window 8, every sixth layer
global) quantized to 4 bits and put on the kernels as the loader does.
"""

from __future__ import annotations

import mlx.core as mx
import pytest

from engine import native
from engine.cache import KVCache, QuantizedKVCache, RotatingKVCache, trim_cache
from engine.models.base import rotary_attention
from engine.native_modules import NativeGemmaRMSNorm, NativeRMSNorm, NativeRoPE
from engine.prompt_cache import PromptCache
from scripts.decode_profile import graph_nodes
from tests.engine import checkpoints
from tests.engine.test_decode_fused import REL, on_kernels, rel_err
from tests.engine.tiny import random_tokens

needs_kernels = pytest.mark.skipif(not native.available(), reason="Glassbox's CPU kernels are not built here")
PROMPT, DECODED = 40, 30  # the prompt alone is five windows (8) long


def gemma3():
    model = on_kernels(checkpoints.tiny_model("gemma3", seed=3))
    assert model.args.sliding_window == 8 and model.args.window(5) is None
    return model


def qwen3():
    return on_kernels(checkpoints.tiny_model("qwen3", seed=4))


def switch_off_fused(monkeypatch):
    """A callable that sends every later decoding step down the unfused path (every cache kind's
    attend_one says None), for the rest of the test."""
    def turn_off():
        for cls in (KVCache, RotatingKVCache, QuantizedKVCache):
            monkeypatch.setattr(cls, "attend_one", lambda self, *a, **k: None)
    return turn_off


@pytest.fixture
def unfused(monkeypatch):
    return switch_off_fused(monkeypatch)


def step_by_step(model, tokens: mx.array, cache, start: int) -> mx.array:
    """Logits (1, n - start, vocab) of tokens[start:], fed one at a time after a one-pass prefix."""
    if start:
        mx.eval(model(tokens[:, :start], cache))
    out = []
    for i in range(start, tokens.shape[1]):
        out.append(model(tokens[:, i : i + 1], cache))
        mx.eval(out[-1])
    return mx.concatenate(out, axis=1)


def sequence(n: int = PROMPT + DECODED, seed: int = 5) -> mx.array:
    return random_tokens(n, seed=seed, vocab=checkpoints.VOCAB)


@needs_kernels
@pytest.mark.parametrize("step", [256, 4], ids=["uncompacted", "compacted-every-4"])
def test_gemma3_decodes_on_the_fused_path_as_on_the_unfused_one(unfused, step):
    """A 40-token prompt, then 30 single-token steps: local layers (window 8) slide 60 positions;
    with step 4 their buffers are also compacted while decoding."""
    model, tokens = gemma3(), sequence()
    full = model(tokens, model.make_cache())  # one pass: the sliding-window mask
    fused_cache = model.make_cache()
    for c in fused_cache:
        c.step = step
    fused = step_by_step(model, tokens, fused_cache, PROMPT)
    assert isinstance(fused_cache[0], RotatingKVCache) and not isinstance(fused_cache[5], RotatingKVCache)
    assert max(c.keys.shape[2] for c in fused_cache[:5]) <= 8 + step
    unfused()
    plain = step_by_step(model, tokens, model.make_cache(), PROMPT)
    assert rel_err(fused, plain) <= REL
    assert rel_err(fused, full[:, PROMPT:]) <= REL


@needs_kernels
def test_a_gemma3_step_is_a_few_fused_operations_per_layer():
    """Per layer: two norms around attention and two around the MLP, Q/K/V, two cache writes, the
    attention (q/k norms and RoPE inside), output projection, GeGLU, down, two adds (13); no
    reshapes, transposes, concatenations, per-head norms or RoPE outside the kernels."""
    model = gemma3()
    cache = model.make_cache()
    tokens = sequence()
    mx.eval(model(tokens[:, :PROMPT], cache))
    mx.eval(model(tokens[:, PROMPT : PROMPT + 1], cache))  # the first step grows the buffers
    _, ops = graph_nodes(model(tokens[:, PROMPT + 1 : PROMPT + 2], cache))
    layers = len(model.layers)
    assert ops["GlassboxRotaryDecodeAttention"] == layers and ops["GlassboxKVWrite"] == 2 * layers
    assert ops["GlassboxRMSNorm"] == 4 * layers + 1 and ops["GlassboxQuantizedGeGLU"] == layers
    assert sum(ops.values()) <= 13 * layers + 6, ops
    for general in ("Reshape", "Transpose", "Concatenate", "SliceUpdate", "GlassboxRoPE", "GlassboxDecodeAttention"):
        assert ops[general] == 0, ops


@needs_kernels
def test_qwen3s_norms_go_inside_the_fused_kernels(unfused):
    model, tokens = qwen3(), sequence(30)
    cache = [KVCache() for _ in model.layers]
    fused = step_by_step(model, tokens, cache, 10)
    _, ops = graph_nodes(model(tokens[:, :1], cache))
    assert ops["Reshape"] == 0 and ops["GlassboxRMSNorm"] == 2 * len(model.layers) + 1, ops
    unfused()
    assert rel_err(fused, step_by_step(model, tokens, [KVCache() for _ in model.layers], 10)) <= REL


@needs_kernels
def test_the_prompt_cache_reuses_and_rewinds_gemma3_caches_filled_on_the_fused_path(unfused):
    """A conversation decoded on the fused path is checked in; a follow-up that extends it, and an
    edit that rewinds it to 50 tokens (windows slid, not yet compacted: trimmable), are answered
    from the cached layers with the logits a fresh unfused computation gives."""
    model, tokens = gemma3(), sequence(90, seed=8)
    edited = mx.concatenate([tokens[:, :50], sequence(40, seed=9)], axis=1)
    prompt_cache = PromptCache(model.make_cache)
    cache, reused = prompt_cache.checkout(tokens[0, :PROMPT].tolist())
    assert reused == 0
    step_by_step(model, tokens[:, : PROMPT + DECODED], cache, PROMPT)
    prompt_cache.checkin(tokens[0, : PROMPT + DECODED].tolist(), cache)

    results = {}
    for name, seq in (("extended", tokens), ("edited", edited)):
        cache, reused = prompt_cache.checkout(seq[0, :80].tolist())
        assert reused == (PROMPT + DECODED if name == "extended" else 50)
        results[name] = step_by_step(model, seq[:, reused:], cache, 0)
        prompt_cache.checkin(seq[0].tolist(), cache)
    unfused()
    for name, seq in (("extended", tokens), ("edited", edited)):
        reused = PROMPT + DECODED if name == "extended" else 50
        assert rel_err(results[name], step_by_step(model, seq, model.make_cache(), 0)[:, reused:]) <= REL, name


@needs_kernels
def test_a_rewound_rotating_cache_decodes_the_edit_as_a_fresh_one(unfused):
    """trim_cache on caches filled on the fused path (each local buffer holds more rows than its
    window, padded), then different tokens: as if the edited text had been read from the start."""
    model, tokens = gemma3(), sequence()
    cache = model.make_cache()
    step_by_step(model, tokens, cache, PROMPT)
    assert trim_cache(cache, 12) == 12 and cache[0].offset == PROMPT + DECODED - 12
    edit = sequence(10, seed=11)
    after = step_by_step(model, edit, cache, 0)
    unfused()
    whole = mx.concatenate([tokens[:, : PROMPT + DECODED - 12], edit], axis=1)
    ref = step_by_step(model, whole, model.make_cache(), PROMPT)
    assert rel_err(after, ref[:, -10:]) <= REL


def _rope(dims: int = 32, base: float = 10000.0) -> NativeRoPE:
    import mlx.nn as nn

    rope = nn.RoPE(dims, base=base)
    rope.__class__ = NativeRoPE
    return rope


@needs_kernels
@pytest.mark.parametrize("gemma", [False, True], ids=["rmsnorm", "gemma-rmsnorm"])
def test_the_kernels_normalise_each_head_as_rms_norm_does(gemma):
    import mlx.nn as nn

    from engine.models.gemma3 import RMSNorm as GemmaRMSNorm

    mlx_norm = GemmaRMSNorm(32, 1e-6) if gemma else nn.RMSNorm(32, 1e-6)  # MLX's own module
    mlx_norm.weight = mx.random.normal((32,), key=mx.random.key(1)) * 0.3
    norm = GemmaRMSNorm(32, 1e-6) if gemma else nn.RMSNorm(32, 1e-6)
    norm.weight = mlx_norm.weight
    norm.__class__ = NativeGemmaRMSNorm if gemma else NativeRMSNorm
    rope = _rope()
    x = mx.random.normal((1, 1, 3 * 32), key=mx.random.key(2)) * 4
    buf = native.kv_write(mx.zeros((1, 3, 12, 32)), x, 5, rope.rotation, position=29, norm=norm.native_norm)
    heads = x.reshape(1, 1, 3, 32).transpose(0, 2, 1, 3)
    ref = mx.fast.rope(mlx_norm(heads), 32, traditional=False, base=10000.0, scale=1.0, offset=29)
    assert rel_err(buf[:, :, 5:6], ref) <= 1e-5
    assert mx.abs(buf[:, :, :5]).max().item() == 0

    k_buf = mx.random.normal((1, 1, 20, 32), key=mx.random.key(3))
    v_buf = mx.random.normal((1, 1, 20, 32), key=mx.random.key(4))
    q = mx.random.normal((1, 1, 2 * 32), key=mx.random.key(5)) * 4
    out = native.rotary_decode_attention(q, k_buf, v_buf, rope.rotation, 19, 3, 17, 0.25, norm=norm.native_norm)
    qn = mlx_norm(q.reshape(1, 1, 2, 32).transpose(0, 2, 1, 3))
    qr = mx.fast.rope(qn, 32, traditional=False, base=10000.0, scale=1.0, offset=19)
    want = mx.fast.scaled_dot_product_attention(qr, k_buf[:, :, 3:], v_buf[:, :, 3:], scale=0.25)
    assert rel_err(out, want.transpose(0, 2, 1, 3).reshape(1, 1, -1)) <= 1e-5


@needs_kernels
def test_a_norm_weight_of_the_wrong_size_is_refused():
    rope = _rope()
    with pytest.raises(ValueError, match="norm_weight"):
        native.kv_write(mx.zeros((1, 2, 4, 32)), mx.zeros((1, 1, 64)), 0, rope.rotation, norm=(mx.ones((64,)), 1e-6))
    with pytest.raises(ValueError, match="norm_weight"):
        native.rotary_decode_attention(mx.zeros((1, 1, 64)), mx.zeros((1, 1, 4, 32)), mx.zeros((1, 1, 4, 32)),
                                       rope.rotation, 3, 0, 4, 1.0, norm=(mx.ones((16,)), 1e-6))


def test_without_kernels_the_norms_are_applied_per_head_on_the_written_out_path():
    """rotary_attention's fallback (no native norm): the same as normalising the heads first."""
    import mlx.nn as nn

    rope = nn.RoPE(32, base=10000.0)
    q_norm, k_norm = nn.RMSNorm(32), nn.RMSNorm(32)
    q_norm.weight = mx.random.normal((32,), key=mx.random.key(6))
    q, k, v = (mx.random.normal((1, 5, n * 32), key=mx.random.key(7 + n)) for n in (4, 2, 2))
    got = rotary_attention(q, k, v, KVCache(), rope, 4, 2, 0.2, q_norm=q_norm, k_norm=k_norm)
    qh = rope(q_norm(q.reshape(1, 5, 4, 32)).transpose(0, 2, 1, 3))
    kh = rope(k_norm(k.reshape(1, 5, 2, 32)).transpose(0, 2, 1, 3))
    vh = v.reshape(1, 5, 2, 32).transpose(0, 2, 1, 3)
    want = mx.fast.scaled_dot_product_attention(qh, kh, vh, scale=0.2, mask="causal")
    assert rel_err(got, want.transpose(0, 2, 1, 3).reshape(1, 5, -1)) <= 1e-5
