"""Generation as a plain generator: prefill in chunks, then one token per step.

Each step yields a `TokenEvent` (id, text delta, probability, top alternatives under the raw and the
final distribution, timings); the last event carries the finish reason: "eos", "stop" (a stop
string), "length" (max tokens or the context window) or "cancelled". No threads, no Qt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import mlx.core as mx
import mlx.nn as nn

from engine.cache import KVCache, cache_nbytes
from engine.sampling import Sampler, SamplingSettings, Step
from engine.tokenizer import Tokenizer

ProgressFn = Callable[[int, int], None]  # (prompt tokens processed, prompt tokens to process)


@dataclass
class TokenEvent:
    """One generated token, or (token None) a finish without a new token."""

    index: int  # 0 for the first generated token
    token: int | None
    text: str  # new text that became complete with this token (may be "")
    piece: str  # the token's own text, spaces visible as they are
    logprob: float  # under the model's raw distribution
    sampled_logprob: float  # under the distribution the sampler drew from
    entropy: float  # of the raw distribution, in nats
    top_raw: list[tuple[int, float]]  # [(id, logprob)] best first, raw distribution
    top_final: list[tuple[int, float]]  # [(id, logprob)] best first, final distribution
    prompt_tokens: int  # tokens in the whole prompt (cached + prefilled)
    cached_tokens: int  # of those, reused from the KV cache
    ttft_s: float  # time to the first token of this reply
    elapsed_s: float  # since generation started
    step_s: float  # this token's own time
    kv_bytes: int  # KV-cache memory now held
    finish_reason: str | None = None

    @property
    def prob(self) -> float:
        import math

        return math.exp(self.logprob)


@dataclass
class GenerationConfig:
    max_tokens: int = 512
    stop_strings: Sequence[str] = ()
    top_report: int = 10  # alternatives reported per step
    prefill_step: int = 512
    context_length: int | None = None  # stop with "length" when the cache reaches it
    stop_ids: set[int] = field(default_factory=set)
    # "Continue with this token": the first generated token is this id instead of a draw (its
    # logprobs are still the model's at that step); the following tokens are sampled as usual
    force_first_token: int | None = None


def prefill(
    model: nn.Module,
    tokens: Sequence[int],
    cache: list[KVCache],
    step: int = 512,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> mx.array | None:
    """Run all but the last token through the model in chunks; return the last token (1,) array.

    Returns None if cancelled. The last token is left for the first decoding step so that its
    logits come out of the same code path as every later token's.
    """
    toks = mx.array(list(tokens), dtype=mx.int32)
    total, done = len(tokens), 0
    while total - done > 1:
        if should_stop and should_stop():
            return None
        n = min(step, total - 1 - done)
        model(toks[None, done : done + n], cache)
        mx.eval([c.state for c in cache])
        done += n
        if progress:
            progress(done, total)
    return toks[-1:]


def _top(logprobs: mx.array, k: int) -> tuple[mx.array, mx.array]:
    k = min(k, logprobs.shape[-1])
    ids = mx.argpartition(-logprobs, k - 1)[:k]
    vals = logprobs[ids]
    order = mx.argsort(-vals)
    return ids[order], vals[order]


def _entropy(logprobs: mx.array) -> mx.array:
    p = mx.exp(logprobs)
    return -mx.sum(mx.where(p > 0, p * logprobs, 0.0))


def generate(
    model: nn.Module,
    tokenizer: Tokenizer,
    prompt: Sequence[int],
    cache: list[KVCache],
    settings: SamplingSettings,
    config: GenerationConfig | None = None,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[TokenEvent]:
    """Generate a reply to `prompt` (token ids not yet in `cache`), one event per token.

    `cache` may already hold a prefix of the conversation (prompt caching): only `prompt` is
    processed. It must be non-empty. `should_stop` is checked before every step. Bad arguments
    (an empty prompt, invalid settings) raise ValueError here, not at the first next().
    """
    if not prompt:
        raise ValueError("generate() needs at least one new prompt token")
    sampler = Sampler(settings)
    config = config or GenerationConfig()
    forced = config.force_first_token
    if forced is not None and not 0 <= forced < tokenizer.vocab_size:
        raise ValueError(f"token {forced} is not in the vocabulary")
    return _events(model, tokenizer, prompt, cache, sampler, config, progress, should_stop)


def _events(
    model: nn.Module,
    tokenizer: Tokenizer,
    prompt: Sequence[int],
    cache: list[KVCache],
    sampler: Sampler,
    config: GenerationConfig,
    progress: ProgressFn | None,
    should_stop: Callable[[], bool] | None,
) -> Iterator[TokenEvent]:
    settings = sampler.settings
    stop_ids = set(tokenizer.eos_ids) | set(config.stop_ids)
    cached = cache[0].offset if cache else 0
    prompt_tokens = cached + len(prompt)
    start = time.perf_counter()
    limit = config.max_tokens
    if config.context_length:
        limit = min(limit, config.context_length - prompt_tokens)

    def finish(index: int, reason: str, ttft: float) -> TokenEvent:
        return TokenEvent(
            index, None, "", "", 0.0, 0.0, 0.0, [], [], prompt_tokens, cached, ttft,
            time.perf_counter() - start, 0.0, cache_nbytes(cache), reason,
        )

    if limit <= 0:
        yield finish(0, "length", 0.0)
        return
    last = prefill(model, prompt, cache, config.prefill_step, progress, should_stop)
    if last is None:
        yield finish(0, "cancelled", 0.0)
        return
    history = mx.array(list(prompt[-settings.penalty_context :]), dtype=mx.int32)

    def step(token: mx.array, history: mx.array, forced: int | None = None) -> tuple[Step, mx.array, mx.array, mx.array]:
        logits = model(token[None], cache)[0, -1]
        s = sampler(logits, history)
        if forced is not None:
            s = Step(mx.array(forced, dtype=mx.uint32), s.raw_logprobs, s.final_logprobs)
        top_raw = _top(s.raw_logprobs, config.top_report)
        same = s.final_logprobs is s.raw_logprobs
        top_final = top_raw if same else _top(s.final_logprobs, config.top_report)
        extras = mx.stack([s.raw_logprobs[s.token], s.final_logprobs[s.token], _entropy(s.raw_logprobs)])
        return s, top_raw, top_final, extras

    detok = tokenizer.detokenizer()
    held = ""  # text held back because it may be the start of a stop string
    pending = step(last, history, config.force_first_token)
    mx.async_eval(pending[0].token, pending[1], pending[2], pending[3])
    ttft = 0.0
    t_prev = time.perf_counter()
    for index in range(limit):
        s, top_raw, top_final, extras = pending
        token = s.token
        if index + 1 < limit:  # queue the next step before reading this one (overlaps compute)
            history = mx.concatenate([history, token[None]])[-settings.penalty_context :]
            pending = step(token[None], history)
            mx.async_eval(pending[0].token, pending[1], pending[2], pending[3])
        tok = token.item()
        logprob, sampled_logprob, entropy = extras.tolist()
        now = time.perf_counter()
        if index == 0:
            ttft = now - start
        reason = None
        if tok in stop_ids:
            text, reason = detok.flush(), "eos"
        else:
            text = detok.add(tok)
            if index + 1 == limit:  # the last token: bytes of an unfinished character come out too
                text += detok.flush()
        text, held, hit = _apply_stop_strings(held + text, config.stop_strings)
        if hit:
            reason = "stop"
        elif reason is None and index + 1 == limit:
            reason = "length"
        if reason is not None and not hit:
            text, held = text + held, ""
        if reason is None and should_stop is not None and should_stop():
            reason = "cancelled"
            text, held = text + held + detok.flush(), ""
        yield TokenEvent(
            index=index,
            token=tok,
            text=text,
            piece=tokenizer.piece(tok),
            logprob=logprob,
            sampled_logprob=sampled_logprob,
            entropy=entropy,
            top_raw=list(zip(top_raw[0].tolist(), top_raw[1].tolist(), strict=True)),
            top_final=[(i, v) for i, v in zip(top_final[0].tolist(), top_final[1].tolist(), strict=True) if v > -1e30],
            prompt_tokens=prompt_tokens,
            cached_tokens=cached,
            ttft_s=ttft,
            elapsed_s=now - start,
            step_s=now - t_prev,
            kv_bytes=cache_nbytes(cache),
            finish_reason=reason,
        )
        t_prev = now
        if reason is not None:
            # The cache now holds the prompt and the generated tokens (the last one too when a
            # next step was already queued): callers read cache offsets, not assumptions.
            return


def _apply_stop_strings(text: str, stops: Sequence[str]) -> tuple[str, str, bool]:
    """Split text into (safe to emit, held back, stop string found)."""
    stops = [s for s in stops if s]  # "" would be "found" at once and end every reply empty
    if not stops:
        return text, "", False
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    if found:  # cut at the earliest occurrence, whichever stop string it is
        return text[: min(found)], "", True
    keep = 0
    for s in stops:
        for n in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:n]):
                keep = max(keep, n)
                break
    return text[: len(text) - keep], text[len(text) - keep :], False
