"""The Inspector's reports from the real engine session, checked against what generation reported
for the same steps, and against separate forward passes."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from app.backend import EngineSession, GenerateRequest
from app.inspection import LookupRequest, MapRequest, PlaygroundRequest, StepRequest, to_json
from engine.events import TokenEvent
from engine.next_token import next_token_logprobs
from engine.sampling import Sampler, SamplingSettings

pytestmark = pytest.mark.slow

GREEDY = SamplingSettings(temperature=0.0)


@pytest.fixture(scope="module")
def served(default_lm):
    session = EngineSession(default_lm, "SmolLM2", "default")
    request = GenerateRequest("What is the capital of France?", GREEDY, (), "You are a helpful assistant.",
                              max_new_tokens=10, conversation_id="c1")  # fmt: skip
    records = list(session.stream(request, lambda: False, lambda d, t: None))
    return session, request, [r for r in records if isinstance(r, TokenEvent) and r.token is not None]


def test_a_step_report_matches_what_generation_reported(served):
    session, request, records = served
    ids = tuple(r.token for r in records)
    for k in (0, 3, len(ids) - 1):
        report = session.inspect(StepRequest(request, ids, k))
        step = report["step"]
        assert report["token"] == ids[k] and report["token_index"] == k
        assert step["cached_tokens"] == report["position"]  # the reply's cache was reused up to the step
        assert abs(report["token_logprob"] - records[k].logprob) < 1e-4
        generated = {i: lp for i, _piece, lp in records[k].top_raw}
        for i, lp in step["next_token"][:5]:
            assert abs(generated[i] - lp) < 1e-4
        assert step["logit_lens"][-1] == step["next_token"]
        assert report["token_rank"] == 1  # greedy: the token was the most likely one
        assert len(step["attention"]) == 30
        for layer in step["attention"]:
            assert np.allclose(np.array(layer["weights"]).sum(axis=1), 1.0, atol=1e-4)
    json.dumps(to_json(report))  # the export is plain JSON


def test_a_step_after_a_restart_is_recomputed_from_the_tokens(default_lm, served):
    _, request, records = served
    ids = tuple(r.token for r in records)
    fresh = EngineSession(default_lm, "SmolLM2", "default")  # nothing cached
    read = []
    report = fresh.inspect(StepRequest(request, ids, 4), lambda done, total: read.append((done, total)))
    assert report["step"]["cached_tokens"] == 0
    # the context read again, said as it goes: all the tokens before the step's own
    assert read and read[-1] == (report["position"], report["position"] + 1)
    real = next_token_logprobs(default_lm.model, report["ids"], 3)
    assert [i for i, _ in real] == [i for i, _ in report["step"]["next_token"][:3]]


def test_a_warmed_up_session_reports_exactly_what_a_cold_one_does(default_lm, served):
    """The warm-up after a load (the worker runs it when idle) only builds earlier what the first
    step would build: the embedding, its neighbours and the vocabulary's merges are the same."""
    _, request, records = served
    ids = tuple(r.token for r in records)
    cold, warm = (EngineSession(default_lm, "SmolLM2", "default") for _ in range(2))
    pieces = list(warm.warm_up())  # the embedding a block of rows per piece (the worker runs one per turn)
    assert pieces[0] == "vocabulary" and set(pieces[1:]) == {"embedding"} and len(pieces) > 2
    assert list(warm.warm_up()) == []
    a, b = (s.inspect(StepRequest(request, ids, 2)) for s in (cold, warm))
    assert a["embedding"] == b["embedding"] and a["vocabulary"] == b["vocabulary"]
    assert a["embedding"]["neighbours"][0][0] == a["embedding"]["token"]  # itself first
    assert len(a["embedding"]["vector"]) == a["model"]["hidden"]
    assert list(cold.warm_up()) == []  # the cold session's first step built them


def test_embedding_and_position_are_the_read_tokens_as_attention_and_the_residual_are(served):
    """One step, one token going in: the embedding row and the RoPE angles shown are those of the
    token the step reads (at `position`), whose vector the residual stream starts from."""
    session, request, records = served
    ids = tuple(r.token for r in records)
    report = session.inspect(StepRequest(request, ids, 3))
    position = report["position"]
    assert report["embedding"]["token"] == report["ids"][position] != report["token"]
    assert report["rope"]["position"] == position
    assert report["rope"]["angles"][1] == position * report["rope"]["inverse_frequencies"][1]
    norm = math.sqrt(sum(x * x for x in report["embedding"]["vector"]))
    assert abs(norm - report["step"]["residual_norms"][0]) < 1e-3  # the residual stream starts as that row


