"""The generator: finish reasons, stop strings across token boundaries, cancellation, progress,
the context limit and the reported probabilities.

Most tests drive a scripted model (it predicts a fixed token per position with certainty) through a
byte tokenizer, so the emitted tokens are known exactly; the probability checks use a tiny
random-weight llama with real sampling.
"""

from __future__ import annotations

import math

import mlx.core as mx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.cache import cache_offset, make_cache
from engine.generate import GenerationConfig, _apply_stop_strings, generate, prefill
from engine.sampling import GREEDY, SamplingSettings
from tests.engine.tiny import EOS, EXTRA, ByteTokenizer, ScriptedModel, tiny_model

TOK = ByteTokenizer()
PROMPT = list(b"Hi!")
WORLD = 256 + 3 + EXTRA.index(" world")


def scripted(outputs: list[int], prompt: list[int] = PROMPT) -> ScriptedModel:
    """A model whose generated tokens, after `prompt`, are exactly `outputs`."""
    return ScriptedModel([0] * (len(prompt) - 1) + outputs)


def gen(outputs: list[int], prompt: list[int] = PROMPT, settings=GREEDY, cache=None, **config):
    model = scripted(outputs, prompt)
    cache = make_cache(2) if cache is None else cache
    progress = config.pop("progress", None)
    should_stop = config.pop("should_stop", None)
    events = list(
        generate(model, TOK, prompt, cache, settings, GenerationConfig(**config), progress, should_stop)
    )
    return events, model, cache


def text_of(events) -> str:
    return "".join(e.text for e in events)


# ---------------------------------------------------------------------------------------------
# finish reasons


def test_eos_ends_generation_and_is_not_text():
    events, _, _ = gen(list(b"ok") + [EOS, *b"never"])
    assert [e.token for e in events] == [*b"ok", EOS]
    assert [e.finish_reason for e in events] == [None, None, "eos"]
    assert text_of(events) == "ok" and events[-1].text == ""
    assert [e.index for e in events] == [0, 1, 2]


def test_extra_stop_ids_end_like_eos():
    events, _, _ = gen(list(b"abc"), stop_ids={ord("b")})
    assert [e.token for e in events] == [ord("a"), ord("b")]
    assert events[-1].finish_reason == "eos"


def test_max_tokens_ends_with_length():
    events, _, cache = gen(list(b"abcdefgh"), max_tokens=4)
    assert text_of(events) == "abcd"
    assert [e.finish_reason for e in events] == [None, None, None, "length"]
    # the prompt and every generated token but the last (never fed back) are in the cache
    assert cache_offset(cache) == len(PROMPT) + 3


def test_context_length_limits_the_reply():
    events, _, cache = gen(list(b"abcdefgh"), max_tokens=100, context_length=len(PROMPT) + 3)
    assert text_of(events) == "abc" and events[-1].finish_reason == "length"
    assert cache_offset(cache) <= len(PROMPT) + 3


def test_a_prompt_that_fills_the_context_finishes_at_once():
    events, model, _ = gen(list(b"abc"), context_length=len(PROMPT))
    assert len(events) == 1 and events[0].token is None and events[0].finish_reason == "length"
    assert model.calls == []  # nothing was computed


def test_empty_prompt_is_refused_when_called():
    with pytest.raises(ValueError, match="prompt"):
        generate(scripted([EOS]), TOK, [], make_cache(2), GREEDY)  # before any next()


def test_invalid_settings_are_refused_when_called():
    with pytest.raises(ValueError, match="top-p"):
        generate(scripted([EOS]), TOK, PROMPT, make_cache(2), SamplingSettings(top_p=7.0))


# ---------------------------------------------------------------------------------------------
# stop strings


def test_stop_string_ends_generation_and_is_not_emitted():
    events, _, _ = gen(list(b"Sure. END more text"), stop_strings=["END"])
    assert text_of(events) == "Sure. "
    assert events[-1].finish_reason == "stop"
    assert all("E" not in e.text for e in events)


def test_text_that_may_start_a_stop_string_is_held_then_released():
    # "xy" could be the start of "xyz" and is held; "q" shows it is not, and both come out together
    events, _, _ = gen(list(b"axyq") + [EOS], stop_strings=["xyz"])
    assert [e.text for e in events] == ["a", "", "", "xyq", ""]
    assert events[-1].finish_reason == "eos"


def test_held_text_is_released_at_eos_and_at_length():
    events, _, _ = gen(list(b"ax") + [EOS], stop_strings=["xyz"])
    assert [e.text for e in events] == ["a", "", "x"]
    events, _, _ = gen(list(b"abxy"), stop_strings=["xyz"], max_tokens=4)
    assert [e.text for e in events] == ["a", "b", "", "xy"] and events[-1].finish_reason == "length"


