"""The capture hooks: the same forward pass, with its inside recorded (tiny random models)."""

from __future__ import annotations

import mlx.core as mx
import pytest

from engine.cache import make_cache
from engine.capture import Recorder
from tests.engine.tiny import max_diff, random_tokens, run, tiny_model

T = 12


def _captured(model, tokens, cache=None, **kw):
    cache = make_cache(len(model.layers)) if cache is None else cache
    rec = Recorder(offset=cache[0].offset, rows=range(tokens.shape[1]), **kw)
    logits = model(tokens, cache, rec)
    mx.eval(logits)
    rec.evaluate()
    return logits, rec


def test_capture_changes_nothing_the_model_computes():
    model, tokens = tiny_model(), random_tokens(T)
    plain = run(model, tokens)
    logits, rec = _captured(model, tokens, weight_layers=frozenset({0, 1}))
    assert max_diff(plain, logits) < 1e-5
    # the last block's output through the head is the model's output
    assert max_diff(model.head(rec.layers[1].out)[None], logits) < 1e-5


@pytest.mark.parametrize("layer", [0, 1])
def test_attention_rows_are_causal_distributions(layer):
    model, tokens = tiny_model(), random_tokens(T)
    _, rec = _captured(model, tokens, weight_layers=frozenset({layer}))
    w = rec.layers[layer].weights  # (heads, T, T)
    assert w.shape == (4, T, T)
    assert max_diff(w.sum(axis=-1), mx.ones((4, T))) < 1e-5
    above = mx.triu(mx.ones((T, T)), k=1) > 0
    assert mx.all(mx.where(above, w, 0.0) == 0.0).item()
    assert mx.all(mx.where(above, 1.0, w) > 0.0).item()  # every visible key gets some weight


def test_sliding_window_rows_are_zero_outside_the_window():
    window = 4
    model, tokens = tiny_model(sliding_window=window), random_tokens(T)
    cache = make_cache(2, "rotating", window=window)
    _, rec = _captured(model, tokens, cache, weight_layers=frozenset({0}))
    r = rec.layers[0]
    assert r.key_start == 0 and r.weights.shape == (4, T, T)
    q, k = mx.arange(T)[:, None], mx.arange(T)[None]
    inside = (k <= q) & (k > q - window)
    assert mx.array_equal(r.allowed, inside).item()
    assert mx.all(mx.where(inside, 0.0, r.weights) == 0.0).item()
    assert max_diff(r.weights.sum(axis=-1), mx.ones((4, T))) < 1e-5


def test_attention_output_recomputed_from_weights_and_values():
    model, tokens = tiny_model(), random_tokens(T)
    _, rec = _captured(model, tokens, weight_layers=frozenset({1}))
    r, attn = rec.layers[1], model.layers[1].self_attn
    rep = attn.n_heads // attn.n_kv_heads
    v = mx.repeat(r.values, rep, axis=0)  # (heads, T, hd): query head h reads KV head h // rep
    per_head = r.weights @ v  # (heads, T, hd)
    recomputed = attn.o_proj(per_head.transpose(1, 0, 2).reshape(T, -1))
    assert max_diff(recomputed, r.attn) < 1e-5


def test_one_head_full_map_on_a_cached_prefix():
    """A decode-shaped call (one query on a cache) reports that query's row over every key."""
    model, tokens = tiny_model(), random_tokens(T)
    cache = make_cache(2)
    run(model, tokens[:, : T - 1], cache)
    logits, rec = _captured(model, tokens[:, T - 1 :], cache, weight_layers=frozenset({0}), full_head=2)
    _, full = _captured(model, tokens, weight_layers=frozenset({0}))
    assert rec.layers[0].weights.shape == (1, T)
    assert max_diff(rec.layers[0].weights[0], full.layers[0].weights[2, T - 1]) < 1e-5
    assert max_diff(logits[0, -1], run(model, tokens)[0, -1]) < 1e-4
