"""Generation as a plain generator: prefill in chunks, then one token per step.

Each step yields a `TokenEvent` (id, text delta, probability, top alternatives under the raw and the
final distribution, timings); the last event carries the finish reason: "eos", "stop" (a stop
string), "length" (max tokens or the context window) or "cancelled". No threads, no Qt.

Split by job, as mlx-lm splits `generate_step` from `stream_generate`:
  decode_steps   the pipelined model + sampler loop: one `DecodedToken` (numbers only) per step
  ReplyText      detokenization and stop strings: the text that may be shown after each token
  generate       the prompt (what the cache already holds, what to prefill, the penalty window),
                 finish reasons, timing, and the `TokenEvent`s built from the two above.

A cache never changes the answer: `generate` is always given the whole prompt, and everything that
depends on the prompt (the penalty window above all) is computed from all of it, whether a prefix
of it was served from a KV cache or not.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import mlx.core as mx
import mlx.nn as nn

from engine import kernels
from engine.cache import KVCache, cache_nbytes, cache_offset
from engine.events import Alternative, TokenEvent
from engine.sampling import Sampler, SamplingSettings, Step
from engine.tokenizer import Tokenizer

ProgressFn = Callable[[int, int], None]  # (prompt tokens processed, prompt tokens in all)


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
    # Continue: the reply's tokens written before this run (the prompt ends with them). The text
    # decoder starts after them, so a character split across the seam comes out whole and a
    # tokenizer that drops the reply's leading space does not drop one in the middle of it.
    written_ids: Sequence[int] = ()


def prefill(
    model: nn.Module,
    tokens: Sequence[int],
    cache: list[KVCache],
    step: int = 512,
    progress: ProgressFn | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> mx.array | None:
    """Run all but the last token through the model in chunks; return the last token (1,) array.

    Returns None if cancelled; `should_stop` is asked before each chunk, so a stop waits for at
    most one chunk of `step` tokens. The last token is left for the first decoding step so that its
    logits come out of the same code path as every later token's. `progress` gets (tokens of
    `tokens` processed, len(tokens)) after each chunk.
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


def penalty_window(prompt: Sequence[int], settings: SamplingSettings) -> mx.array:
    """The ids the penalties see before the first generated token: the last `penalty_context`
    tokens of the whole prompt (never only of the part a cache did not serve). Shape (n,) int32."""
    return mx.array(list(prompt[-settings.penalty_context :]), dtype=mx.int32)


# -- the decode step -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DecodedToken:
    """One decoding step's numbers, read back from the device."""

    token: int
    logprob: float  # under the raw distribution
    sampled_logprob: float  # under the final distribution
    entropy: float  # of the raw distribution, nats
    top_raw: list[tuple[int, float]]  # best first
    top_final: list[tuple[int, float]]  # best first; tokens the filters removed are left out


def _top(logprobs: mx.array, k: int) -> tuple[mx.array, mx.array]:
    k = min(k, logprobs.shape[-1])
    ids = mx.argpartition(-logprobs, k - 1)[:k]
    vals = logprobs[ids]
    order = mx.argsort(-vals)
    return ids[order], vals[order]


def _entropy(logprobs: mx.array) -> mx.array:
    p = kernels.exp_per_step(logprobs)
    return -mx.sum(mx.where(p > 0, p * logprobs, 0.0))


