"""engine.inspect: the Inspector's numbers against independent computations of the same things."""

from __future__ import annotations

import math

import mlx.core as mx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.cache import make_cache, trim_cache
from engine.generate import prefill
from engine.inspect import (
    analogy,
    attention_map,
    embedding_matrix,
    embedding_row,
    inspect_prompt,
    inspect_step,
    neighbours,
    perplexity,
    rope_angles,
    rope_distance_scores,
    rope_inverse_frequencies,
    sampling_stages,
    token_losses,
    unit_embedding,
    unit_embedding_blocks,
    unit_rows,
)
from engine.sampling import Sampler, SamplingSettings, log_softmax
from tests.engine.checkpoints import ARCHITECTURES
from tests.engine.checkpoints import tiny_model as arch_model
from tests.engine.tiny import random_tokens, run, tiny_model

T = 16


def _ids(n=T, seed=0) -> list[int]:
    return random_tokens(n, seed)[0].tolist()


def _full_logprobs(model, ids) -> np.ndarray:
    """An independent full forward pass: (T, vocab) next-token logprobs at every position."""
    logits = run(model, mx.array([ids], dtype=mx.int32))[0]
    return np.array(log_softmax(logits.astype(mx.float32)))


def test_logit_lens_last_layer_is_the_models_distribution():
    model, ids = tiny_model(), _ids()
    full = _full_logprobs(model, ids)
    for position in (0, 5, T - 1):
        step = inspect_step(model, ids, position, top=7)
        assert len(step.logit_lens) == 2 and len(step.residual_norms) == 3
        assert step.logit_lens[-1] == step.next_token
        for token, lp in step.next_token:
            assert abs(lp - full[position, token]) < 1e-4
        assert [t for t, _ in step.next_token] == list(np.argsort(-full[position])[:7])
        assert np.allclose(np.array(step.logprobs), full[position], atol=1e-4)


def test_a_step_on_the_conversation_cache_equals_one_recomputed():
    """Reusing the cache up to the position computes one token and gives the same numbers."""
    model, ids, position = tiny_model(), _ids(), 9
    cache = make_cache(2)
    prefill(model, ids + [1], cache)  # the conversation went on past the inspected step
    assert cache[0].offset == T
    prefix = [c.copy() for c in cache]
    trim_cache(prefix, T - position)
    reused = inspect_step(model, ids, position, cache=prefix)
    fresh = inspect_step(model, ids, position)
    assert reused.cached_tokens == position and fresh.cached_tokens == 0
    assert [t for t, _ in reused.next_token] == [t for t, _ in fresh.next_token]
    assert np.allclose(reused.residual_norms, fresh.residual_norms, atol=1e-4)
    for a, b in zip(reused.attention, fresh.attention, strict=True):
        assert np.allclose(a.weights, b.weights, atol=1e-5)
    assert cache[0].offset == T  # the conversation's own cache is untouched


def test_a_quantized_conversation_cache_is_read_as_its_dequantized_values():
    model, ids, position = tiny_model(hidden_size=128, num_attention_heads=4), _ids(), 9  # head dim 32
    cache = make_cache(2, "quantized", bits=8)
    prefill(model, ids[: position + 1], cache)
    step = inspect_step(model, ids, position, cache=cache)
    fresh = inspect_step(model, ids, position)
    assert step.cached_tokens == position
    assert step.next_token[0][0] == fresh.next_token[0][0]
    assert np.allclose(np.array(step.logprobs), np.array(fresh.logprobs), atol=0.05)  # 8-bit K/V
    for att in step.attention:
        assert np.allclose(np.array(att.weights).sum(axis=1), 1.0, atol=1e-5)


def test_attention_rows_match_the_full_map_of_every_head():
    model, ids, position = tiny_model(), _ids(), 11
    step = inspect_step(model, ids, position)
    for layer in range(2):
        att = step.attention[layer]
        assert att.window is None and att.kind == "full causal attention"
        rows = np.array(att.weights)  # (heads, position + 1)
        assert rows.shape == (4, position + 1)
        assert np.allclose(rows.sum(axis=1), 1.0, atol=1e-5)
        for head in range(4):
            full = np.array(inspect_prompt(model, ids, layer, head).weights)
            assert full.shape == (T, T)
            assert np.allclose(full[position, : position + 1], rows[head], atol=1e-5)
            assert np.all(np.triu(full, k=1) == 0.0)
            assert np.allclose(full.sum(axis=1), 1.0, atol=1e-5)


