"""Sampling: greedy, temperature, the filters, the penalties, seeds and settings validation."""

from __future__ import annotations

import math

import mlx.core as mx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.sampling import (
    GREEDY,
    GREEDY_BELOW,
    MAX_PENALTY_CONTEXT,
    MAX_REPETITION_PENALTY,
    MAX_TEMPERATURE,
    MIN_REPETITION_PENALTY,
    Sampler,
    SamplingSettings,
    log_softmax,
    make_logits_processors,
    make_presence_frequency_penalty,
    make_repetition_penalty,
    min_p_filter,
    top_k_filter,
    top_p_filter,
)

VOCAB = 50


def random_logits(seed: int = 0, n: int = VOCAB, scale: float = 3.0) -> mx.array:
    return mx.random.normal((n,), key=mx.random.key(seed)) * scale


def kept(logprobs: mx.array) -> set[int]:
    return set(np.flatnonzero(np.isfinite(np.array(logprobs))).tolist())


def entropy(logprobs: mx.array) -> float:
    p = np.exp(np.array(logprobs, dtype=np.float64))
    return float(-(p[p > 0] * np.log(p[p > 0])).sum())


# ---------------------------------------------------------------------------------------------
# greedy and temperature


@pytest.mark.parametrize("seed", range(5))
def test_greedy_is_argmax_and_its_final_distribution_is_all_on_it(seed):
    """Temperature 0 always takes the most likely token: the distribution it draws from is 100 %
    on that token and 0 on every other (not the model's own, which the raw column shows)."""
    logits = random_logits(seed)
    step = Sampler(GREEDY)(logits, None)
    best = int(np.argmax(np.array(logits)))
    assert step.token.item() == best
    expected = np.array(logits) - np.log(np.exp(np.array(logits, dtype=np.float64)).sum())
    assert np.allclose(np.array(step.raw_logprobs), expected, atol=1e-5)
    final = np.exp(np.array(step.final_logprobs, dtype=np.float64))
    assert final[best] == 1.0 and final.sum() == 1.0


def test_greedy_with_a_penalty_puts_everything_on_the_penalised_argmax():
    logits = mx.array([4.0, 3.9, 1.0, 0.5])
    step = Sampler(SamplingSettings(temperature=0.0, repetition_penalty=1.5))(logits, mx.array([0], dtype=mx.int32))
    assert step.token.item() == 1  # 4.0 / 1.5 < 3.9
    final = np.exp(np.array(step.final_logprobs, dtype=np.float64))
    assert final.tolist() == [0.0, 1.0, 0.0, 0.0]


def test_temperature_scales_the_final_distribution_and_not_the_raw_one():
    logits = random_logits(1)
    entropies = []
    for t in (0.25, 0.5, 1.0, 2.0):
        step = Sampler(SamplingSettings(temperature=t, seed=0))(logits, None)
        assert np.allclose(np.array(step.final_logprobs), np.array(log_softmax(logits / t)), atol=1e-5)
        assert np.allclose(np.array(step.raw_logprobs), np.array(log_softmax(logits)), atol=1e-5)
        entropies.append(entropy(step.final_logprobs))
    assert entropies == sorted(entropies) and entropies[0] < entropies[-1] - 0.5  # colder = sharper
    top = int(np.argmax(np.array(logits)))
    finals = [Sampler(SamplingSettings(temperature=t, seed=0))(logits, None).final_logprobs for t in (0.25, 2.0)]
    assert finals[0][top].item() > finals[1][top].item()  # the favourite gains mass when colder


def test_a_low_temperature_nearly_always_draws_the_favourite():
    logits = random_logits(2)
    sampler = Sampler(SamplingSettings(temperature=0.05, seed=3))
    draws = {sampler(logits, None).token.item() for _ in range(50)}
    assert draws == {int(np.argmax(np.array(logits)))}


# ---------------------------------------------------------------------------------------------
# filters


@pytest.mark.parametrize("k", [1, 2, 7, VOCAB - 1])
def test_top_k_keeps_exactly_the_k_most_likely(k):
    lp = log_softmax(random_logits(3))
    out = top_k_filter(k)(lp)
    best = np.argsort(-np.array(lp))[:k]
    assert kept(out) == set(best.tolist())
    assert np.array_equal(np.array(out)[best], np.array(lp)[best])  # kept values untouched