def decode_steps(
    model: nn.Module,
    cache: list[KVCache],
    sampler: Sampler,
    first: mx.array,
    history: mx.array,
    limit: int,
    top_report: int = 10,
    forced: int | None = None,
) -> Iterator[DecodedToken]:
    """Up to `limit` tokens, starting by feeding `first` ((1,) int32, the prompt's last token).

    `forced`: the first step's token is this id instead of the sampler's draw.

    `history` ((n,) int32) is the penalty window before the first step; each drawn token joins it.
    Pipelined: step i+1 is queued on the device (async_eval) before step i is read back, so the
    model computes while Python reads, detokenizes and yields. When the consumer stops early, the
    queued step has already written its token to the cache (callers read cache offsets).
    """
    window = sampler.settings.penalty_context

    def step(token: mx.array, history: mx.array, forced: int | None = None) -> tuple[Step, mx.array, mx.array, mx.array]:
        logits = model(token[None], cache)[0, -1]
        s = sampler(logits, history)
        if forced is not None:
            s = Step(mx.array(forced, dtype=mx.uint32), s.raw_logprobs, s.final_logprobs)
        top_raw = _top(s.raw_logprobs, top_report)
        raw_lp = s.raw_logprobs[s.token]
        if sampler.greedy and forced is None:
            # the final distribution is all on the token (one_hot_logprobs): its top is that token
            # at log 1 = 0, and the one-hot vector itself is never computed (two passes over the
            # vocabulary a step)
            top_final = (s.token.reshape(1), mx.zeros((1,), mx.float32))
            extras = mx.stack([raw_lp, mx.array(0.0, mx.float32), _entropy(s.raw_logprobs)])
        else:
            same = s.final_logprobs is s.raw_logprobs
            top_final = top_raw if same else _top(s.final_logprobs, top_report)
            extras = mx.stack([raw_lp, s.final_logprobs[s.token], _entropy(s.raw_logprobs)])
        mx.async_eval(s.token, top_raw, top_final, extras)
        return s, top_raw, top_final, extras

    pending = step(first, history, forced)
    for index in range(limit):
        s, top_raw, top_final, extras = pending
        if index + 1 < limit:  # queue the next step before reading this one (overlaps compute)
            history = mx.concatenate([history, s.token[None]])[-window:]
            pending = step(s.token[None], history)
        logprob, sampled_logprob, entropy = extras.tolist()
        final_ids, final_vals = top_final[0].tolist(), top_final[1].tolist()
        yield DecodedToken(
            token=s.token.item(),
            logprob=logprob,
            sampled_logprob=sampled_logprob,
            entropy=entropy,
            top_raw=list(zip(top_raw[0].tolist(), top_raw[1].tolist(), strict=True)),
            top_final=[(i, v) for i, v in zip(final_ids, final_vals, strict=True) if v > -1e30],
        )


def _named(tokenizer: Tokenizer, top: list[tuple[int, float]]) -> tuple[Alternative, ...]:
    """Alternatives with their pieces, as the TokenEvent carries them (the views and the store
    have no tokenizer)."""
    return tuple((i, tokenizer.piece(i), lp) for i, lp in top)


# -- the reply's text ----------------------------------------------------------------------------


class ReplyText:
    """A reply's text as tokens arrive: whole characters only, and nothing of a stop string.

    Text that may be the start of a stop string is held back until it is known not to be; the
    reply is cut at the earliest stop string found, whichever it is.
    """

    def __init__(self, tokenizer: Tokenizer, stop_strings: Sequence[str] = (), written: Sequence[int] = ()):
        """`written`: the reply's tokens before this run (Continue); their text was shown already,
        and the bytes of a character they left unfinished wait for the tokens that finish it."""
        self._detok = tokenizer.detokenizer()
        for token in written:
            self._detok.add(token)
        self._stops = [s for s in stop_strings if s]  # "" would be "found" at once: every reply empty
        self._held = ""

    def add(self, token: int | None, final: bool) -> tuple[str, bool]:
        """(text that may be shown now, whether a stop string ended the reply).

        `token` None is an end-of-sequence token (it adds no text): the reply is over, and bytes of
        a character it left unfinished come out as U+FFFD (what they decode to). `final`: no token
        follows in this run (the token limit), so text held for a possible stop string comes out;
        an unfinished character does not — the reply may be continued, and its next token may
        finish it (a "\ufffd" shown and stored would stay broken for good).
        """
        text = self._detok.flush() if token is None else self._detok.add(token)
        text, self._held, hit = _apply_stop_strings(self._held + text, self._stops, final)
        if final and not hit:
            text, self._held = text + self._held, ""
        return text, hit

    def release(self) -> str:
        """The text held back for a possible stop string (the reply was stopped, e.g. cancelled).
        An unfinished character stays unshown, as at the token limit."""
        text, self._held = self._held, ""
        return text