def test_a_sliding_window_layer_says_so():
    model, ids = tiny_model(sliding_window=4), _ids()
    step = inspect_step(model, ids, 10)
    att = step.attention[0]
    assert att.window == 4 and "sliding window of 4" in att.kind
    rows = np.array(att.weights)
    visible = np.arange(att.key_start, att.key_start + rows.shape[1])
    assert np.all(rows[:, visible <= 10 - 4] == 0.0)
    full = np.array(inspect_prompt(model, ids, 0, 1).weights)
    q, k = np.arange(T)[:, None], np.arange(T)[None]
    assert np.all(full[(k > q) | (k <= q - 4)] == 0.0)
    assert np.allclose(full.sum(axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("window", [None, 4])
def test_the_full_map_chunk_by_chunk_equals_one_pass_and_reports_progress(window):
    model = tiny_model(sliding_window=window) if window else tiny_model()
    ids = _ids()
    for layer, head in ((0, 1), (1, 3)):
        seen = []
        out = attention_map(model, ids, layer, head, chunk=5, progress=lambda d, t, seen=seen: seen.append((d, t)))
        one_pass = np.array(inspect_prompt(model, ids, layer, head).weights)
        assert np.allclose(out.weights, one_pass, atol=1e-5) and np.allclose(out.weights.sum(axis=1), 1.0, atol=1e-5)
        assert seen == [(5, T), (10, T), (15, T), (16, T)]
        q, k = np.arange(T)[:, None], np.arange(T)[None]
        expected = (k <= q) & ((k > q - window) if window else True)
        assert np.array_equal(out.allowed, expected)  # the causal triangle, narrowed to the window's band
        assert np.all(out.weights[~out.allowed] == 0.0)
        assert out.window == window


def test_a_stopped_full_map_returns_none_between_chunks():
    model, ids = tiny_model(), _ids()
    asked = []

    def stop() -> bool:
        asked.append(1)
        return len(asked) > 2  # two chunks computed, then stopped

    done = []
    assert attention_map(model, ids, 1, 0, chunk=4, progress=lambda d, t: done.append(d), should_stop=stop) is None
    assert done == [4, 8]
    with pytest.raises(ValueError, match="head"):
        attention_map(model, ids, 0, 99)


def test_residual_norms_are_the_norms_of_the_stream():
    model, ids = tiny_model(), _ids()
    step = inspect_step(model, ids)
    emb = model.embed_tokens(mx.array([ids[-1]]))
    assert math.isclose(step.residual_norms[0], mx.linalg.norm(emb).item(), rel_tol=1e-5)
    # each block's output = its input + attention update + MLP update: sizes are consistent
    for i in range(2):
        assert step.attn_norms[i] > 0 and step.mlp_norms[i] > 0


def test_cli_shape_object_and_errors():
    model, ids = tiny_model(), _ids(6)
    out = inspect_prompt(model, ids, layer=1, head=3, position=2, top=4).to_json()
    assert set(out) == {"ids", "attention", "logit_lens", "residual_norms", "next_token"}
    assert len(out["logit_lens"]) == 2 and len(out["residual_norms"]) == 3
    assert all(len(e) == 4 for e in out["logit_lens"]) and out["logit_lens"][-1] == out["next_token"]
    full = _full_logprobs(model, ids)
    assert abs(out["next_token"][0][1] - full[2].max()) < 1e-4
    for bad in (dict(layer=2), dict(head=4), dict(position=6), dict(layer=-1)):
        with pytest.raises(ValueError):
            inspect_prompt(model, ids, **bad)


def test_step_exports_as_json():
    import json

    model, ids = tiny_model(), _ids()
    data = inspect_step(model, ids, 3).to_json()
    assert json.loads(json.dumps(data))["token"] == ids[3]
    assert data["attention"][0]["kind"] == "full causal attention" and "logprobs" not in data


def test_training_objective_equals_minus_log_p_of_a_full_pass():
    model, ids = tiny_model(), _ids()
    full = _full_logprobs(model, ids)
    losses = token_losses(model, ids, 5, 12)
    expected = [-full[i - 1, ids[i]] for i in range(5, 12)]
    assert np.allclose(losses, expected, atol=1e-4)
    cache = make_cache(2)
    prefill(model, ids[:5], cache)  # holds ids[:4]
    assert np.allclose(token_losses(model, ids, 5, 12, cache=cache), expected, atol=1e-4)
    assert math.isclose(perplexity(losses), math.exp(np.mean(expected)), rel_tol=1e-4)
    with pytest.raises(ValueError):
        token_losses(model, ids, 0, 3)


def test_embedding_neighbours_put_the_token_first():
    model = tiny_model()
    unit = unit_rows(embedding_matrix(model))
    for token in (3, 42, 250):
        found = neighbours(unit, token, 5)
        assert found[0][0] == token and abs(found[0][1] - 1.0) < 1e-5
        assert all(a[1] >= b[1] for a, b in zip(found, found[1:], strict=False))


@pytest.mark.parametrize("quantized", [False, True])
def test_one_embedding_row_and_the_unit_matrix_equal_the_whole_matrix_s(quantized):
    model = tiny_model()
    if quantized:  # a quantized embedding is dequantized the same way in both
        import mlx.nn as nn

        nn.quantize(model, group_size=32, bits=4, class_predicate=lambda _p, m: isinstance(m, nn.Embedding))
        assert isinstance(model.embed_tokens, nn.QuantizedEmbedding)
    whole = np.array(embedding_matrix(model))
    for token in (0, 7, whole.shape[0] - 1):
        assert np.array_equal(np.array(embedding_row(model, token), dtype=np.float32), whole[token])
    unit = np.array(unit_embedding(model))
    assert np.allclose(unit, whole / np.linalg.norm(whole, axis=1, keepdims=True), atol=1e-6)
    # built a block of rows at a time (the warm-up's way), odd block sizes included: the same matrix
    for rows in (1, 7, 100, whole.shape[0], 10 * whole.shape[0]):
        *between, blocks = unit_embedding_blocks(model, rows)
        assert between == [None] * -(-whole.shape[0] // rows)
        assert np.array_equal(np.array(blocks), unit)


def test_analogy_on_a_hand_made_matrix():
    # axes: royalty, maleness, fruitiness
    names = ["king", "queen", "man", "woman", "apple", "prince"]
    m = mx.array([[1, 1, 0], [1, -1, 0], [0, 1, 0], [0, -1, 0], [0, 0, 1], [0.9, 1, 0.1]], dtype=mx.float32)
    unit = unit_rows(m)
    # king - man + woman -> queen (king, man and woman themselves are excluded)
    found = analogy(unit, names.index("king"), names.index("man"), names.index("woman"), k=2)
    assert names[found[0][0]] == "queen"
    assert neighbours(unit, names.index("king"), 2)[1][0] == names.index("prince")


def test_rope_angles_are_position_times_base_power():
    model = tiny_model(rope_theta=500.0)
    rope = model.layers[0].self_attn.rope
    d = model.args.head_dim
    inv = rope_inverse_frequencies(rope)
    assert len(inv) == d // 2
    for pos in (0, 1, 7, 300):
        angles = rope_angles(pos, inv)
        assert np.allclose(angles, [pos * 500.0 ** (-2 * i / d) for i in range(d // 2)], rtol=1e-6)
        # and they are the rotation the model's own RoPE applies (rotate-half pairs: i, i + d/2)
        x = mx.concatenate([mx.ones((d // 2,)), mx.zeros((d // 2,))]).reshape(1, 1, 1, d)
        y = np.array(rope(x, offset=pos)).reshape(d)
        got = np.arctan2(y[d // 2 :], y[: d // 2])
        want = np.angle(np.exp(1j * np.array(angles)))
        assert np.allclose(np.angle(np.exp(1j * (got - want))), 0.0, atol=1e-3)


def test_rope_distance_scores_are_the_models_own_rotated_dot_products():
    model = tiny_model(rope_theta=500.0)
    rope = model.layers[0].self_attn.rope
    d = model.args.head_dim
    inv = rope_inverse_frequencies(rope)
    distances = [0, 1, 2, 5, 17, 100]
    scores = rope_distance_scores(inv, distances)
    x = mx.ones((1, 1, 1, d))  # a query and a key that are the same vector, equal in every pair
    for p in (0, 9):
        key = np.array(rope(x, offset=p)).reshape(d)
        for dist, score in zip(distances, scores, strict=True):
            query = np.array(rope(x, offset=p + dist)).reshape(d)
            assert math.isclose(float(query @ key) / d, score, abs_tol=1e-4)
    assert scores[0] == 1.0 and all(s < 1.0 for s in scores[1:])


@settings(max_examples=40, deadline=None)
@given(
    temperature=st.sampled_from([0.0, 0.3, 0.7, 1.0, 1.8]),
    top_k=st.integers(0, 40),
    top_p=st.floats(0.05, 1.0),
    min_p=st.floats(0.0, 0.5),
    repetition_penalty=st.floats(0.5, 2.0),
    presence=st.floats(-1.0, 1.0),
    seed=st.integers(0, 2**31),
    logits_seed=st.integers(0, 1000),
)
def test_sampling_playground_reproduces_the_sampler(
    temperature, top_k, top_p, min_p, repetition_penalty, presence, seed, logits_seed
):
    logits = mx.random.normal((300,), key=mx.random.key(logits_seed)) * 3
    history = [int(x) for x in mx.random.randint(0, 300, (10,), key=mx.random.key(logits_seed + 1)).tolist()]
    s = SamplingSettings(
        temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
        repetition_penalty=repetition_penalty, presence_penalty=presence, seed=seed,
    )
    trace = sampling_stages(logits, s, history, top=300)
    real = Sampler(s)(logits, mx.array(history, dtype=mx.int32))
    assert trace.token == real.token.item()
    assert mx.array_equal(trace.final_logprobs, real.final_logprobs).item()
    final = trace.stages[-1]
    assert final.name == "final" and final.kept == int(mx.sum(real.final_logprobs > -mx.inf).item())
    assert [t for t, _ in final.top[: final.kept]] == mx.argsort(-real.final_logprobs)[: final.kept].tolist()
    names = [st_.name for st_ in trace.stages]
    assert names[0] == "raw" and ("temperature" in names) == (temperature > 0)
    assert all(a.kept >= b.kept for a, b in zip(trace.stages[1:], trace.stages[2:-1], strict=False))


@pytest.mark.slow
def test_default_model_inspection(default_lm):
    """The real model: lens = distribution, attention rows causal, own embedding first, RoPE base."""
    model, tok = default_lm.model, default_lm.tokenizer
    ids = tok.encode("The capital of France is Paris. The capital of Italy is")
    full = _full_logprobs(model, ids)
    step = inspect_step(model, ids, top=10)
    assert len(step.logit_lens) == 30 and len(step.residual_norms) == 31
    for token, lp in step.logit_lens[-1]:
        assert abs(lp - full[-1, token]) < 1e-4
    assert tok.decode([step.next_token[0][0]]).strip() == "Rome"
    assert step.n_heads == 9 and step.n_kv_heads == 3
    for att in step.attention:
        rows = np.array(att.weights)
        assert rows.shape == (9, len(ids)) and np.allclose(rows.sum(axis=1), 1.0, atol=1e-4)
    unit = unit_rows(embedding_matrix(model))
    paris = tok.encode(" Paris")[0]
    assert neighbours(unit, paris, 3)[0][0] == paris
    inv = rope_inverse_frequencies(model.layers[0].self_attn.rope)
    assert np.allclose(inv, [100000.0 ** (-2 * i / 64) for i in range(32)], rtol=1e-6)
    losses = token_losses(model, ids, 1, len(ids))
    assert np.allclose(losses, [-full[i - 1, ids[i]] for i in range(1, len(ids))], atol=1e-3)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_architecture_can_be_inspected(name):
    """The capture hooks in every model file: the logit lens ends at the model's own distribution,
    attention rows are distributions, a windowed layer says so, and capturing changes nothing."""
    model = arch_model(name)
    ids = [(i * 37 + 11) % 256 for i in range(20)]  # longer than the tiny windows (8)
    full = np.array(log_softmax(model(mx.array([ids]), model.make_cache())[0].astype(mx.float32)))
    step = inspect_step(model, ids, 15, top=5)
    assert len(step.logit_lens) == len(model.layers) and len(step.residual_norms) == len(model.layers) + 1
    for token, lp in step.next_token:
        assert abs(lp - full[15, token]) < 1e-4
    # gpt-oss's attention sinks take part in each head's softmax: a row then gives the rest of its
    # weight to the sink (no token), so it sums to less than 1 — never more
    sinks = any(getattr(getattr(layer, "self_attn", None), "sinks", None) is not None for layer in model.layers)

    def distributions(rows):
        sums = np.array(rows).sum(axis=1)
        return np.all((sums > 0) & (sums <= 1 + 1e-5)) if sinks else np.allclose(sums, 1.0, atol=1e-5)

    for layer, att in zip(model.layers, step.attention, strict=True):
        if att.linear:  # qwen3_next's linear-attention layers have no weight per position
            assert getattr(layer, "is_linear", False) and att.weights == [] and att.window is None
            continue
        rows = np.array(att.weights)
        assert distributions(rows)
        assert att.window is None or (att.window <= 8 and rows.shape[1] >= att.window)
    out = inspect_prompt(model, ids, layer=len(model.layers) - 1, head=0)
    assert distributions(out.weights)
    assert np.all(np.triu(np.array(out.weights), k=1) == 0.0)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_every_architectures_full_maps_agree_with_the_steps_rows_and_windows(name):
    """Per layer (Gemma 3 mixes sliding-window and global layers): the chunked full map's row at the
    step equals the step's row, and both say the same window."""
    model = arch_model(name)
    ids = [(i * 37 + 11) % 256 for i in range(20)]
    step = inspect_step(model, ids, 15, top=5)
    for layer, att in enumerate(step.attention):
        if att.linear:
            with pytest.raises(ValueError, match="linear-attention layer"):
                attention_map(model, ids, layer, 0, chunk=7)
            continue
        amap = attention_map(model, ids, layer, 0, chunk=7)
        row = amap.weights[15]
        assert np.allclose(row[att.key_start : 16], att.weights[0], atol=1e-5) and np.all(row[16:] == 0.0)
        assert att.window == (int(amap.allowed[15].sum()) if att.window is not None else None)
        assert (amap.window is None) == (att.window is None)