def test_top_k_keeps_exactly_k_even_with_ties():
    out = top_k_filter(2)(mx.array([1.0, 1.0, 1.0, 0.0, 1.0]))
    assert len(kept(out)) == 2 and kept(out) <= {0, 1, 2, 4}


@pytest.mark.parametrize("k", [0, VOCAB, VOCAB + 5])
def test_top_k_off_keeps_everything(k):
    assert len(kept(top_k_filter(k)(log_softmax(random_logits(4))))) == VOCAB


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), p=st.floats(0.01, 0.99), scale=st.sampled_from([0.5, 2.0, 6.0]))
def test_top_p_keeps_the_smallest_most_likely_set_reaching_p(seed, p, scale):
    lp = log_softmax(random_logits(seed, scale=scale))
    out = top_p_filter(p)(lp)
    probs = np.exp(np.array(lp, dtype=np.float64))
    order = np.argsort(-probs)
    n = len(kept(out))
    assert kept(out) == set(order[:n].tolist())  # the most likely ones, a prefix by probability
    mass = probs[order[:n]].sum()
    assert mass >= p - 1e-5  # reaches p ...
    assert mass - probs[order[n - 1]] < p + 1e-5  # ... and one fewer would not


def test_top_p_on_a_known_distribution():
    lp = mx.log(mx.array([0.5, 0.05, 0.3, 0.15]))
    assert kept(top_p_filter(0.45)(lp)) == {0}
    assert kept(top_p_filter(0.51)(lp)) == {0, 2}
    assert kept(top_p_filter(0.81)(lp)) == {0, 2, 3}
    assert kept(top_p_filter(1.0)(lp)) == {0, 1, 2, 3}


def test_top_p_keeps_tokens_tied_with_the_last_one_needed():
    # no order among equals: keeping one of two tied tokens would be an arbitrary choice
    lp = mx.log(mx.array([0.4, 0.2, 0.2, 0.2]))
    assert kept(top_p_filter(0.5)(lp)) == {0, 1, 2, 3}
    assert kept(top_p_filter(0.35)(lp)) == {0}


def test_top_p_after_top_k_sees_the_excluded_tokens_as_impossible():
    lp = mx.log(mx.array([0.4, 0.3, 0.2, 0.1]))
    assert kept(top_p_filter(0.99)(top_k_filter(2)(lp))) == {0, 1}


@pytest.mark.parametrize("min_p", [0.01, 0.1, 0.5, 0.9])
def test_min_p_keeps_tokens_at_least_min_p_times_the_best(min_p):
    lp = log_softmax(random_logits(5))
    probs = np.exp(np.array(lp, dtype=np.float64))
    expected = set(np.flatnonzero(probs >= min_p * probs.max() * (1 - 1e-6)).tolist())
    assert kept(min_p_filter(min_p)(lp)) == expected
    assert int(np.argmax(probs)) in expected


def test_filters_compose_in_the_sampler_and_only_kept_tokens_are_drawn():
    logits = random_logits(6)
    s = SamplingSettings(temperature=1.0, top_k=5, top_p=0.9, min_p=0.05, seed=1)
    sampler = Sampler(s)
    step = sampler(logits, None)
    allowed = kept(step.final_logprobs)
    expected = kept(min_p_filter(0.05)(top_p_filter(0.9)(top_k_filter(5)(log_softmax(logits)))))
    assert allowed == expected and 1 <= len(allowed) <= 5
    assert math.isclose(float(np.exp(np.array(step.final_logprobs, dtype=np.float64)).sum()), 1.0, rel_tol=1e-5)
    assert {sampler(logits, None).token.item() for _ in range(100)} <= allowed


# ---------------------------------------------------------------------------------------------
# penalties


def test_repetition_penalty_changes_exactly_the_seen_tokens_once_each():
    logits = mx.array([2.0, -2.0, 4.0, 1.0, -0.5, 3.0])
    before = np.array(logits)
    seen = mx.array([0, 1, 1, 1, 4, 0])  # duplicates must not compound the penalty
    out = np.array(make_repetition_penalty(2.0)(seen, logits))
    assert np.allclose(out, [1.0, -4.0, 4.0, 1.0, -1.0, 3.0])
    assert np.array_equal(np.array(logits), before)  # the caller's array is not modified