def test_stop_string_split_across_multi_byte_tokens():
    events, _, _ = gen([*b"Hello", WORLD, *b"!!"], stop_strings=["o wor"])
    assert text_of(events) == "Hell"
    assert events[-1].token == WORLD and events[-1].finish_reason == "stop"


def test_the_first_of_several_stop_strings_to_appear_wins():
    events, _, _ = gen(list(b"one two three"), stop_strings=["three", "two"])
    assert text_of(events) == "one " and events[-1].finish_reason == "stop"


@settings(max_examples=80, deadline=None)
@given(
    text=st.text(alphabet="abxy é🙂", max_size=14),
    stops=st.lists(st.text(alphabet="abxy é🙂", min_size=1, max_size=3), max_size=3),
)
def test_property_emitted_text_is_everything_before_the_first_stop_string(text, stops):
    """Whatever the text, stop strings and token boundaries (bytes of é and 🙂 split over tokens)."""
    events, _, _ = gen([*text.encode(), EOS], stop_strings=stops)
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    assert text_of(events) == (text[: min(found)] if found else text)
    assert events[-1].finish_reason == ("stop" if found else "eos")
    assert all("\ufffd" not in e.text for e in events)


@pytest.mark.parametrize(
    "text,stops,expected",
    [
        ("hello", [], ("hello", "", False)),
        ("hello wo", ["world"], ("hello ", "wo", False)),
        ("hello world!", ["world"], ("hello ", "", True)),
        ("aab", ["ab", "aab"], ("", "", True)),
        ("xxa", ["ab", "xab"], ("x", "xa", False)),
        ("hello", [""], ("hello", "", False)),  # an empty stop string is ignored, not "found"
        ("say a", ["ab", "xab"], ("say ", "a", False)),
    ],
)
def test_apply_stop_strings(text, stops, expected):
    assert _apply_stop_strings(text, stops) == expected


# ---------------------------------------------------------------------------------------------
# characters split across tokens


def test_a_character_split_across_byte_tokens_is_emitted_whole():
    emoji = list("🙂".encode())
    events, _, _ = gen([*b"a", *emoji, *b"b", EOS])
    assert [e.text for e in events] == ["a", "", "", "", "🙂", "b", ""]
    assert [e.piece for e in events][1] == "<0xF0>"


@pytest.mark.parametrize("how", ["length", "cancelled"])
def test_a_character_cut_by_a_stop_is_finished_by_continue(how):
    """A reply stopped (or cut at the token limit) between the bytes of a character shows nothing
    of it — never a "\ufffd" that would be stored for good — and Continue, which writes the same
    reply on from its tokens, shows the character whole at the token that finishes it."""
    emoji = list("🙂".encode())
    whole = [*b"a", *emoji, *b"b"]
    if how == "length":
        first, _, _ = gen(whole, max_tokens=3)  # stops after two of the emoji's four bytes
    else:
        asked = []
        first, _, _ = gen(whole, should_stop=lambda: asked.append(1) or len(asked) >= 4)
    assert [e.token for e in first] == whole[:3] and first[-1].finish_reason == how
    assert text_of(first) == "a" and all("\ufffd" not in e.text for e in first)
    written = [e.token for e in first]
    rest, _, _ = gen(whole[3:] + [EOS], prompt=PROMPT + written, written_ids=written)
    assert [e.text for e in rest] == ["", "🙂", "b", ""]
    assert text_of(first) + text_of(rest) == TOK.decode(whole) == "a🙂b"


def test_an_unfinished_character_at_the_end_of_a_reply_is_shown_as_what_it_decodes_to():
    """The model ended its reply (end-of-turn) inside a character: nothing can finish it."""
    emoji = list("🙂".encode())
    events, _, _ = gen([*b"a", *emoji[:2], EOS])
    assert text_of(events) == TOK.decode([ord("a"), *emoji[:2]]) == "a\ufffd"


def test_continue_does_not_drop_a_leading_space_in_the_middle_of_a_reply():
    """A tokenizer that drops the space a reply starts with (SentencePiece's "▁") must not drop
    the one a continued run starts with: it is the middle of the reply."""
    from engine.generate import ReplyText

    tok = ByteTokenizer()
    tok.strip_leading_space = True
    fresh = ReplyText(tok)
    assert fresh.add(ord(" "), False)[0] + fresh.add(ord("x"), False)[0] == "x"
    continued = ReplyText(tok, written=list(b"Hello"))
    assert continued.add(ord(" "), False)[0] + continued.add(ord("x"), False)[0] == " x"


