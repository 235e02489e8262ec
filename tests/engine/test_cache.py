"""KV caches on a tiny random-weight model: trim, sliding window, quantization, save/load, copies."""

from __future__ import annotations

import mlx.core as mx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.cache import (
    KVCache,
    QuantizedKVCache,
    RotatingKVCache,
    cache_nbytes,
    cache_offset,
    load_cache,
    make_cache,
    save_cache,
    trim_cache,
)
from tests.engine.tiny import max_diff, random_tokens, run, run_stepwise, tiny_model

ATOL = 1e-4
LAYERS = 2


@pytest.fixture(scope="module")
def model():
    return tiny_model(seed=1)


@pytest.fixture(scope="module")
def model64():
    """head_dim 64, so the quantized cache's groups of 64 fit (as in the default model)."""
    return tiny_model(seed=2, hidden_size=128, num_attention_heads=2, num_key_value_heads=1)


class SlidingWindowReference(KVCache):
    """A plain cache whose mask is the explicit sliding-window mask over every position seen."""

    def __init__(self, window: int):
        super().__init__()
        self.window = window

    def make_mask(self, n_queries: int):
        q = mx.arange(self.offset, self.offset + n_queries)[:, None]
        k = mx.arange(self.offset + n_queries)[None]
        return (k <= q) & (k > q - self.window)


# ---------------------------------------------------------------------------------------------
# plain


def test_trim_then_refeed_gives_identical_logits(model):
    tokens = random_tokens(16, seed=1)
    cache = make_cache(LAYERS)
    first = run(model, tokens, cache)
    assert trim_cache(cache, 6) == 6 and cache_offset(cache) == 10
    again = run(model, tokens[:, 10:], cache)
    assert max_diff(first[:, 10:], again) < ATOL
    assert cache_offset(cache) == 16


def test_trim_never_goes_below_zero(model):
    cache = make_cache(LAYERS)
    run(model, random_tokens(4), cache)
    assert trim_cache(cache, 10) == 4 and cache_offset(cache) == 0
    assert cache_nbytes(cache) == 0


def test_plain_bytes_per_token_is_k_and_v_for_every_layer_and_kv_head(model):
    a = model.args
    cache = make_cache(LAYERS)
    run(model, random_tokens(5), cache)
    per_token = sum(c.bytes_per_token for c in cache)
    assert per_token == 2 * a.num_hidden_layers * a.num_key_value_heads * a.head_dim * 4
    assert cache_nbytes(cache) == 5 * per_token


def test_default_model_kv_cost_matches_its_info(default_lm):
    cache = make_cache(default_lm.info.n_layers)
    run(default_lm.model, mx.array([default_lm.tokenizer.encode("Hello there")]), cache)
    assert sum(c.bytes_per_token for c in cache) == default_lm.info.kv_bytes_per_token == 2 * 30 * 3 * 64 * 4


def test_plain_cache_grows_past_its_preallocated_step(model):
    tokens = random_tokens(KVCache.step + 10, seed=2)
    cache = make_cache(LAYERS)
    head = run(model, tokens[:, : KVCache.step - 3], cache)
    tail = run_stepwise(model, tokens[:, KVCache.step - 3 :], cache)
    full = run(model, tokens)
    assert max_diff(mx.concatenate([head, tail], axis=1), full) < ATOL


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    kind=st.sampled_from(["plain", "quantized", "rotating"]),
    length=st.integers(2, 24),
    data=st.data(),
)
def test_property_trim_and_refeed_equals_fresh_computation(model64, kind, length, data):
    """For any sequence, any trim and any new continuation: the cache acts as if never trimmed."""
    seed = data.draw(st.integers(0, 2**16), label="seed")
    trim = data.draw(st.integers(0, length), label="trim")
    extra = data.draw(st.integers(1, 6), label="extra")
    tokens = random_tokens(length, seed=seed)
    continuation = random_tokens(extra, seed=seed + 1)
    window = {"window": data.draw(st.integers(2, 32), label="window")} if kind == "rotating" else {}

    cache = make_cache(LAYERS, kind, **window)
    run(model64, tokens, cache)
    assert trim_cache(cache, trim) == trim
    kept = tokens[:, : length - trim]
    trimmed = run(model64, continuation, cache)

    fresh_cache = make_cache(LAYERS, kind, **window)
    fresh = run(model64, mx.concatenate([kept, continuation], axis=1), fresh_cache)
    # An 8-bit cache: a float32 rounding difference between reading a token alone and in a chunk
    # can move a key across a rounding boundary, one step of its group's range (~1/255) that the
    # later layers carry; a wrong trim is off by far more.
    assert max_diff(trimmed, fresh[:, -extra:]) < (ATOL if kind != "quantized" else 1e-3)
    assert cache_offset(cache) == cache_offset(fresh_cache) == length - trim + extra


# ---------------------------------------------------------------------------------------------
# rotating (sliding window)

WINDOW = 5


def test_rotating_equals_plain_while_the_window_is_not_full(model):
    tokens = random_tokens(WINDOW, seed=3)
    rotating = run_stepwise(model, tokens, make_cache(LAYERS, "rotating", window=WINDOW))
    assert max_diff(rotating, run(model, tokens)) < ATOL