def test_presence_and_frequency_penalties_subtract_as_specified():
    logits = mx.array([1.0, 1.0, 1.0, 1.0])
    seen = mx.array([0, 2, 2, 2])
    out = np.array(make_presence_frequency_penalty(0.5, 0.25)(seen, logits))
    assert np.allclose(out, [1.0 - 0.5 - 0.25, 1.0, 1.0 - 0.5 - 0.75, 1.0])
    assert np.array_equal(np.array(logits), [1.0] * 4)


def test_penalties_are_noops_without_history():
    logits = random_logits(7)
    for proc in (make_repetition_penalty(1.5), make_presence_frequency_penalty(1.0, 1.0)):
        assert np.array_equal(np.array(proc(None, logits)), np.array(logits))
        assert np.array_equal(np.array(proc(mx.array([], dtype=mx.int32), logits)), np.array(logits))


def test_default_settings_build_no_processors():
    assert make_logits_processors(SamplingSettings()) == []
    assert len(make_logits_processors(SamplingSettings(repetition_penalty=1.2, presence_penalty=0.1))) == 2


def test_sampler_penalizes_only_the_last_penalty_context_tokens():
    logits = mx.array([5.0, 4.9, 0.0, 0.0])
    s = SamplingSettings(temperature=0.0, repetition_penalty=2.0, penalty_context=2)
    sampler = Sampler(s)
    assert sampler(logits, mx.array([2, 0, 3])).token.item() == 1  # 0 seen: 5 -> 2.5
    assert sampler(logits, mx.array([0, 2, 3])).token.item() == 0  # 0 is out of the last 2
    step = sampler(logits, mx.array([0]))
    assert np.allclose(np.array(step.raw_logprobs), np.array(log_softmax(logits)))  # raw is unpenalized


# ---------------------------------------------------------------------------------------------
# seeds


def _draws(seed: int, n: int = 30) -> list[int]:
    sampler = Sampler(SamplingSettings(temperature=1.5, seed=seed))
    logits = random_logits(8, scale=1.0)
    return [sampler(logits, None).token.item() for _ in range(n)]


def test_a_seed_makes_sampling_reproducible():
    assert _draws(42) == _draws(42)


def test_different_seeds_draw_differently():
    assert _draws(1) != _draws(2)
    assert len(set(_draws(3))) > 5  # successive draws are not one repeated value


# ---------------------------------------------------------------------------------------------
# validation


@pytest.mark.parametrize(
    "field,value",
    [
        ("temperature", -1.0), ("temperature", 6.0), ("top_k", -1), ("top_p", 7.0), ("top_p", 0.0),
        ("min_p", 1.0), ("min_p", -0.1), ("repetition_penalty", 0.0), ("repetition_penalty", 5.0),
        ("presence_penalty", 3.0), ("frequency_penalty", -3.0), ("penalty_context", 0), ("seed", -1),
    ],
)
def test_validate_rejects_bad_values(field, value):
    bad = SamplingSettings(**{field: value})
    problems = bad.validate()
    assert len(problems) == 1
    with pytest.raises(ValueError):
        Sampler(bad)


def test_validate_accepts_the_defaults_and_the_edges():
    assert SamplingSettings().validate() == []
    edge = SamplingSettings(temperature=0.0, top_k=0, top_p=1.0, min_p=0.0, seed=0)
    assert edge.validate() == []


def test_settings_round_trip_through_a_dict_and_ignore_unknown_keys():
    s = SamplingSettings(temperature=0.3, top_k=4, seed=9)
    assert SamplingSettings.from_dict({**s.to_dict(), "future_field": 1}) == s


# ---------------------------------------------------------------------------------------------
# ranges: nothing validate() accepts gives a NaN, infinite or unnormalised distribution


def accepted_settings() -> st.SearchStrategy[SamplingSettings]:
    """Every field over its whole accepted range (edges, subnormals and all), with a mix of
    arbitrary values that validate() must refuse when they are out of range."""

    def field(inside, anything=st.floats(allow_nan=True, allow_infinity=True)):
        return st.one_of(inside, inside, inside, anything)

    return st.builds(
        SamplingSettings,
        temperature=field(st.floats(0.0, MAX_TEMPERATURE)),
        top_k=field(st.integers(0, 2**62), st.integers()),
        top_p=field(st.floats(0.0, 1.0, exclude_min=True)),
        min_p=field(st.floats(0.0, 1.0, exclude_max=True)),
        repetition_penalty=field(st.floats(MIN_REPETITION_PENALTY, MAX_REPETITION_PENALTY)),
        presence_penalty=field(st.floats(-2.0, 2.0)),
        frequency_penalty=field(st.floats(-2.0, 2.0)),
        penalty_context=field(st.integers(1, MAX_PENALTY_CONTEXT), st.integers()),
        seed=st.one_of(st.none(), st.integers(0, 2**63 - 1), st.integers()),
    )