def test_the_prompt_is_cut_into_the_system_turn_and_the_users_message(served, default_lm):
    session, request, records = served
    report = session.inspect(StepRequest(request, tuple(r.token for r in records), 1))
    parts = report["prompt_parts"]
    markup = "template markup"
    assert [name for name, _a, _b in parts] == [markup, "system prompt", markup, "your message", markup]
    assert parts[0][1] == 0 and parts[-1][2] == report["prompt_tokens"]
    assert all(a[2] == b[1] for a, b in zip(parts, parts[1:], strict=False))  # every prompt token in one part
    assert default_lm.tokenizer.decode(report["shown_ids"][parts[1][1] : parts[1][2]]) == "You are a helpful assistant."
    assert parts[3][1] >= report["objective"]["start"]  # the message's text is inside its turn


def test_objective_map_playground_and_lookup(served, default_lm):
    session, request, records = served
    ids = tuple(r.token for r in records)
    report = session.inspect(StepRequest(request, ids, 2))
    obj = report["objective"]
    # -log p of the first user-turn token, from a separate forward pass over the prompt before it
    start = obj["start"]
    before = next_token_logprobs(default_lm.model, report["ids"][:start], default_lm.info.vocab_size)
    lp = dict(before)[obj["ids"][0]]
    assert abs(obj["losses"][0] + lp) < 1e-3
    assert math.isclose(obj["perplexity"], math.exp(np.mean(obj["losses"])), rel_tol=1e-6)

    amap = session.inspect(MapRequest(29, 8))["weights"]
    T = len(report["ids"])
    assert amap.shape == (T, T) and np.allclose(amap.sum(axis=1), 1.0, atol=1e-4)
    assert np.allclose(amap[-1], report["step"]["attention"][29]["weights"][8], atol=1e-5)

    settings = SamplingSettings(temperature=0.8, top_k=5, seed=3)
    play = session.inspect(PlaygroundRequest(settings))
    assert play["stages"][-1]["kept"] == 5
    import mlx.core as mx

    real = Sampler(settings)(session._inspector.logits, mx.array(report["ids"][-64:], dtype=mx.int32))
    assert play["token"] == real.token.item()

    look = session.inspect(LookupRequest(" Paris"))
    (tok,) = look["tokens"]
    assert abs(tok["logprob"] - float(report["raw_logprobs"][tok["id"]])) < 1e-6
    assert tok["rank"] == 1 + int(np.sum(report["raw_logprobs"] > report["raw_logprobs"][tok["id"]]))


def test_inspecting_between_tokens_reads_the_live_caches_and_changes_nothing(default_lm, served):
    _, request, records = served
    session = EngineSession(default_lm, "SmolLM2", "default")
    seen, reports = [], []
    for record in session.stream(request, lambda: False, lambda d, t: None):
        if not isinstance(record, TokenEvent) or record.token is None:
            continue
        seen.append(record.token)
        if len(seen) in (1, 4):  # as the worker does when the Inspector follows the reply
            reports.append(session.inspect(StepRequest(request, tuple(seen), len(seen) - 1)))
    assert seen == [r.token for r in records]  # the reply is the same token for token
    for report in reports:
        assert report["step"]["cached_tokens"] == report["position"]  # nothing before the step recomputed
        k = report["token_index"]
        assert abs(report["token_logprob"] - records[k].logprob) < 1e-4