@pytest.mark.parametrize("chunk", [1, 2, 4, 7, 13])
@pytest.mark.parametrize("step", [4, 256])
def test_rotating_equals_an_explicit_sliding_window_mask(model, chunk, step):
    tokens = random_tokens(30, seed=4)
    reference = run(model, tokens, [SlidingWindowReference(WINDOW) for _ in range(LAYERS)])
    cache = make_cache(LAYERS, "rotating", window=WINDOW)
    for c in cache:
        c.step = step  # a small step exercises the compaction path within 30 tokens
    parts = [run(model, tokens[:, i : i + chunk], cache) for i in range(0, 30, chunk)]
    assert max_diff(mx.concatenate(parts, axis=1), reference) < ATOL
    # and the window really matters: beyond it the full-attention logits differ
    assert max_diff(reference[:, WINDOW:], run(model, tokens)[:, WINDOW:]) > 1e-3


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    window=st.integers(2, 10),
    step=st.integers(1, 8),
    chunks=st.lists(st.integers(1, 9), min_size=1, max_size=8),
    seed=st.integers(0, 2**16),
)
def test_property_rotating_matches_the_sliding_window_for_any_chunking(model, window, step, chunks, seed):
    tokens = random_tokens(sum(chunks), seed=seed)
    reference = run(model, tokens, [SlidingWindowReference(window) for _ in range(LAYERS)])
    cache = make_cache(LAYERS, "rotating", window=window)
    for c in cache:
        c.step = step
    start = 0
    for n in chunks:
        out = run(model, tokens[:, start : start + n], cache)
        assert max_diff(out, reference[:, start : start + n]) < ATOL
        start += n
        # the buffer holds at most: the step's slack, the window and this chunk
        assert cache[0].keys.shape[2] <= step + window + n


def test_rotating_memory_stays_bounded_over_many_steps(model):
    window, steps = 8, 300
    cache = make_cache(LAYERS, "rotating", window=window)
    step = cache[0].step
    tokens = random_tokens(steps, seed=5)
    held = []
    for i in range(steps):
        run(model, tokens[:, i : i + 1], cache)
        held.append(cache[0].keys.shape[2])
    assert cache_offset(cache) == steps
    assert max(held) <= window + step  # the buffer is compacted, never the whole history
    assert held[-1] < steps
    assert cache_nbytes(cache) <= (window + step) * sum(c.bytes_per_token for c in cache)
    assert not cache[0].is_trimmable() and trim_cache(cache, 3) == 0


def test_rotating_cache_needs_a_window():
    with pytest.raises(ValueError, match="window"):
        make_cache(LAYERS, "rotating")


# ---------------------------------------------------------------------------------------------
# quantized


@pytest.mark.parametrize("bits,tolerance", [(8, 0.1), (4, 1.0)])
def test_quantized_logits_are_close_to_plain_and_cheaper(model64, bits, tolerance):
    tokens = random_tokens(24, seed=6)
    plain_cache = make_cache(LAYERS)
    plain = run_stepwise(model64, tokens, plain_cache)
    quant_cache = make_cache(LAYERS, "quantized", bits=bits)
    quant = run_stepwise(model64, tokens, quant_cache)
    diff = max_diff(plain, quant)
    print(f"quantized {bits}-bit KV cache: max |logit diff| vs plain = {diff:.4f}")
    assert 0 < diff < tolerance, diff
    plain_bpt = sum(c.bytes_per_token for c in plain_cache)
    quant_bpt = sum(c.bytes_per_token for c in quant_cache)
    assert quant_bpt < plain_bpt / (2 if bits == 8 else 4)
    assert cache_nbytes(quant_cache) == 24 * quant_bpt


@pytest.mark.parametrize("bits,tolerance", [(8, 1.5), (4, 15.0)])
def test_quantized_cache_on_the_default_model_keeps_the_prediction(default_lm, bits, tolerance):
    ids = mx.array([default_lm.tokenizer.encode("The capital of France is Paris. The capital of Germany is")])
    plain = run(default_lm.model, ids, make_cache(30))[0]
    quant = run(default_lm.model, ids, make_cache(30, "quantized", bits=bits))[0]
    diff = max_diff(plain, quant)
    print(f"default model, {bits}-bit KV cache: max |logit diff| = {diff:.3f} (logits up to ~28)")
    assert diff < tolerance
    assert default_lm.tokenizer.piece(mx.argmax(quant[-1]).item()) == " Berlin"
    assert mx.mean(mx.argmax(plain, -1) == mx.argmax(quant, -1)).item() > 0.9


def test_quantized_attention_groups_query_heads_like_gqa():
    # 4 query heads over 2 KV heads: a wrong head grouping would be far off, not 8-bit close
    model = tiny_model(seed=3, hidden_size=128, num_attention_heads=4, num_key_value_heads=2, head_dim=64)
    tokens = random_tokens(16, seed=6)
    plain = run(model, tokens)
    assert max_diff(run(model, tokens, make_cache(LAYERS, "quantized")), plain) < 0.1
    assert max_diff(run_stepwise(model, tokens, make_cache(LAYERS, "quantized")), plain) < 0.1


