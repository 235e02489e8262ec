"""The llama model on tiny random weights: shapes, cache-equivalence, GQA, causality, RoPE variants."""

from __future__ import annotations

import mlx.core as mx
import pytest
from mlx.utils import tree_flatten

from engine import kernels
from engine.cache import make_cache
from engine.models import UnsupportedArchitecture, get_architecture
from engine.models.llama import Model
from tests.engine.tiny import VOCAB, max_diff, random_tokens, run, run_stepwise, tiny_args, tiny_model

ATOL = 1e-4


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=1)


def test_logits_have_batch_length_vocab_shape(model):
    tokens = mx.concatenate([random_tokens(7, seed=1), random_tokens(7, seed=2)], axis=0)
    logits = run(model, tokens)
    assert logits.shape == (2, 7, VOCAB)
    assert logits.dtype == mx.float32
    assert mx.all(mx.isfinite(logits)).item()


def test_untied_head_has_its_own_weights():
    model = tiny_model(seed=2, tie_word_embeddings=False)
    names = dict(tree_flatten(model.parameters()))
    assert names["lm_head.weight"].shape == (VOCAB, 64)
    assert run(model, random_tokens(3)).shape == (1, 3, VOCAB)


def test_incremental_decoding_equals_one_full_forward(model):
    tokens = random_tokens(20, seed=3)
    full = run(model, tokens)
    stepwise = run_stepwise(model, tokens, make_cache(2))
    assert max_diff(full, stepwise) < ATOL


@pytest.mark.parametrize("chunk", [1, 3, 8])
def test_chunked_prefill_equals_one_shot(model, chunk):
    tokens = random_tokens(21, seed=4)
    full = run(model, tokens)
    cache = make_cache(2)
    parts = [run(model, tokens[:, i : i + chunk], cache) for i in range(0, 21, chunk)]
    assert max_diff(full, mx.concatenate(parts, axis=1)) < ATOL
    assert cache[0].offset == 21


def test_batched_rows_equal_single_rows(model):
    a, b = random_tokens(9, seed=5), random_tokens(9, seed=6)
    both = run(model, mx.concatenate([a, b], axis=0))
    assert max_diff(both[0:1], run(model, a)) < ATOL
    assert max_diff(both[1:2], run(model, b)) < ATOL


def test_long_prefill_equals_stepwise_decoding_across_attention_paths():
    """A long chunk goes through engine.kernels' CPU attention/SiLU; single tokens through MLX's
    fused kernels: both must give the same logits (also for GQA and the sliding-window mask)."""
    model = tiny_model(seed=6, intermediate_size=512)
    L = 140
    a = model.args
    assert a.num_attention_heads * L * L >= kernels.MIN_ELEMENTS  # the big chunk takes the CPU path
    assert L * a.intermediate_size >= kernels.MIN_ELEMENTS  # and so does its SiLU
    tokens = random_tokens(L, seed=10)
    full = run(model, tokens)
    assert max_diff(full, run_stepwise(model, tokens, make_cache(2))) < ATOL
    half = [run(model, tokens[:, :70], make_cache(2))]
    cache = make_cache(2)
    run(model, tokens[:, :70], cache)
    half.append(run(model, tokens[:, 70:], cache))  # 70 queries over 140 keys: an offset causal mask
    assert max_diff(full, mx.concatenate(half, axis=1)) < ATOL
    windowed = run(model, tokens, make_cache(2, "rotating", window=20))
    assert max_diff(windowed, run_stepwise(model, tokens, make_cache(2, "rotating", window=20))) < ATOL


def _as_full_mha(gqa: Model) -> Model:
    """The same network with every shared K/V head written out once per query head."""
    a = gqa.args
    mha = Model(tiny_args(num_key_value_heads=a.num_attention_heads))
    rep = a.num_attention_heads // a.num_key_value_heads
    weights = dict(tree_flatten(gqa.parameters()))
    for name, w in list(weights.items()):
        if name.endswith(("k_proj.weight", "v_proj.weight")):
            heads = w.reshape(a.num_key_value_heads, a.head_dim, -1)  # (kv, hd, dim)
            weights[name] = mx.repeat(heads, rep, axis=0).reshape(-1, w.shape[-1])  # (heads*hd, dim)
    mha.load_weights(list(weights.items()), strict=True)
    mx.eval(mha.parameters())
    return mha


def test_grouped_query_attention_equals_explicit_multi_head(model):
    assert model.args.num_key_value_heads < model.args.num_attention_heads
    mha = _as_full_mha(model)
    tokens = random_tokens(12, seed=7)
    assert max_diff(run(model, tokens), run(mha, tokens)) < ATOL
    # and step by step, where the cache holds only the shared heads
    assert max_diff(run_stepwise(model, tokens, make_cache(2)), run(mha, tokens)) < ATOL


def test_gqa_check_is_not_vacuous(model):
    """A model with different K/V weights must differ: the equality above means something."""
    other = tiny_model(seed=99, num_key_value_heads=4)
    tokens = random_tokens(12, seed=7)
    assert max_diff(run(model, tokens), run(other, tokens)) > 1e-2


@pytest.mark.parametrize("changed", [1, 6, 11])
def test_a_later_token_never_changes_earlier_logits(model, changed):
    tokens = random_tokens(12, seed=8)
    altered = mx.array(tokens)
    altered[0, changed] = (tokens[0, changed] + 1) % VOCAB
    a, b = run(model, tokens), run(model, altered)
    assert max_diff(a[:, :changed], b[:, :changed]) < ATOL
    assert max_diff(a[:, changed:], b[:, changed:]) > 1e-3  # the changed position itself moves


@pytest.mark.parametrize(
    "scaling",
    [
        {"type": "linear", "factor": 2.0},
        {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
         "original_max_position_embeddings": 64},
    ],
    ids=["linear", "llama3"],
)
def test_rope_scaling_variants_run_and_change_the_output(model, scaling):
    scaled = tiny_model(seed=1, rope_scaling=scaling)
    tokens = random_tokens(40, seed=9)
    out = run(scaled, tokens)
    assert out.shape == (1, 40, VOCAB) and mx.all(mx.isfinite(out)).item()
    # same weights (same seed), different positions' rotation -> different logits after position 0
    base = run(model, tokens)
    assert max_diff(out[:, :1], base[:, :1]) < ATOL  # position 0 is not rotated at all
    assert max_diff(out[:, 1:], base[:, 1:]) > 1e-4
    # and incremental decoding agrees with the full pass under the scaled rotation too
    assert max_diff(run_stepwise(scaled, tokens, make_cache(2)), out) < ATOL


def test_a_cache_list_of_the_wrong_length_is_refused(model):
    # zip() would silently skip the layers without a cache and return garbage logits
    with pytest.raises(ValueError):
        model(random_tokens(3), make_cache(1))


def test_unknown_rope_scaling_is_refused():
    with pytest.raises(ValueError, match="rope_scaling"):
        tiny_model(rope_scaling={"type": "longrope", "factor": 4.0})  # (yarn is supported: deepseek_v3)


def test_heads_must_divide_evenly():
    with pytest.raises(ValueError, match="multiple"):
        tiny_args(num_attention_heads=4, num_key_value_heads=3)


def test_architecture_lookup():
    assert get_architecture("mistral").model is Model
    with pytest.raises(UnsupportedArchitecture, match="gpt-neox"):
        get_architecture("gpt-neox")
