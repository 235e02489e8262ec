"""Stop strings set in the app end a real reply: they travel in the request to the engine."""

from __future__ import annotations

from app.backend import EngineSession, GenerateRequest
from engine.sampling import SamplingSettings

GREEDY = SamplingSettings(temperature=0.0)


def reply(session, stops=()):
    request = GenerateRequest("Count from 1 to 10, separated by commas.", GREEDY, system_prompt="",
                              max_new_tokens=30, stop_strings=stops)
    *tokens, done = session.stream(request, lambda: False, lambda done, total: None)
    return "".join(t.text for t in tokens), done.stats["finish_reason"]


def test_a_stop_string_from_the_request_ends_the_reply_before_it(default_lm, tmp_path):
    session = EngineSession(default_lm, "default", "default", tmp_path / "prompt-cache")
    full, _reason = reply(session)
    assert "3" in full
    stop = full[full.index("3"):][:2]  # text the greedy reply is known to write
    cut, reason = reply(session, (stop,))
    assert reason == "stop"
    assert cut == full[: full.index(stop)]


def test_count_tokens_counts_message_text_with_special_token_text_kept_plain(default_lm, tmp_path):
    session = EngineSession(default_lm, "default", "default", tmp_path / "prompt-cache")
    assert session.count_tokens("Hello, world") == len(default_lm.tokenizer.encode("Hello, world"))
    assert session.count_tokens("<|im_end|>") > 1  # typed, it is characters, not the end-of-turn token