def test_quantized_prefill_in_one_chunk_equals_stepwise(model64):
    tokens = random_tokens(10, seed=7)
    one_shot = run(model64, tokens, make_cache(LAYERS, "quantized"))
    stepwise = run_stepwise(model64, tokens, make_cache(LAYERS, "quantized"))
    assert max_diff(one_shot, stepwise) < 1e-3


def test_quantized_cache_fits_a_head_dim_of_32():
    model = tiny_model(seed=3, head_dim=32)
    cache = make_cache(LAYERS, "quantized")
    out = run(model, random_tokens(6), cache)
    assert max_diff(out, run(model, random_tokens(6))) < 0.1
    assert cache[0].group_size == 32


def test_quantized_cache_refuses_a_head_dim_it_cannot_group(model):
    with pytest.raises(ValueError, match="head dimension"):
        run(model, random_tokens(3), make_cache(LAYERS, "quantized"))  # head_dim 16


def test_make_cache_refuses_bad_kinds():
    with pytest.raises(ValueError, match="4 or 8"):
        make_cache(LAYERS, "quantized", bits=3)
    with pytest.raises(ValueError, match="unknown cache kind"):
        make_cache(LAYERS, "paged")


# ---------------------------------------------------------------------------------------------
# save / load / copy


def _make(kind: str) -> list[KVCache]:
    cache = make_cache(LAYERS, kind, window=WINDOW) if kind == "rotating" else make_cache(LAYERS, kind)
    for c in cache:
        c.step = 4  # rotating: compact within the test's few tokens
    return cache


@pytest.mark.parametrize("kind", ["plain", "rotating", "quantized"])
def test_save_load_round_trip_continues_like_the_original(model64, tmp_path, kind):
    tokens = random_tokens(20, seed=8)
    cache = _make(kind)
    run(model64, tokens[:, :6], cache)
    run_stepwise(model64, tokens[:, 6:13], cache)
    path = str(tmp_path / "cache.safetensors")
    save_cache(path, cache, {"model": "tiny", "turn": "3"})
    loaded, meta = load_cache(path)

    assert meta == {"model": "tiny", "turn": "3"}
    assert [type(c) for c in loaded] == [type(c) for c in cache]
    assert cache_offset(loaded) == 13
    assert cache_nbytes(loaded) == cache_nbytes(cache)
    if kind == "rotating":
        assert loaded[0].start == cache[0].start > 0  # compaction happened before the save
    continued_original = run_stepwise(model64, tokens[:, 13:], cache)
    continued_loaded = run_stepwise(model64, tokens[:, 13:], loaded)
    assert max_diff(continued_original, continued_loaded) == 0.0


def test_an_empty_cache_saves_and_loads(tmp_path):
    path = str(tmp_path / "empty.safetensors")
    save_cache(path, make_cache(LAYERS, "quantized", bits=4))
    loaded, meta = load_cache(path)
    assert meta == {} and cache_offset(loaded) == 0 and cache_nbytes(loaded) == 0
    assert isinstance(loaded[0], QuantizedKVCache) and loaded[0].bits == 4


@pytest.mark.parametrize("kind", ["plain", "rotating", "quantized"])
def test_a_copy_is_independent_of_the_original(model64, kind):
    tokens = random_tokens(12, seed=9)
    cache = _make(kind)
    run(model64, tokens[:, :8], cache)
    snapshot = [c.copy() for c in cache]
    expected = run_stepwise(model64, tokens[:, 8:], [c.copy() for c in snapshot])
    run_stepwise(model64, random_tokens(4, seed=10), cache)  # the original moves on
    assert cache_offset(snapshot) == 8
    assert max_diff(run_stepwise(model64, tokens[:, 8:], snapshot), expected) == 0.0


@pytest.mark.parametrize("kind", ["plain", "rotating", "quantized"])
def test_setting_state_alone_restores_an_uncompacted_cache(model64, kind):
    tokens = random_tokens(10, seed=12)
    cache = make_cache(LAYERS, kind, window=WINDOW) if kind == "rotating" else make_cache(LAYERS, kind)
    run(model64, tokens[:, :7], cache)  # one chunk: nothing compacted, start stays 0
    restored = make_cache(LAYERS, kind, window=WINDOW) if kind == "rotating" else make_cache(LAYERS, kind)
    for fresh, c in zip(restored, cache, strict=True):
        fresh.state = c.state
    assert cache_offset(restored) == 7
    assert max_diff(run(model64, tokens[:, 7:], restored), run(model64, tokens[:, 7:], cache)) == 0.0


def test_rotating_meta_state_survives_in_the_file(model64, tmp_path):
    cache = _make("rotating")
    run_stepwise(model64, random_tokens(15, seed=11), cache)
    path = str(tmp_path / "rot.safetensors")
    save_cache(path, cache)
    loaded, _ = load_cache(path)
    assert isinstance(loaded[0], RotatingKVCache)
    assert (loaded[0].max_size, loaded[0].start, loaded[0].offset) == (WINDOW, cache[0].start, 15)
