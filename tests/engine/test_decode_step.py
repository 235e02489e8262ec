"""The decode step's numbers (engine/generate.py:decode_steps) after its per-step work was cut: a
greedy step reports the same numbers as the general path computes, and the vocabulary-sized exp
(the compiled kernel on the CPU) keeps log-softmax and entropy at float32 accuracy."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from engine import kernels
from engine.cache import make_cache
from engine.generate import _entropy, decode_steps
from engine.sampling import GREEDY, Sampler, log_softmax
from tests.engine.tiny import tiny_model


def _reference_log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    m = x.max()
    return x - m - np.log(np.exp(x - m).sum())


@pytest.mark.parametrize("scale", [1.0, 8.0, 40.0])
def test_vocabulary_log_softmax_and_entropy_stay_float32_accurate(scale):
    logits = mx.random.normal((49152,), key=mx.random.key(int(scale))) * scale
    ref = _reference_log_softmax(np.array(logits))
    got = np.array(log_softmax(logits))
    finite = ref > -80  # exp underflows float32 below about -87: compare where it does not
    assert np.abs(got[finite] - ref[finite]).max() < 2e-5 * max(1.0, np.abs(ref[finite]).max())
    p = np.exp(ref)
    ref_entropy = -(p * ref).sum()
    assert abs(_entropy(mx.array(ref.astype(np.float32))).item() - ref_entropy) < 1e-4 * max(1.0, ref_entropy)


def test_the_per_step_exp_equals_mlx_exp_to_float32_rounding():
    x = mx.random.uniform(-87, 20, (49152,), key=mx.random.key(3))
    got, ref = kernels.exp_per_step(x), mx.exp(x)
    assert (mx.abs(got - ref) / mx.maximum(ref, 1e-30)).max().item() < 1e-6


def test_a_greedy_step_reports_what_the_general_path_computes():
    """Greedy: the final distribution is one-hot on the token, so its top list is that token at
    log 1 = 0 and its logprob 0; the raw numbers come from the model's logits as always."""
    model = tiny_model(seed=5)
    prompt = mx.array([5, 9, 2, 7], dtype=mx.int32)
    cache = make_cache(len(model.layers))
    model(prompt[None, :-1], cache)
    steps = list(decode_steps(model, cache, Sampler(GREEDY), prompt[-1:], prompt, limit=6, top_report=5))
    ids = prompt.tolist()
    for s in steps:  # each step against a full pass over everything before it
        logits = model(mx.array([ids], dtype=mx.int32), make_cache(len(model.layers)))[0, -1]
        raw = _reference_log_softmax(np.array(logits))
        assert s.token == int(np.argmax(raw))
        assert s.top_final == [(s.token, 0.0)] and s.sampled_logprob == 0.0
        assert abs(s.logprob - raw[s.token]) < 1e-5
        best = np.argsort(-raw)[:5]
        assert [i for i, _ in s.top_raw] == best.tolist()
        p = np.exp(raw)
        assert abs(s.entropy - -(p * raw).sum()) < 1e-4
        ids.append(s.token)
