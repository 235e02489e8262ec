"""The prompt cache through the engine session with a hybrid model (a tiny random-weight
qwen3_next, whose linear-attention layers hold a memory that cannot be rewound): the next turn of a
conversation extends what the cache holds and is served from it; an edited earlier turn is
computed from the start; both give the tokens a fresh session gives."""

from __future__ import annotations

import pytest

from app.backend import EngineSession, GenerateRequest, ReplyDone
from engine.events import TokenEvent
from engine.loading import WeightPolicy, load
from engine.sampling import SamplingSettings
from tests.engine.checkpoints import write_hf

GREEDY = SamplingSettings(temperature=0.0)


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return load(write_hf("qwen3_next", tmp_path_factory.mktemp("hf") / "qwen3_next"), WeightPolicy("float32"))


def reply(session, request):
    records = list(session.stream(request, lambda: False, lambda d, t: None))
    (done,) = [r for r in records if isinstance(r, ReplyDone)]
    return [r.token for r in records if isinstance(r, TokenEvent) and r.token is not None], done.stats


def test_the_next_turn_is_served_and_an_edited_one_recomputed(lm):
    session = EngineSession(lm, "tiny qwen3_next", "tiny")
    # one new token: the cache then holds exactly the prompt, which the next turn's prompt extends
    _, first = reply(session, GenerateRequest("Hello there", GREEDY, (), "Be brief.", max_new_tokens=1, conversation_id="c"))
    history = ({"role": "user", "content": "Hello there"}, {"role": "assistant", "content": "ok"})
    turn = GenerateRequest("And again", GREEDY, history, "Be brief.", max_new_tokens=3, conversation_id="c")
    tokens, stats = reply(session, turn)
    assert stats["cached_tokens"] == first["prompt_tokens"] > 0
    assert tokens == reply(EngineSession(lm, "tiny qwen3_next", "tiny"), turn)[0]

    edited = GenerateRequest("And again", GREEDY, ({"role": "user", "content": "Hi"}, history[1]), "Be brief.",
                             max_new_tokens=3, conversation_id="c")  # fmt: skip
    tokens, stats = reply(session, edited)
    assert stats["cached_tokens"] == 0
    assert tokens == reply(EngineSession(lm, "tiny qwen3_next", "tiny"), edited)[0]