# logits as a model gives them (finite; real models stay far inside ±1e4), including all-equal rows
LOGITS = st.one_of(
    st.lists(st.floats(-1e4, 1e4, width=32), min_size=1, max_size=40),
    st.builds(lambda v, n: [v] * n, st.floats(-1e4, 1e4, width=32), st.integers(1, 40)),
)


@settings(max_examples=400, deadline=None)
@given(s=accepted_settings(), logits=LOGITS, history=st.lists(st.integers(0, 39), max_size=80))
def test_property_every_accepted_setting_gives_a_finite_normalised_distribution(s, logits, history):
    if s.validate():
        with pytest.raises(ValueError):
            Sampler(s)
        return
    vocab = len(logits)
    recent = mx.array([h % vocab for h in history], dtype=mx.int32) if history else None
    step = Sampler(s)(mx.array(logits, dtype=mx.float32), recent)
    for dist in (step.raw_logprobs, step.final_logprobs):
        lp = np.array(dist, dtype=np.float64)
        assert not np.isnan(lp).any() and not np.isposinf(lp).any()
        assert np.exp(lp).sum() == pytest.approx(1.0, abs=1e-4)
    token = int(step.token.item())
    assert 0 <= token < vocab and np.isfinite(np.array(step.final_logprobs)[token])


@pytest.mark.parametrize("temperature", [5e-324, 1e-45, 1e-40, 1.1754943e-38, 1e-30, 1e-12])
def test_a_vanishing_temperature_decodes_like_greedy(temperature):
    logits = random_logits(4)
    step = Sampler(SamplingSettings(temperature=temperature, seed=1))(logits, None)
    best = int(mx.argmax(logits).item())
    assert int(step.token.item()) == best
    final = np.array(step.final_logprobs)
    assert np.exp(final.astype(np.float64)).sum() == pytest.approx(1.0)
    if temperature < GREEDY_BELOW:  # greedy itself: it reports the model's own distribution
        assert np.array_equal(final, np.array(Sampler(GREEDY)(logits, None).final_logprobs))
    else:  # the limit greedy is: all the mass on the best token
        assert final[best] == pytest.approx(0.0, abs=1e-6)


def test_a_vanishing_top_p_keeps_the_best_token():
    step = Sampler(SamplingSettings(temperature=1.0, top_p=1e-50, seed=0))(random_logits(5), None)
    assert kept(step.final_logprobs) == {int(mx.argmax(random_logits(5)).item())}


@pytest.mark.parametrize(
    "field,value",
    [("repetition_penalty", 1e-45), ("repetition_penalty", 0.009), ("penalty_context", 2**31),
     ("temperature", math.nan), ("top_p", math.inf), ("min_p", math.nan)],
)
def test_values_that_would_break_the_sampler_are_refused_with_a_message(field, value):
    problems = SamplingSettings(**{field: value}).validate()
    assert len(problems) == 1 and field.split("_")[0] in problems[0]


def test_a_reply_at_temperature_1e_45_is_the_greedy_reply():
    # the reported case: this temperature used to give a NaN distribution and token 0 repeated
    from engine.cache import make_cache
    from engine.generate import GenerationConfig, generate
    from tests.engine.tiny import ByteTokenizer, tiny_model

    model, tok, config = tiny_model(seed=4), ByteTokenizer(), GenerationConfig(max_tokens=10)

    def reply(s: SamplingSettings) -> list[int]:
        return [e.token for e in generate(model, tok, list(b"Hello"), make_cache(2), s, config) if e.token is not None]

    greedy = reply(GREEDY)
    assert reply(SamplingSettings(temperature=1e-45, seed=7)) == greedy
    assert reply(SamplingSettings(temperature=1e-30, seed=7)) == greedy
    assert len(set(greedy)) > 1 or greedy[0] != 0  # the test can tell "token 0 repeated" apart
