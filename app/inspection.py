"""The Inspector's requests and the report the worker sends back (Qt-free, runs in the worker thread).

A report is plain values (JSON-ready, plus two numpy arrays of the whole distribution that the
export leaves out), built from engine.inspect on the conversation's own tokens: the prompt exactly
as the reply's request assembled it, and the reply's tokens before the inspected one. The session
passes a copy of its prompt cache trimmed to the step, so only the inspected token is computed;
after a restart (no cache) the prefix is recomputed from the tokens.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from app.context import MEMORIES_HEADING
from engine.inspect import (
    analogy,
    attention_map,
    attention_module,
    embedding_row,
    inspect_step,
    neighbours,
    perplexity,
    rope_angles,
    rope_distance_scores,
    rope_inverse_frequencies,
    sampling_stages,
    token_losses,
    unit_embedding,
    unit_embedding_blocks,
)
from engine.sampling import SamplingSettings
from engine.vocabulary import Vocabulary, readable, token_origin, word_splits

TOP = 20  # tokens per list (logit lens, next token)
NEIGHBOURS = 10


@dataclass(frozen=True)
class StepRequest:
    """Inspect reply token `token_index` of a reply whose request was `generate` (an
    app.backend.GenerateRequest) and whose tokens were `reply_ids`; the step reads the token
    before it and predicts it. token_index == len(reply_ids) inspects the step after the last one.

    With `message_char` set, the selected token is instead the prompt token that holds character
    `message_char` of the user's own message (`generate.user_message`); `reply_ids` and
    `token_index` are then unused. `origin` "request": the reply of an API request (nothing of a
    conversation: no branch to continue)."""

    generate: Any
    reply_ids: tuple[int, ...]
    token_index: int
    top: int = TOP
    message_char: int | None = None
    origin: str = "reply"  # whose reply: "reply" (a conversation's) or "request" (an API request's)


@dataclass(frozen=True)
class MapRequest:
    """One layer's and head's full (T, T) attention map over the last inspected step's context."""

    layer: int
    head: int


@dataclass(frozen=True)
class PlaygroundRequest:
    """The last inspected step's distribution through the sampler with `settings` (and `history`)."""

    settings: SamplingSettings
    history: tuple[int, ...] = ()
    top: int = 10


@dataclass(frozen=True)
class LookupRequest:
    """Where the tokens of `text` stand in the last inspected step's distribution."""

    text: str


@dataclass(frozen=True)
class AnalogyRequest:
    """a − b + c → the nearest tokens in the embedding (each word's first token is used)."""

    a: str
    b: str
    c: str


@dataclass
class InspectorState:
    """What the session keeps between requests: the last step's context and logits, the unit
    embedding matrix and the vocabulary (built once per model: `warm_up`, or the first step)."""

    ids: list[int] = field(default_factory=list)
    logits: Any = None  # (vocab,) MLX array: the last step's raw logits
    logprobs: np.ndarray | None = None  # (vocab,) their log-softmax, as every view shows it
    unit: Any = None  # (vocab, dim) float32 MLX array: the embedding's rows, each of length 1
    losses: tuple[tuple[int, ...], list[float]] | None = None  # (prompt ids, its last turn's losses)
    vocabulary: Vocabulary | None = None  # the tokenizer's merges or scores, read once


def warm_up(lm, state: InspectorState) -> Iterator[str]:
    """Build what a model's first inspection would otherwise build, one piece per step: the
    tokenizer's merges or scores (Vocabulary), then the unit embedding matrix. Yields the name of
    each piece once built; the caller (the worker, when idle) runs one step at a time so a reply
    asked for meanwhile goes first. A piece already built is skipped; the results are the same
    objects a step would build, so an inspection is unchanged by it."""
    if state.vocabulary is None:
        state.vocabulary = Vocabulary.of(lm.tokenizer)
        yield "vocabulary"
    if state.unit is None:
        for unit in unit_embedding_blocks(lm.model):  # a block per step: the window never waits for all
            if state.unit is not None:  # a step inspected meanwhile built it
                return
            if unit is not None:
                state.unit = unit
            yield "embedding"


def rope_distances(context_length: int) -> list[int]:
    """0, 1, 2, 3, 5, 10, 20, 50 … up to the context length: the distances the Position view lists."""
    out, scale = [0, 1, 2, 3], 1
    while 5 * scale < context_length:
        out += [d * scale for d in (5, 10, 20) if d * scale < context_length]
        scale *= 10
    return sorted(set(out + [context_length - 1]))