def test_a_position_in_the_users_message_is_inspected_as_the_step_that_predicted_it(served, default_lm):
    session, request, _records = served
    text = request.user_message
    char = text.index("capital") + 2  # inside the word
    report = session.inspect(StepRequest(request, (), 0, message_char=char))
    assert report["source"] == "message" and report["token_index"] is None
    p = report["position"] + 1  # the selected token's place in the prompt
    prompt = report["shown_ids"]
    assert len(prompt) == report["prompt_tokens"] and report["ids"] == prompt[:p] and report["token"] == prompt[p]
    assert "capital" in default_lm.tokenizer.piece(prompt[p])
    # its logprob is the model's, from a separate full forward pass over the prompt before it
    real = dict(next_token_logprobs(default_lm.model, prompt[:p], default_lm.info.vocab_size))
    assert abs(report["token_logprob"] - real[prompt[p]]) < 1e-3
    # and the training-objective view's loss for that position is the same number
    obj = report["objective"]
    assert abs(obj["losses"][p - obj["start"]] + report["token_logprob"]) < 1e-3
    assert report["step"]["cached_tokens"] in (0, report["position"])
    for layer in report["step"]["attention"]:
        assert np.allclose(np.array(layer["weights"]).sum(axis=1), 1.0, atol=1e-4)
        assert len(layer["weights"][0]) == p  # the step reads the p tokens before the selected one
    exported = json.loads(json.dumps(to_json(report)))  # Export JSON works for it too
    assert exported["source"] == "message" and exported["vocabulary"]["merges"][-1]["result"] == " capital"


@pytest.mark.parametrize("text", [" in a village", "  spaced out  ", "naïve café 🙂 done", "x\nuser\n<|im_end|>"])
def test_every_character_of_a_completion_text_maps_to_the_token_that_holds_it(default_lm, text):
    """Trial 6, finding 16: the completion view's prompt has no chat template (the texts joined as
    written, the user's last): each character of the user's text finds its token, and the prompt's
    parts name the earlier text, the user's and the beginning-of-text token."""
    from app.inspection import TEMPLATE_MARKUP, message_token, raw_prompt_parts

    tok = default_lm.tokenizer
    earlier = "Once upon a time"
    ids = tok.encode(earlier + text)  # as app.context.assemble_raw encodes it: special text stays plain
    data = [tok.token_bytes[i] for i in ids]
    starts = np.cumsum([0] + [len(b) for b in data])
    begin = len(b"".join(data)) - len(text.encode())
    for c in range(len(text)):
        p = message_token(tok, ids, [], text, c, raw=True)
        at = begin + len(text[:c].encode())
        assert starts[p] <= at < starts[p + 1], (c, p)
    with pytest.raises(ValueError, match="not in your message"):
        message_token(tok, ids, [], text, len(text), raw=True)
    parts = raw_prompt_parts(tok, ids, text)
    assert [name for name, _a, _b in parts][-2:] == ["earlier turns", "your message"] and parts[-1][2] == len(ids)
    assert all(name != TEMPLATE_MARKUP or not any(data[a:b]) for name, a, b in parts)
    assert raw_prompt_parts(tok, ids, "not the end") == []


@pytest.mark.parametrize("text", ["user", "assistant", "  spaced out  ", "naïve café 🙂 done", "x\nuser\n<|im_end|>"])
def test_every_character_of_a_message_maps_to_the_token_that_holds_it(default_lm, text):
    """Words the template itself writes, spaces, emoji, marker text: each character finds its token."""
    from app.inspection import message_token

    tok = default_lm.tokenizer
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]
    ids = tok.encode_chat(messages)
    data = [tok.token_bytes[i] for i in ids]
    starts = np.cumsum([0] + [len(b) for b in data])
    rendered = tok.apply_chat_template(messages).encode()
    assert b"".join(data) == rendered  # SmolLM2: the tokens' bytes are the rendered template
    header = b"<|im_start|>user\n"  # its ChatML template: the message follows the last user header
    begin = rendered.rindex(header) + len(header)
    assert rendered[begin : begin + len(text.encode())] == text.encode()
    for c in range(len(text)):
        p = message_token(tok, ids, messages, text, c)
        at = begin + len(text[:c].encode())
        assert starts[p] <= at < starts[p + 1], (c, p)
    with pytest.raises(ValueError, match="not in your message"):
        message_token(tok, ids, messages, text, len(text))


def test_the_vocabulary_report_for_a_word_and_for_a_control_token(default_lm):
    from app.inspection import vocabulary_report
    from engine.vocabulary import Vocabulary

    tok = default_lm.tokenizer
    vocabulary = Vocabulary.of(tok)
    (paris,) = tok.encode(" Paris", add_bos=False)
    word = vocabulary_report(tok, vocabulary, paris)
    assert word["kind"] == "byte-level BPE" and not word["special"] and word["reached"]
    assert word["merges"][-1]["result"] == " Paris" and word["size"] == 49152
    assert [s["text"] for s in word["splits"]][:3] == ["Paris", " Paris", "\nParis"]
    assert all(s["ids"] == tok.encode(s["text"], add_bos=False) for s in word["splits"])
    control = vocabulary_report(tok, vocabulary, min(tok.special_ids))
    assert control["special"] and control["kind"] == "byte-level BPE" and control["merges"] == []
    json.dumps(word), json.dumps(control)  # exported with the step


