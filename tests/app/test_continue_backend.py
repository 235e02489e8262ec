"""Continuing a reply with the real default model: the prompt is the conversation with the partial
reply as an unfinished assistant turn, so a greedy reply cut short and continued is the same reply."""

from __future__ import annotations

from app.backend import EngineSession, GenerateRequest
from engine.sampling import SamplingSettings

GREEDY = SamplingSettings(temperature=0.0)
QUESTION = "Write three sentences about the sea."


def stream(session, max_new, continue_ids=()):
    request = GenerateRequest(QUESTION, GREEDY, system_prompt="You are a helpful assistant.",
                              max_new_tokens=max_new, conversation_id="c", continue_ids=tuple(continue_ids))
    *tokens, done = session.stream(request, lambda: False, lambda done, total: None)
    return [t.token for t in tokens if t.token is not None], "".join(t.text for t in tokens), done.stats


def test_a_reply_cut_at_the_token_limit_and_continued_is_the_uncut_reply(default_lm, tmp_path):
    session = EngineSession(default_lm, "default", "default", None)
    whole_ids, whole_text, _ = stream(session, 24)
    first_ids, first_text, first = stream(EngineSession(default_lm, "default", "default", None), 9)
    assert first["finish_reason"] == "length" and first_ids == whole_ids[:9]
    rest_ids, rest_text, stats = stream(session, 15, continue_ids=first_ids)
    assert first_ids + rest_ids == whole_ids
    assert first_text + rest_text == whole_text
    assert stats["prompt_tokens"] > len(first_ids)  # the conversation and the partial reply were read
    # no end-of-turn marker between the partial reply and its continuation
    assert default_lm.tokenizer.eos_ids.isdisjoint(first_ids)


def test_a_reply_cut_inside_a_character_and_continued_shows_the_character_whole(default_lm):
    """The default model writes 🌊 as several byte tokens: cut after the first of them (the token
    limit, as a Stop would), the reply shows nothing of it — no "\ufffd" that would be stored for
    good — and Continue finishes the same character from the reply's own tokens."""
    question = "Reply with three emoji about the sea 🌊"

    def run(max_new, continue_ids=()):
        request = GenerateRequest(question, GREEDY, max_new_tokens=max_new, conversation_id="c",
                                  continue_ids=tuple(continue_ids))
        *tokens, done = EngineSession(default_lm, "default", "default", None).stream(
            request, lambda: False, lambda done, total: None)
        return [t.token for t in tokens if t.token is not None], "".join(t.text for t in tokens), done.stats

    whole_ids, whole_text, _ = run(9)
    assert "🌊" in whole_text and "\ufffd" not in whole_text
    first_ids, first_text, first = run(1)
    assert first["finish_reason"] == "length" and first_text == ""  # half a 🌊: nothing shown yet
    rest_ids, rest_text, _ = run(8, continue_ids=first_ids)
    assert first_ids + rest_ids == whole_ids
    assert first_text + rest_text == whole_text