def _apply_stop_strings(text: str, stops: Sequence[str], final: bool = False) -> tuple[str, str, bool]:
    """Split text into (safe to emit, held back, stop string found).

    The reply ends before the earliest stop string in it. A stop string found later in the text
    does not end it while a longer one that began earlier may still complete (`' aa'` beside
    `'a'`): that text is held until the next token (or the end, `final`) decides.
    """
    stops = [s for s in stops if s]  # "" would be "found" at once and end every reply empty
    if not stops:
        return text, "", False
    found = [i for i in (text.find(s) for s in stops) if i >= 0]
    cut = min(found) if found else len(text)
    # where a stop string may still begin: its start is in the text, its end not yet
    pending = min(
        (j for s in stops for j in range(max(0, len(text) - len(s) + 1), len(text)) if s.startswith(text[j:])),
        default=len(text),
    )
    if found and (final or cut <= pending):
        return text[:cut], "", True
    return text[:pending], text[pending:], False


# -- the whole reply -----------------------------------------------------------------------------


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
    """Generate a reply to the whole `prompt` (token ids), one event per token.

    `cache` may already hold a prefix of `prompt` (prompt caching: its first `cache offset` ids,
    the caller's promise); only the rest is computed, and at least the last prompt token must be
    left to compute. Everything that depends on the prompt is computed from all of it, so a cached
    prefix never changes the reply. `progress` gets (prompt tokens done, cached ones included;
    len(prompt)). `should_stop` is checked before every step. Bad arguments (an empty prompt, a
    cache holding the whole prompt or more, invalid settings) raise ValueError here, not at the
    first next().
    """
    if not prompt:
        raise ValueError("generate() needs at least one prompt token")
    cached = cache_offset(cache)
    if cached >= len(prompt):
        raise ValueError(
            f"generate() got a cache holding {cached} tokens for a prompt of {len(prompt)}: pass the whole "
            "prompt, and leave at least its last token to compute"
        )
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
    start = time.perf_counter()
    cached = cache_offset(cache)
    sizes = {"prompt_tokens": len(prompt), "cached_tokens": cached}
    limit = config.max_tokens
    if config.context_length:
        limit = min(limit, config.context_length - len(prompt))

    def finish(reason: str, read: int | None = None) -> TokenEvent:
        """The end before any token: `read` prompt tokens in the cache when reading stopped."""
        return TokenEvent(
            index=0, token=None, text="", piece="", logprob=0.0, sampled_logprob=0.0, entropy=0.0,
            top_raw=(), top_final=(), ttft_s=0.0, elapsed_s=time.perf_counter() - start, step_s=0.0,
            kv_bytes=cache_nbytes(cache), kv_tokens=cache_offset(cache), finish_reason=reason,
            prompt_read=read, **sizes,
        )

    if limit <= 0:
        yield finish("length")
        return
    if progress:
        progress(cached, len(prompt))  # reading has begun (the first chunk may take a while)
    report = (lambda done, _: progress(cached + done, len(prompt))) if progress else None
    last = prefill(model, prompt[cached:], cache, config.prefill_step, report, should_stop)
    if last is None:
        yield finish("cancelled", cache_offset(cache))  # what was read, not the whole prompt
        return
    stop_ids = set(tokenizer.eos_ids) | set(config.stop_ids)
    reply = ReplyText(tokenizer, config.stop_strings, config.written_ids)
    history = penalty_window(prompt, sampler.settings)
    steps = decode_steps(model, cache, sampler, last, history, limit, config.top_report, config.force_first_token)
    ttft, before = 0.0, time.perf_counter()
    for index, decoded in enumerate(steps):
        now = time.perf_counter()
        ttft = now - start if index == 0 else ttft
        eos, final = decoded.token in stop_ids, index + 1 == limit
        text, hit = reply.add(None if eos else decoded.token, final=eos or final)
        reason = "stop" if hit else "eos" if eos else "length" if final else None
        if reason is None and should_stop is not None and should_stop():
            reason = "cancelled"
            text += reply.release()
        yield TokenEvent(
            index=index, token=decoded.token, text=text, piece=tokenizer.piece(decoded.token),
            logprob=decoded.logprob, sampled_logprob=decoded.sampled_logprob, entropy=decoded.entropy,
            top_raw=_named(tokenizer, decoded.top_raw), top_final=_named(tokenizer, decoded.top_final), ttft_s=ttft, elapsed_s=now - start,
            step_s=now - before, kv_bytes=cache_nbytes(cache), kv_tokens=cache_offset(cache), finish_reason=reason,
            **sizes,
        )
        before = now
        if reason is not None:
            # The cache now holds the prompt and the generated tokens (the last one too when a
            # next step was already queued): callers read cache offsets, not assumptions.
            return