# ---------------------------------------------------------------------------------------------
# cancellation and progress


def test_should_stop_cancels_after_the_current_token():
    checks = []

    def should_stop():
        checks.append(1)
        return len(checks) >= 4

    events, _, _ = gen(list(b"abcdefgh"), prompt=[ord("x")], should_stop=should_stop)
    assert events[-1].finish_reason == "cancelled"
    assert 1 <= len(events) < 8 and all(e.finish_reason is None for e in events[:-1])
    assert text_of(events) == "abcdefgh"[: len(events)]


def test_cancelling_during_prefill_yields_one_cancelled_event():
    events, model, _ = gen(list(b"abc"), prompt=list(b"a long prompt"), should_stop=lambda: True)
    assert len(events) == 1 and events[0].token is None and events[0].finish_reason == "cancelled"
    assert model.calls == []


def test_progress_is_reported_during_chunked_prefill():
    calls = []
    prompt = list(b"0123456789")
    events, model, _ = gen(list(b"ab"), prompt=prompt, prefill_step=3, max_tokens=2,
                           progress=lambda done, total: calls.append((done, total)))
    assert calls == [(0, 10), (3, 10), (6, 10), (9, 10)]  # started, then after each chunk
    assert model.calls[:4] == [3, 3, 3, 1]  # three chunks, then the last prompt token decodes
    assert events[0].prompt_tokens == 10


def test_a_stop_during_prefill_ends_it_at_the_next_chunk():
    """Stop while a long prompt is read: no more chunks run after the one under way, nothing is
    generated, and the reply ends "cancelled"."""
    stop = []
    prompt = list(b"0123456789abcdef")
    events, model, _ = gen(list(b"ab"), prompt=prompt, prefill_step=4, max_tokens=2,
                           progress=lambda done, total: stop.append(done >= 4), should_stop=lambda: any(stop))
    assert model.calls == [4]  # the first chunk ran; the stop came before the second
    assert [e.finish_reason for e in events] == ["cancelled"] and events[0].token is None
    # its numbers say what happened: 4 of the 16 prompt tokens read
    assert events[0].prompt_tokens == 16 and events[0].prompt_read == 4


def test_the_stats_of_a_reply_stopped_while_reading_count_what_was_read():
    from app.backend import finish_stats

    stop = []
    events, _, _ = gen(list(b"ab"), prompt=list(b"0123456789abcdef"), prefill_step=4, max_tokens=2,
                       progress=lambda done, total: stop.append(done >= 4), should_stop=lambda: any(stop))
    stats = finish_stats(events[-1], 0, 2048)
    assert stats["prompt_tokens"] == 16 and stats["cached_tokens"] == 0 and stats["computed_tokens"] == 4
    assert stats["ttft_s"] is None and stats["context_used"] == 4  # no token came: no first-token time


def test_prefill_leaves_the_last_token_for_decoding():
    model = ScriptedModel([0] * 10)
    cache = make_cache(2)
    last = prefill(model, [5, 6, 7, 8], cache, step=2)
    assert last.tolist() == [8] and cache_offset(cache) == 3 and model.calls == [2, 1]


# ---------------------------------------------------------------------------------------------
# prompt caching and event bookkeeping


def test_a_cache_holding_the_start_of_the_conversation_is_reused():
    first = list(b"Hi!")
    cache = make_cache(2)
    model = ScriptedModel([0] * 20)
    prefill(model, first + [0], cache)  # the cache now holds `first`
    events = list(generate(model, TOK, first + [ord("?")], cache, GREEDY, GenerationConfig(max_tokens=2)))
    assert events[0].cached_tokens == 3 and events[0].prompt_tokens == 4
    assert model.calls == [3, 1, 1]  # the cached prefill, then only "?" and one generated token


def test_a_cache_holding_the_whole_prompt_is_refused():
    cache = make_cache(2)
    prefill(ScriptedModel([0] * 20), list(b"Hi!") + [0], cache)  # holds 3 tokens
    with pytest.raises(ValueError, match="whole prompt"):
        generate(ScriptedModel([0] * 20), TOK, [ord("?")], cache, GREEDY)  # a suffix, not the prompt
    with pytest.raises(ValueError, match="whole prompt"):
        generate(ScriptedModel([0] * 20), TOK, list(b"Hi!"), cache, GREEDY)