def content_spans(tokenizer, messages: Sequence[dict[str, str]], prompt_ids: Sequence[int]) -> list[tuple[int, int]] | None:
    """Where each message's text lies in the prompt: [(first token, end token)] in message order,
    found in the template's rendering (whatever the template does with turns: Gemma's folds the
    system prompt into the first user turn) and mapped to tokens by their exact bytes. None when the
    tokens do not spell the rendering or a text is not found in it (never guessed)."""
    layout = _byte_layout(tokenizer, messages, prompt_ids)
    if layout is None:
        return None
    token_at, spans = layout
    return [(token_at(a), token_at(b - 1) + 1) for a, b in spans]


def _byte_layout(tokenizer, messages, prompt_ids):
    """(token_at: byte offset -> the token holding it, [(start, end) byte span of each message's
    text in the rendering]) or None (see `content_spans`)."""
    try:
        text = tokenizer.apply_chat_template(list(messages), add_generation_prompt=True).encode("utf-8")
        pieces = [tokenizer.token_bytes[i] for i in prompt_ids]
    except Exception:  # a template that fails here failed for the request too; no spans, no guess
        return None
    if b"".join(pieces) != text and prompt_ids and b"".join(pieces[1:]) == text:
        pieces[0] = b""  # a beginning-of-text token the tokenizer adds before the rendering
    if b"".join(pieces) != text:
        return None
    ends, at = [], 0
    for piece in pieces:
        at += len(piece)
        ends.append(at)  # ends[k]: the byte offset where token k ends

    def token_at(offset: int) -> int:
        return bisect.bisect_right(ends, offset)

    spans = _content_bytes(tokenizer, messages, text)
    if spans is None:
        return None
    return token_at, spans


PROBE = "\u2063glassbox-probe-{}\u2063"  # a text no template changes and no message holds


def _content_bytes(tokenizer, messages, text: bytes) -> list[tuple[int, int]] | None:
    """[(start, end)] byte span of each message's text in `text`, the rendering of `messages`.

    The template is rendered once more with each message's text replaced by a probe: what lies
    between the probes is the template's own text, so each message's text is read at its place (a
    message "user" is never taken for a role name). The text is as sent or trimmed (Gemma's
    template trims it); an empty one is an empty span. None when the rendering does not line up."""
    probes = [PROBE.format(i) for i in range(len(messages))]
    try:
        probed = tokenizer.apply_chat_template(
            [{**m, "content": p} for m, p in zip(messages, probes, strict=True)], add_generation_prompt=True
        )
    except Exception:
        return None
    spans, cursor, rest = [], 0, probed
    for message, probe in zip(messages, probes, strict=True):
        markup, found, rest = rest.partition(probe)
        if not found or not text.startswith(markup.encode("utf-8"), cursor):
            return None
        cursor += len(markup.encode("utf-8"))
        content = str(message.get("content") or "")
        written = next((w for w in (content, content.strip()) if text.startswith(w.encode("utf-8"), cursor)), None)
        if written is None:
            return None
        spans.append((cursor, cursor + len(written.encode("utf-8"))))
        cursor = spans[-1][1]
    return spans if text[cursor:] == rest.encode("utf-8") else None


def user_span(tokenizer, messages: Sequence[dict[str, str]], prompt_ids: Sequence[int]) -> tuple[int, int]:
    """[start, end) of the last turn (the user's message, its template tokens included) in the prompt:
    where the earlier messages rendered alone end, and never before the end of an earlier message's
    text (a template that folds the system prompt into the user's turn)."""
    head = tokenizer.encode_chat(list(messages[:-1]), add_generation_prompt=False) if len(messages) > 1 else []
    start = len(head) if list(prompt_ids[: len(head)]) == head else 0
    spans = content_spans(tokenizer, messages, prompt_ids) if len(messages) > 1 else None
    if spans is not None:
        start = max(start, spans[-2][1])
    return max(start, 1), len(prompt_ids)


TEMPLATE_MARKUP = "template markup"  # the chat template's own text: <bos>, turn markers, role names


