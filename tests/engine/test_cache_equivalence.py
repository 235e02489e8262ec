"""A cache never changes the answer: a reply served from the prompt cache has exactly the tokens of
the same reply computed from scratch, for every sampling setting and KV cache kind.

Property-tested on a tiny random-weight model: random sampling settings (seeds, repetition /
presence / frequency penalties and their window, top-k, top-p, min-p, temperature including 0),
every KV cache kind (plain, rotating, quantized 8 and 4 bits: the fresh run uses the same kind, so
the only difference is the cache), and the paths a conversation takes: a second turn, a
regenerated reply and an edited message. A prefix computed in chunks gives the logits of one
computed at once to float32 rounding (checked below), so "the same tokens" is a fair demand.
"""

from __future__ import annotations

import mlx.core as mx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.cache import make_cache
from engine.generate import GenerationConfig, generate, penalty_window
from engine.prompt_cache import PromptCache
from engine.sampling import SamplingSettings
from tests.engine.tiny import ByteTokenizer, max_diff, random_tokens, run, tiny_model

TOK = ByteTokenizer()
MAX_NEW = 8
WINDOW = 24  # a rotating cache's window: prompts below are longer, so it really rotates
KINDS = {
    "plain": dict(kind="plain"),
    "rotating": dict(kind="rotating", window=WINDOW),
    "quantized8": dict(kind="quantized", bits=8),
    "quantized4": dict(kind="quantized", bits=4),
}
_models: dict[str, object] = {}


def model():
    """head_dim 32: the quantized caches need a head dimension divisible by 32."""
    if "tiny" not in _models:
        _models["tiny"] = tiny_model(seed=3, hidden_size=128)
    return _models["tiny"]


def fresh(kind: str):
    return make_cache(2, **KINDS[kind])


def reply(prompt: list[int], caches, sampling: SamplingSettings) -> list[int]:
    events = generate(model(), TOK, prompt, caches, sampling, GenerationConfig(max_tokens=MAX_NEW))
    return [e.token for e in events if e.token is not None]


def served(pc: PromptCache, prompt: list[int], sampling: SamplingSettings) -> tuple[list[int], int]:
    """The reply as the app computes it: caches checked out of the prompt cache and back in."""
    caches, reused = pc.checkout(prompt)
    out = reply(prompt, caches, sampling)
    pc.checkin((prompt + out)[: caches[0].offset], caches)
    return out, reused


sampling_settings = st.builds(
    SamplingSettings,
    temperature=st.one_of(st.just(0.0), st.floats(0.05, 2.0)),
    top_k=st.one_of(st.just(0), st.integers(1, 60)),
    top_p=st.one_of(st.just(1.0), st.floats(0.05, 1.0)),
    min_p=st.one_of(st.just(0.0), st.floats(0.0, 0.5)),
    repetition_penalty=st.one_of(st.just(1.0), st.floats(0.5, 3.0)),
    presence_penalty=st.one_of(st.just(0.0), st.floats(-2.0, 2.0)),
    frequency_penalty=st.one_of(st.just(0.0), st.floats(-2.0, 2.0)),
    penalty_context=st.integers(1, 96),
    seed=st.integers(0, 2**32),
)
ids = st.lists(st.integers(0, 255), min_size=1, max_size=40)


def test_a_prefix_computed_in_chunks_gives_the_logits_of_one_computed_at_once():
    """What makes exact token equality a fair demand below: the logits agree to float32 rounding
    (the matrix products' summation order depends on the chunk's shape), far below any gap
    between the tokens a sampler chooses from."""
    tokens = random_tokens(40, seed=1)
    for kind in KINDS:
        whole = run(model(), tokens, fresh(kind))
        caches = fresh(kind)
        run(model(), tokens[:, :17], caches)
        rest = run(model(), tokens[:, 17:], caches)
        assert max_diff(whole[:, 17:], rest) < 1e-4, kind


# The reported case: greedy decoding with a repetition penalty of 1.3.
@example(SamplingSettings(temperature=0.0, repetition_penalty=1.3), "plain", list(range(60, 90)), [10, 11], 20)
@example(SamplingSettings(temperature=0.0, presence_penalty=1.5, frequency_penalty=0.5), "plain",
         list(range(60, 90)), [10, 11], 20)
@given(
    sampling=sampling_settings,
    kind=st.sampled_from(sorted(KINDS)),
    first_prompt=st.lists(st.integers(0, 255), min_size=2, max_size=48),
    next_message=ids,
    edit_at=st.integers(1, 47),
)
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_cached_replies_equal_fresh_ones(sampling, kind, first_prompt, next_message, edit_at):
    pc = PromptCache(lambda: fresh(kind))

    first, _ = served(pc, first_prompt, sampling)
    assert first == reply(first_prompt, fresh(kind), sampling)

    # Regenerate: the same prompt again; its cache now also holds the first reply.
    again, reused = served(pc, first_prompt, sampling)
    assert again == first
    if kind != "rotating" or len(first_prompt) + len(first) < WINDOW:
        assert reused == len(first_prompt) - 1  # really served from the cache

    # A second turn: the conversation so far and a new message, the first turn's cache reused.
    second_prompt = first_prompt + first + next_message
    second, reused = served(pc, second_prompt, sampling)
    assert second == reply(second_prompt, fresh(kind), sampling)
    if kind != "rotating":
        assert reused >= len(first_prompt) - 1

    # An edited message: the shared start reused, the rest computed.
    edit_at = min(edit_at, len(second_prompt) - 1)
    edited_prompt = second_prompt[:edit_at] + [t ^ 1 for t in next_message]
    edited, _ = served(pc, edited_prompt, sampling)
    assert edited == reply(edited_prompt, fresh(kind), sampling)


def test_the_penalty_window_is_the_end_of_the_whole_prompt():
    sampling = SamplingSettings(penalty_context=4)
    assert penalty_window(list(range(10)), sampling).tolist() == [6, 7, 8, 9]
    assert penalty_window([5], sampling).tolist() == [5]


@pytest.mark.parametrize("sampling", [
    SamplingSettings(temperature=0.0, repetition_penalty=3.0),
    SamplingSettings(temperature=0.0, frequency_penalty=2.0, presence_penalty=2.0),
])
def test_a_penalty_sees_the_cached_prefix(sampling):
    """Tokens early in a prompt held by the cache are penalised: the cached reply equals the fresh
    one and differs from a reply that penalises only what follows the cache (the bug guarded)."""
    base = [int(t) for t in random_tokens(30, seed=5)[0].tolist()]
    favourites = reply(base, fresh("plain"), SamplingSettings(temperature=0.0))
    prompt = base[:10] + favourites + base[10:]
    caches = fresh("plain")
    run(model(), mx.array([prompt[:-1]]), caches)  # the cache holds all but the last token

    cached = reply(prompt, caches, sampling)

    assert cached == reply(prompt, fresh("plain"), sampling)
    only_the_last_token = SamplingSettings(**{**sampling.to_dict(), "penalty_context": 1})
    assert reply(prompt, fresh("plain"), only_the_last_token) != cached