def test_a_long_map_is_pooled_for_drawing_keeping_its_peaks():
    from app.inspection import pooled_map

    rng = np.random.default_rng(0)
    T = 2500
    weights = np.tril(rng.random((T, T), dtype=np.float32))
    allowed = np.tril(np.ones((T, T), dtype=bool))
    weights[1234, 17] = 5.0  # a peak
    small, mask, factor = pooled_map(weights, allowed, cells=1024)
    assert factor == 3 and small.shape == mask.shape == (834, 834)
    assert small[1234 // 3, 17 // 3] == 5.0 and small.max() == 5.0
    assert mask[5, 5] and not mask[0, 5]  # the diagonal block is partly visible; above it, masked
    same = pooled_map(weights[:100, :100], allowed[:100, :100], cells=1024)
    assert same[2] == 1 and same[0] is not None and same[0].shape == (100, 100)


def named_parts(tokenizer, ctx, user_message: str | None = None) -> list[tuple[str, str]]:
    """(part, the text its tokens spell) of a prompt, in order (`prompt_parts`)."""
    from app.inspection import prompt_parts

    parts = prompt_parts(tokenizer, ctx.messages, ctx.prompt_ids, user_message)
    assert parts[0][1] == 0 and parts[-1][2] == len(ctx.prompt_ids)
    assert all(a[2] == b[1] for a, b in zip(parts, parts[1:], strict=False))  # every prompt token in exactly one part
    return [(name, tokenizer.decode(ctx.prompt_ids[a:b])) for name, a, b in parts]


SYSTEM = "You are a helpful assistant. Answer clearly and concisely."
HISTORY = [{"role": "user", "content": "Name three planets."}, {"role": "assistant", "content": "Mercury, Venus and Earth."}]
MARKUP = "template markup"


def gemma_parts(history: list[dict], bos: str = "<bos>") -> list[tuple[str, str]]:
    """What Gemma's template makes of SYSTEM (folded into the first user turn: it has no system
    role), the history's turns and "What is the capital of France?", part by part."""
    head = [(MARKUP, f"{bos}<start_of_turn>user\n"), ("system prompt", SYSTEM), (MARKUP, "\n\n")]
    reply_starts = [(MARKUP, "<end_of_turn>\n<start_of_turn>model\n")]
    earlier = [("earlier turns", history[0]["content"]), *reply_starts, ("earlier turns", history[1]["content"]),
               (MARKUP, "<end_of_turn>\n<start_of_turn>user\n")] if history else []  # fmt: skip
    return [*head, *earlier, ("your message", "What is the capital of France?"), *reply_starts]


@pytest.mark.parametrize("history", [[], HISTORY], ids=["one turn", "two turns"])
def test_each_prompt_token_is_named_by_where_its_text_came_from_in_gemmas_template(tmp_path, history):
    """Verify 5, finding 13: with Gemma's template (no system role: the system prompt is folded into
    the first user turn) "<bos>" was named "system prompt" and the system prompt "earlier turns".
    Every token is named by the text it spells: the template's own tokens are template markup."""
    from app.context import assemble
    from engine.loading import load
    from tests.engine.checkpoints import write_gguf

    gemma = load(write_gguf("gemma3", tmp_path / "tiny-gemma.gguf")).tokenizer
    ctx = assemble(gemma, SYSTEM, [], history, "What is the capital of France?", 4096, 64)
    bos = "<bos>" if gemma.decode(ctx.prompt_ids).startswith("<bos>") else ""  # this tiny one drops it
    assert named_parts(gemma, ctx) == gemma_parts(history, bos)


GEMMA_FILE = Path.home() / ".local/share/Glassbox/models/gemma-3-270m-q4_k_m.gguf"


@pytest.mark.skipif(not GEMMA_FILE.exists(), reason="the Gemma 3 270M file is not in the models dir")
@pytest.mark.parametrize("history", [[], HISTORY], ids=["one turn", "two turns"])
def test_the_real_gemma_3_270m_prompt_parts(history):
    from app.context import assemble
    from engine.loading import load

    gemma = load(GEMMA_FILE).tokenizer
    ctx = assemble(gemma, SYSTEM, [], history, "What is the capital of France?", 4096, 64)
    assert named_parts(gemma, ctx) == gemma_parts(history)


def test_a_template_with_a_system_role_names_its_turns_and_memories(default_lm):
    """ChatML (the default SmolLM2 model): the system turn's text, earlier turns, memories sent with
    the message and the message itself, each apart from the template's markers around them."""
    from app.context import assemble

    tok = default_lm.tokenizer
    ctx = assemble(tok, SYSTEM, [], HISTORY, "What is the capital of France?", 8192, 64)
    assert named_parts(tok, ctx) == [
        (MARKUP, "<|im_start|>system\n"), ("system prompt", SYSTEM), (MARKUP, "<|im_end|>\n<|im_start|>user\n"),
        ("earlier turns", "Name three planets."), (MARKUP, "<|im_end|>\n<|im_start|>assistant\n"),
        ("earlier turns", "Mercury, Venus and Earth."), (MARKUP, "<|im_end|>\n<|im_start|>user\n"),
        ("your message", "What is the capital of France?"), (MARKUP, "<|im_end|>\n<|im_start|>assistant\n"),
    ]  # fmt: skip
    ctx = assemble(tok, "Be brief.", ["My name is Ana"], [], "What is my name?", 8192, 64)
    for user_message in ("What is my name?", None):  # as the Inspector calls it, and without the typed text
        assert named_parts(tok, ctx, user_message) == [
            (MARKUP, "<|im_start|>system\n"), ("system prompt", "Be brief."), (MARKUP, "<|im_end|>\n<|im_start|>user\n"),
            ("memories", "Things you know about the user:\n- My name is Ana"),
            (MARKUP, "\n\n"),  # trial 6, finding 12: the app's blank line is nobody's text
            ("your message", "What is my name?"), (MARKUP, "<|im_end|>\n<|im_start|>assistant\n"),
        ]  # fmt: skip


def test_a_message_that_starts_like_a_memories_block_is_the_users_own(default_lm):
    """The memories heading typed by the user, with no memories sent, is never read as memories."""
    from app.context import assemble

    tok = default_lm.tokenizer
    typed = "Things you know about the user:\n- nothing\n\nWhat is my name?"
    ctx = assemble(tok, "Be brief.", [], [], typed, 8192, 64)
    names = named_parts(tok, ctx, typed)
    assert "memories" not in dict(names) and dict(names)["your message"] == typed


@pytest.mark.parametrize("text", ["user", "assistant", "system", "\n"])
def test_a_message_that_reads_like_template_markup_is_still_the_users(default_lm, text):
    from app.context import assemble

    tok = default_lm.tokenizer
    ctx = assemble(tok, "user", [], [{"role": "user", "content": "assistant"}, {"role": "assistant", "content": "user"}],
                   text, 8192, 64)  # fmt: skip
    names = named_parts(tok, ctx)
    assert [n for n, _t in names if n != MARKUP] == ["system prompt", "earlier turns", "earlier turns", "your message"]
    assert text in dict(names)["your message"]  # (a token may hold the template's line break too)


def test_a_completion_prompts_beginning_of_text_token_is_template_markup_whatever_its_bytes():
    """Verify 6: on Gemma (SentencePiece, `<bos>` spelled as its piece) the completion view's
    Tokenization called `<bos>` "earlier turns" where there were none."""
    from types import SimpleNamespace

    from app.inspection import TEMPLATE_MARKUP, raw_prompt_parts

    tok = SimpleNamespace(token_bytes=[b"<bos>", b"The", b" history", b" of"], special_ids={0})
    assert raw_prompt_parts(tok, [0, 1, 2, 3], "The history of") == [(TEMPLATE_MARKUP, 0, 1), ("your message", 1, 4)]
    assert raw_prompt_parts(tok, [0, 1, 2, 3], " of") == [
        (TEMPLATE_MARKUP, 0, 1), ("earlier turns", 1, 3), ("your message", 3, 4)]