def prompt_parts(
    tokenizer, messages: Sequence[dict[str, str]], prompt_ids: Sequence[int], user_message: str | None = None
) -> list[tuple[str, int, int]]:
    """The prompt cut into what the user can tell apart, by where each token's text came from:
    [(name, start, end)] in order, consecutive tokens of one name together, names among "system
    prompt" (the text of a system message, memories too in a reply asked before they went with the
    message), "earlier turns" (the text of the messages before yours), "memories" (those sent with
    your message, before its text), "your message" (its text as you wrote it) and "template markup"
    (the text around them that nobody wrote: the chat template's <bos>, turn markers, role names,
    the reply's opening markers, and the blank line the app puts between the memories and your
    message, `app.context.with_memories`).

    `user_message`: the message as the user wrote it (`GenerateRequest.user_message`); the last
    turn's text is that message after the memories block and its blank line. Without it (or when
    the turn does not end with it), a turn that starts with the memories heading is cut at its
    first blank line.

    Each message's text is found in the template's rendering (`_byte_layout`, in message order,
    whatever the template does with it: Gemma's folds the system prompt into the first user turn)
    and each token is named by the bytes it spells: a token holding any byte of a message's text is
    that message's, a token holding none is the template's. [] when the tokens do not spell the
    rendering or a text is not found (never guessed)."""
    layout = _byte_layout(tokenizer, messages, prompt_ids)
    if layout is None:
        return []
    token_at, spans = layout
    names = [TEMPLATE_MARKUP] * len(prompt_ids)

    def name(first_byte: int, end_byte: int, part: str) -> None:
        if end_byte > first_byte:
            for k in range(token_at(first_byte), token_at(end_byte - 1) + 1):
                names[k] = part

    last = len(messages) - 1
    for i, (message, (start, end)) in enumerate(zip(messages, spans, strict=True)):
        if i == last and message.get("role") != "system":
            memories, glue = _memories_bytes(str(message.get("content") or ""), user_message)
            name(start, start + memories, "memories")
            name(start + memories + glue, end, "your message")  # a token holding the glue alone stays markup
        else:
            name(start, end, "system prompt" if message.get("role") == "system" else "earlier turns")
    out: list[tuple[str, int, int]] = []
    for k, part in enumerate(names):
        if out and out[-1][0] == part:
            out[-1] = (part, out[-1][1], k + 1)
        else:
            out.append((part, k, k + 1))
    return out


def _memories_bytes(content: str, user_message: str | None) -> tuple[int, int]:
    """(bytes of the memories block, bytes of the app's blank line after it) at the start of the
    last turn's `content`; (0, 0) when it holds no memories."""
    glue = "\n\n"  # what app.context.with_memories puts between the block and the message
    if not content.startswith(MEMORIES_HEADING):
        return 0, 0
    if user_message is not None:  # the user's own text is never read as a memories block
        if content == user_message or not content.endswith(glue + user_message):
            return 0, 0
        block = content[: len(content) - len(user_message) - len(glue)]
    elif glue in content:
        block = content[: content.index(glue)]
    else:
        return 0, 0
    return len(block.encode("utf-8")), len(glue)


def vocabulary_report(tokenizer, vocabulary: Vocabulary, token: int) -> dict:
    """The Vocabulary view's numbers: how `token` is built, and how its word splits elsewhere."""
    origin = token_origin(vocabulary, tokenizer, token)
    kind = origin.kind if origin.kind != "special" else vocabulary.kind
    try:
        word = tokenizer.token_bytes[token].decode("utf-8")
    except UnicodeDecodeError:  # part of a character's bytes: there is no word to split
        word = ""
    return {
        "kind": vocabulary.kind,  # "byte-level BPE", "BPE", "SentencePiece" or "unknown"
        "special": origin.kind == "special",  # a control token: added whole, not built by merges
        "size": origin.vocab_size,
        "token": token,
        "spelling": origin.spelling,
        "start": [readable(s, kind) for s in origin.start],
        "merges": [
            {"left": readable(m.left, kind), "right": readable(m.right, kind), "result": readable(m.result, kind),
             "rank": m.rank, "score": m.score}
            for m in origin.merges
        ],  # fmt: skip
        "reached": origin.reached,
        "end": [readable(s, kind) for s in origin.end],  # the pieces the merges alone end with
        "whole_piece": origin.whole_piece,  # not reached: the tokenizer takes this piece whole (Llama 3)
        "score": origin.score,
        "splits": [
            {"context": w.context, "text": w.text, "ids": w.ids, "pieces": [tokenizer.piece(i) for i in w.ids]}
            for w in (word_splits(tokenizer, word) if word.strip() else [])
        ],
    }