def test_progress_counts_the_cached_prefix_as_done():
    prompt = list(b"0123456789")
    cache = make_cache(2)
    model = ScriptedModel([0] * 20)
    prefill(model, prompt[:5], cache)  # holds 4 tokens
    calls = []
    list(generate(model, TOK, prompt, cache, GREEDY, GenerationConfig(max_tokens=1, prefill_step=2),
                  lambda done, total: calls.append((done, total))))
    assert calls == [(4, 10), (6, 10), (8, 10), (9, 10)]  # the cached 4 are done from the start


def test_kv_bytes_grow_as_tokens_are_generated():
    events, _, _ = gen(list(b"abcdef"), max_tokens=6)
    sizes = [e.kv_bytes for e in events]
    assert sizes == sorted(sizes) and sizes[-1] > sizes[0] > 0


@pytest.mark.parametrize(
    "outputs, config, last_fed",
    [(list(b"abcdef"), {"max_tokens": 4}, False), (list(b"ab") + [EOS], {"max_tokens": 9}, True),
     (list(b"abcdefgh"), {"max_tokens": 9, "stop_strings": ("cd",)}, True)],
    ids=["token limit", "eos", "stop string"],
)
def test_kv_bytes_are_reported_with_the_cache_length_they_were_measured_at(outputs, config, last_fed):
    """Each token's kv_bytes is the cache of kv_tokens tokens: the prompt and the reply up to that
    token (it is fed back before it is reported), except a last token the reply never fed back
    (at its token limit); the last event's length is the cache the reply leaves."""
    events, _, cache = gen(outputs, **config)
    n, p = len(events), len(PROMPT)
    per_token = sum(c.bytes_per_token for c in cache)
    assert [e.kv_tokens for e in events] == [p + i + 1 for i in range(n - 1)] + [p + n - (0 if last_fed else 1)]
    assert [e.kv_bytes for e in events] == [e.kv_tokens * per_token for e in events]
    assert events[-1].kv_tokens == cache_offset(cache)


@pytest.fixture(scope="module")
def tiny():
    return tiny_model(seed=4)


@pytest.mark.parametrize(
    "settings",
    [GREEDY, SamplingSettings(temperature=1.0, seed=1), SamplingSettings(temperature=0.8, top_k=5, seed=2),
     SamplingSettings(temperature=1.2, top_p=0.5, repetition_penalty=1.3, seed=3)],
    ids=["greedy", "t1", "topk", "topp+penalty"],
)
def test_event_probabilities_and_top_lists(tiny, settings):
    cfg = GenerationConfig(max_tokens=12, top_report=6)
    events = list(generate(tiny, TOK, list(b"Hello"), make_cache(2), settings, cfg))
    assert len(events) == 12 or events[-1].finish_reason == "eos"
    for e in events:
        assert 0.0 <= e.prob <= 1.0 and 0.0 <= math.exp(e.sampled_logprob) <= 1.0
        assert 0.0 <= e.entropy <= math.log(TOK.vocab_size) + 1e-4
        for top in (e.top_raw, e.top_final):
            values = [lp for _, _, lp in top]
            assert values == sorted(values, reverse=True)
            assert all(lp <= 1e-6 for lp in values)
        assert len(e.top_raw) == 6 and 1 <= len(e.top_final) <= 6
        raw = {i: lp for i, _, lp in e.top_raw}
        if e.token in raw:
            assert math.isclose(raw[e.token], e.logprob, abs_tol=1e-5)
        final = {i: lp for i, _, lp in e.top_final}
        assert e.token in final or len(e.top_final) == 6  # the drawn token was possible
        if settings.temperature == 0.0:
            assert e.token == e.top_final[0][0]


def test_same_seed_generates_the_same_tokens(tiny):
    s = SamplingSettings(temperature=1.0, seed=11)
    runs = [
        [e.token for e in generate(tiny, TOK, list(b"Hello"), make_cache(2), s, GenerationConfig(max_tokens=10))]
        for _ in range(2)
    ]
    assert runs[0] == runs[1]


def test_greedy_generation_matches_stepwise_argmax(tiny):
    prompt = list(b"Hello")
    events = list(generate(tiny, TOK, prompt, make_cache(2), GREEDY, GenerationConfig(max_tokens=6)))
    ids = list(prompt)
    for e in events:
        logits = tiny(mx.array([ids]), make_cache(2))[0, -1]
        assert e.token == mx.argmax(logits).item()
        ids.append(e.token)


def test_stop_strings_match_exactly_case_included():
    """As OpenAI's `stop`: "END" stops at "END", not at "end" (the hint says so)."""
    events, _, _ = gen(list(b"the end. THE END. more"), stop_strings=("END",))
    assert text_of(events) == "the end. THE " and events[-1].finish_reason == "stop"
