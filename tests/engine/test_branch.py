"""Branch from an alternative: generation with a forced token at a step, on the reply's own cache."""

from __future__ import annotations

import mlx.core as mx
import numpy as np
import pytest

from engine.cache import make_cache, trim_cache
from engine.generate import GenerationConfig, generate
from engine.sampling import GREEDY, log_softmax
from tests.engine.tiny import ByteTokenizer, random_tokens, run, tiny_model

TOK = ByteTokenizer()


class Counting:
    """Wraps a model and records how many tokens each forward call computed."""

    def __init__(self, model):
        self.model, self.layers, self.calls = model, model.layers, []

    def __call__(self, tokens, cache, capture=None):
        self.calls.append(tokens.shape[1])
        return self.model(tokens, cache, capture)


def _reply(model, prompt, n, cache, **config):
    cfg = GenerationConfig(max_tokens=n, stop_ids=set(), **config)
    TOK.eos_ids = set()
    return list(generate(model, TOK, prompt, cache, GREEDY, cfg))


@pytest.mark.parametrize("step", [0, 1, 4])
def test_continue_with_an_alternative(step):
    model = tiny_model()
    prompt = random_tokens(10, seed=3)[0].tolist()
    cache = make_cache(2)
    original = [ev.token for ev in _reply(model, prompt, 8, cache)]
    # the alternative: the second most likely token at that step under the model
    context = prompt + original[:step]
    lp = np.array(log_softmax(run(model, mx.array([context], dtype=mx.int32))[0, -1]))
    forced = int(np.argsort(-lp)[1])
    assert forced != original[step]

    # the reply's cache, trimmed to the context minus its last token (whose logits the step needs)
    branch_cache = [c.copy() for c in cache]
    trim_cache(branch_cache, branch_cache[0].offset - (len(context) - 1))
    counting = Counting(model)
    events = _reply(counting, context, 5, branch_cache, force_first_token=forced)
    tokens = [ev.token for ev in events]
    assert tokens[0] == forced  # the forced token is at that position
    assert abs(events[0].logprob - lp[forced]) < 1e-4  # reported under the model's distribution
    assert counting.calls == [1] * len(events)  # nothing before the step recomputed: one token a call
    # what follows is the model's own continuation after the forced token (a fresh greedy run)
    fresh = [ev.token for ev in _reply(model, context + [forced], 4, make_cache(2))]
    assert tokens[1:] == fresh
    assert cache[0].offset >= len(prompt) + 7  # the original reply's cache was not touched


def test_a_forced_token_outside_the_vocabulary_is_refused():
    with pytest.raises(ValueError, match="not in the vocabulary"):
        generate(tiny_model(), TOK, [1, 2], make_cache(2), GREEDY, GenerationConfig(force_first_token=10**6))