def _common_suffix(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[len(a) - 1 - n] == b[len(b) - 1 - n]:
        n += 1
    return a[len(a) - n :]


def message_token(
    tokenizer, prompt_ids: Sequence[int], messages: Sequence[dict[str, str]], text: str, char: int, raw: bool = False
) -> int:
    """The prompt position of the token holding character `char` of `text`, the last message's content.

    The chat template's text after the message (its end marker, the generation prompt) is found by
    rendering the same messages with two different probe contents and keeping what they end with;
    the message's UTF-8 bytes end just before it in the prompt's token bytes. (The prompt's tokens
    are never re-parsed: only their exact bytes are compared.) A template that rewrote the message
    (e.g. stripped its spaces) is allowed for; ValueError if the text cannot be found at all.
    raw: the prompt is the completion view's (no chat template, `messages` unused): the text is the
    prompt's last bytes, nothing follows it.
    """
    if not 0 <= char < len(text):
        raise ValueError(f"character {char} is not in your message of {len(text)} characters")
    footer = b"" if raw else _template_footer(tokenizer, messages)
    data = [tokenizer.token_bytes[i] for i in prompt_ids]
    ends = np.cumsum([len(b) for b in data])
    whole = b"".join(data)
    limit = len(whole) - len(footer)
    stripped = text.strip()
    skipped = len(text) - len(text.lstrip())
    for body, shift in ((text, 0), (stripped, skipped)):
        encoded = body.encode("utf-8")
        start = limit - len(encoded) if whole[limit - len(encoded) : limit] == encoded else -1
        if start < 0:  # a template that adds bytes after the text (a space prefix): the last occurrence
            start = whole.rfind(encoded, 0, min(len(whole), limit + 8))
        if start >= 0 and encoded and 0 <= char - shift < len(body):
            at = start + len(body[: char - shift].encode("utf-8"))
            return int(np.searchsorted(ends, at, side="right"))
    raise ValueError("Could not find that character of your message among the prompt's tokens.")


def _template_footer(tokenizer, messages: Sequence[dict[str, str]]) -> bytes:
    """The chat template's bytes after the last message's text (its end marker, the generation prompt)."""
    head = list(messages[:-1])
    probes = [tokenizer.apply_chat_template(head + [{"role": "user", "content": c}]) for c in ("x", "y")]
    return _common_suffix(*probes).encode("utf-8")


def raw_prompt_parts(tokenizer, prompt_ids: Sequence[int], text: str) -> list[tuple[str, int, int]]:
    """`prompt_parts` of a completion view's prompt (no chat template): the texts joined as written,
    `text` (the user's last text) last. A token holding any byte of `text` is "your message", one
    holding text before it "earlier turns", one spelling no text (a beginning-of-text token)
    "template markup". [] when the prompt's bytes do not end with `text` (never guessed)."""
    special = getattr(tokenizer, "special_ids", set())
    # a control token (<bos>) spells no text of the user's, whatever bytes its piece has
    data = [b"" if i in special else tokenizer.token_bytes[i] for i in prompt_ids]
    whole = b"".join(data)
    encoded = text.encode("utf-8")
    if not whole.endswith(encoded):
        return []
    start, at, out = len(whole) - len(encoded), 0, []
    for k, piece in enumerate(data):
        at += len(piece)
        part = TEMPLATE_MARKUP if not piece else "your message" if at > start else "earlier turns"
        if out and out[-1][0] == part:
            out[-1] = (part, out[-1][1], k + 1)
        else:
            out.append((part, k, k + 1))
    return out


def step_report(
    lm, state: InspectorState, prompt_ids: list[int], messages, request: StepRequest, peek, progress=None
) -> dict:
    """Every view's numbers for one step (see the module docstring).

    peek(tokens) -> a copy of caches holding exactly `tokens`, or None (then they are computed,
    reporting `progress(done, total)` tokens as they are read).
    The user message's losses depend on the prompt only: they are kept for the next step.
    """
    t0 = time.perf_counter()
    model, tok = lm.model, lm.tokenizer
    reply = list(request.reply_ids)
    k = request.token_index
    plain = request.generate.raw_prompt is not None  # the completion view's prompt: no chat template
    if request.message_char is None:
        if not 0 <= k <= len(reply):
            raise ValueError(f"token {k} is not in this reply of {len(reply)} tokens")
        ids = list(prompt_ids) + reply[:k]
        target = reply[k] if k < len(reply) else None
        shown_ids = ids
    else:
        chosen = message_token(tok, prompt_ids, messages, request.generate.user_message, request.message_char, raw=plain)
        if chosen < 1:
            raise ValueError("The first token of the prompt has nothing before it to be predicted from.")
        ids, target, shown_ids = list(prompt_ids[:chosen]), prompt_ids[chosen], list(prompt_ids)
    position = len(ids) - 1
    step = inspect_step(model, ids, position, request.top, cache=peek(ids[:-1]) if position else None, progress=progress)
    raw = np.array(step.logprobs)
    state.ids, state.logits, state.logprobs = ids, step.logits, raw
    for _piece in warm_up(lm, state):  # the first inspection of a model not yet warmed up
        pass
    shown = target if target is not None else step.next_token[0][0]  # the selected token (Vocabulary)
    reading = ids[position]  # the token the step reads: its embedding row enters the blocks at `position`
    vector = embedding_row(model, reading)
    if plain:
        parts = raw_prompt_parts(tok, prompt_ids, request.generate.user_message)
        span = next(((max(1, a), len(prompt_ids)) for name, a, _ in parts if name == "your message"), (1, len(prompt_ids)))
    else:
        parts = prompt_parts(tok, messages, prompt_ids, request.generate.user_message)
        span = user_span(tok, messages, prompt_ids)
    key = tuple(prompt_ids)
    if state.losses is None or state.losses[0] != key:
        prompt = list(prompt_ids)
        losses = token_losses(model, prompt, span[0], span[1], cache=peek(prompt[: span[0] - 1])) if span[1] > span[0] else []
        state.losses = (key, losses)
    losses = state.losses[1]
    inv = rope_inverse_frequencies(attention_module(model).rope)
    referenced = {i for entry in step.logit_lens for i, _ in entry} | {i for i, _ in step.next_token}
    found = neighbours(state.unit, reading, NEIGHBOURS)
    referenced |= {i for i, _ in found} | set(shown_ids) | ({target} if target is not None else set())
    order = np.argsort(-raw)
    top = request.top
    info = lm.info
    report = {
        "ids": ids,  # the context the step reads: ids[position] is the last
        "shown_ids": shown_ids,  # the tokens the Tokenization view lists (the whole prompt for a message step)
        "pieces": [tok.piece(i) for i in shown_ids],  # aligned with shown_ids (a prefix of it is `ids`)
        "special": [i in tok.special_ids for i in shown_ids],
        "prompt_tokens": len(prompt_ids),
        "prompt_parts": parts,  # [(name, start, end)] of the prompt
        "user_message": request.generate.user_message,
        # the decoding settings the reply was made with (the playground starts from them)
        "sampling": request.generate.sampling.to_dict(),
        "reply_tokens": reply,
        "source": request.origin if request.message_char is None else "message",
        "token_index": k if request.message_char is None else None,
        "message_char": request.message_char,
        "position": position,
        "token": target,
        "token_logprob": float(raw[target]) if target is not None else None,
        "token_rank": int(np.sum(raw > raw[target])) + 1 if target is not None else None,
        "names": {i: tok.piece(i) for i in referenced},
        "step": step.to_json(),
        "tail": {
            "shown": top,
            "others": int(raw.size - top),
            "others_mass": float(np.exp(raw[order[top:]]).sum()),
        },
        "vocabulary": vocabulary_report(tok, state.vocabulary, shown),
        "embedding": {  # of the token the step reads (at `position`), not of the one it predicts
            "token": reading,
            "position": position,
            "vector": vector,
            "neighbours": found,
        },
        "rope": {  # the rotation of the token the step reads, at its own position
            "position": position,
            "inverse_frequencies": inv,
            "angles": rope_angles(position, inv),
            "distances": (distances := rope_distances(info.context_length)),
            "distance_scores": rope_distance_scores(inv, distances),
            "head_dim": info.head_dim,
            "rotary_dims": 2 * len(inv),  # fewer than head_dim where only part of a head rotates (qwen3_next)
            "base": float(getattr(model.args, "rope_theta", 0.0)),
            "context_length": info.context_length,
        },
        "objective": {
            "start": span[0],
            "ids": list(prompt_ids[span[0] : span[1]]),
            "losses": losses,
            "mean": float(np.mean(losses)) if losses else math.nan,
            "perplexity": perplexity(losses),
        },
        "model": {
            "name": info.name, "n_layers": info.n_layers, "n_heads": info.n_heads, "n_kv_heads": info.n_kv_heads,
            "head_dim": info.head_dim, "hidden": int(model.args.hidden_size), "vocab_size": info.vocab_size,
            "context_length": info.context_length, "sliding_window": info.sliding_window,
        },  # fmt: skip
        "elapsed_s": time.perf_counter() - t0,
        "raw_logprobs": raw,  # (vocab,) numpy, left out of the JSON export
    }
    return report


def map_report(lm, state: InspectorState, request: MapRequest, progress=None, should_stop=None) -> dict | None:
    """The full map over the last inspected step's context (None if `should_stop` stopped it)."""
    if not state.ids:
        raise ValueError("inspect a step first")
    out = attention_map(lm.model, state.ids, request.layer, request.head, progress=progress, should_stop=should_stop)
    if out is None:
        return None
    weights, allowed, factor = pooled_map(out.weights, out.allowed)
    return {
        "layer": out.layer, "head": out.head, "weights": weights, "allowed": allowed, "window": out.window,
        "positions_per_cell": factor, "tokens": len(state.ids),
    }  # fmt: skip


MAP_CELLS = 1024  # the most rows and columns of a map sent to the window


def pooled_map(weights: np.ndarray, allowed: np.ndarray, cells: int = MAP_CELLS) -> tuple[np.ndarray, np.ndarray, int]:
    """A (T, T) map reduced to at most `cells` × `cells` for drawing: each cell the largest weight of
    its block of positions (a sharp peak stays visible), allowed if any position in it was. Returns
    (weights, allowed, positions per cell); a map that fits is returned as it is (factor 1)."""
    T = weights.shape[0]
    factor = -(-T // cells)
    if factor == 1:
        return weights, allowed, 1
    n = -(-T // factor)
    pad = n * factor - T
    w = np.pad(weights, ((0, pad), (0, pad))).reshape(n, factor, n, factor).max(axis=(1, 3))
    a = np.pad(allowed, ((0, pad), (0, pad))).reshape(n, factor, n, factor).any(axis=(1, 3))
    return w, a, factor


def playground_report(lm, state: InspectorState, request: PlaygroundRequest) -> dict:
    if state.logits is None:
        raise ValueError("inspect a step first")
    history = request.history or tuple(state.ids[-request.settings.penalty_context :])
    trace = sampling_stages(state.logits, request.settings, history, request.top)
    ids = {i for s in trace.stages for i, _ in s.top} | {trace.token}
    return {
        "stages": [{"name": s.name, "kept": s.kept, "top": s.top} for s in trace.stages],
        "token": trace.token,
        "names": {i: lm.tokenizer.piece(i) for i in ids},
        "settings": request.settings.to_dict(),
    }


def lookup_report(lm, state: InspectorState, request: LookupRequest) -> dict:
    if state.logits is None:
        raise ValueError("inspect a step first")
    ids = lm.tokenizer.encode(request.text)
    logprobs = state.logprobs
    return {
        "text": request.text,
        "tokens": [
            {"id": i, "piece": lm.tokenizer.piece(i), "logit": float(np.array(state.logits[i])),
             "logprob": float(logprobs[i]), "rank": int(np.sum(logprobs > logprobs[i])) + 1}
            for i in ids
        ],  # fmt: skip
    }


def to_json(report: dict) -> dict:
    """The report as JSON-ready values (the whole-vocabulary arrays left out)."""
    return {k: v for k, v in report.items() if not isinstance(v, np.ndarray)}


def analogy_report(lm, state: InspectorState, request: AnalogyRequest) -> dict:
    """The analogy on the model's embedding matrix, with the tokens each word became."""
    if state.unit is None:
        state.unit = unit_embedding(lm.model)
    ids = []
    for word in (request.a, request.b, request.c):
        encoded = lm.tokenizer.encode(word)
        if not encoded:
            raise ValueError("the analogy needs three words (a − b + c)")
        ids.append(encoded[0])
    found = analogy(state.unit, *ids, k=5)
    names = {i: lm.tokenizer.piece(i) for i in ids + [i for i, _ in found]}
    return {"ids": ids, "nearest": found, "names": names}
