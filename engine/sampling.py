"""Decoding settings as data; logits processors and samplers as small composable functions.

A step goes: raw logits -> log-softmax (the model's own distribution) -> penalties -> temperature
-> top-k / top-p / min-p filters -> the final distribution the token is drawn from. Both ends are
kept so the window can show what the model wanted and what the settings made of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields

import mlx.core as mx

from engine import kernels

NEG_INF = -math.inf
# The smallest normal float32: a temperature below it cannot divide a float32 logit gap (it is 0
# or subnormal there), so it decodes greedily, which is the limit such a temperature tends to.
GREEDY_BELOW = 1.1754944e-38
# Ranges that no setting may leave (one source: settings, Preferences and the CLI all use validate()).
MAX_TEMPERATURE = 5.0
MIN_REPETITION_PENALTY, MAX_REPETITION_PENALTY = 0.01, 3.0  # below 0.01 seen logits x100+: no use, overflow risk
MAX_PENALTY_CONTEXT = 1 << 20  # more than any context window; MLX slices with 32-bit indices


@dataclass(frozen=True)
class SamplingSettings:
    """Decoding settings. temperature 0 (or below GREEDY_BELOW) means greedy (argmax); 0 / 1.0
    disable the filters. Every value `validate` accepts gives a finite, normalised distribution."""

    temperature: float = 0.7
    top_k: int = 0
    top_p: float = 1.0
    min_p: float = 0.0
    repetition_penalty: float = 1.0
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    penalty_context: int = 64
    seed: int | None = None

    def validate(self) -> list[str]:
        """Human-readable problems, one per bad field; empty when the settings are usable."""
        problems = []
        if not (0.0 <= self.temperature <= MAX_TEMPERATURE):
            problems.append(f"temperature must be between 0 and {MAX_TEMPERATURE:g}")
        if self.top_k < 0:
            problems.append("top-k must be 0 (off) or a positive number of tokens")
        if not (0.0 < self.top_p <= 1.0):
            problems.append("top-p must be greater than 0 and at most 1")
        if not (0.0 <= self.min_p < 1.0):
            problems.append("min-p must be at least 0 and below 1")
        if not (MIN_REPETITION_PENALTY <= self.repetition_penalty <= MAX_REPETITION_PENALTY):
            problems.append(
                f"repetition penalty must be between {MIN_REPETITION_PENALTY:g} and {MAX_REPETITION_PENALTY:g} (1 = off)"
            )
        if not (-2.0 <= self.presence_penalty <= 2.0):
            problems.append("presence penalty must be between -2 and 2")
        if not (-2.0 <= self.frequency_penalty <= 2.0):
            problems.append("frequency penalty must be between -2 and 2")
        if not (1 <= self.penalty_context <= MAX_PENALTY_CONTEXT):
            problems.append(f"penalty context must be between 1 and {MAX_PENALTY_CONTEXT:,} tokens")
        if self.seed is not None and not (0 <= self.seed < 2**63):
            problems.append("seed must be a non-negative integer")
        return problems

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SamplingSettings:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


GREEDY = SamplingSettings(temperature=0.0)

# A logits processor maps (recent token ids, logprobs (vocab,)) to new logprobs (vocab,).
LogitsProcessor = Callable[[mx.array | None, mx.array], mx.array]


def make_repetition_penalty(penalty: float) -> LogitsProcessor:
    """CTRL-style: a seen token's positive logit is divided by the penalty, a negative one multiplied.

    Applied once per distinct token however often it was seen, and to a new array: assigning into
    `logits[recent]` would change the caller's array too (MLX's __setitem__ works in place).
    """

    def process(recent: mx.array | None, logits: mx.array) -> mx.array:
        if recent is None or recent.size == 0:
            return logits
        seen = mx.zeros(logits.shape, dtype=mx.float32).at[recent].add(1.0) > 0
        penalized = mx.where(logits < 0, logits * penalty, logits / penalty)
        return mx.where(seen, penalized, logits)

    return process


def make_presence_frequency_penalty(presence: float, frequency: float) -> LogitsProcessor:
    """OpenAI-style: subtract presence once per seen token and frequency once per occurrence."""

    def process(recent: mx.array | None, logits: mx.array) -> mx.array:
        if recent is None or recent.size == 0:
            return logits
        counts = mx.zeros(logits.shape, dtype=logits.dtype).at[recent].add(1.0)
        return logits - frequency * counts - presence * (counts > 0)

    return process


def make_logits_processors(s: SamplingSettings) -> list[LogitsProcessor]:
    procs: list[LogitsProcessor] = []
    if s.repetition_penalty != 1.0:
        procs.append(make_repetition_penalty(s.repetition_penalty))
    if s.presence_penalty or s.frequency_penalty:
        procs.append(make_presence_frequency_penalty(s.presence_penalty, s.frequency_penalty))
    return procs


# A filter maps logprobs (vocab,) to logprobs with the excluded tokens at -inf.
def top_k_filter(k: int):
    def apply(logprobs: mx.array) -> mx.array:
        if k <= 0 or k >= logprobs.shape[-1]:
            return logprobs
        # exactly k even when logprobs tie at the k-th value (a threshold would keep every tie)
        dropped = mx.argpartition(-logprobs, k - 1)[k:]
        return mx.put_along_axis(logprobs, dropped, mx.array(NEG_INF, logprobs.dtype), axis=-1)

    return apply


def top_p_filter(p: float):
    """Keep the smallest set of most likely tokens whose probability sums to at least p.

    Found as a cutoff value on the sorted distribution (no scatter back to vocabulary order);
    tokens exactly tied with the last one kept are kept too.
    """

    def apply(logprobs: mx.array) -> mx.array:
        if p >= 1.0:
            return logprobs
        ranked = -mx.sort(-logprobs)  # best first
        probs = mx.exp(ranked)
        before = mx.cumsum(probs) - probs  # mass strictly above each token
        # the least likely token still needed to reach p (at least the best one, even for a p
        # so small that float32 holds it as 0)
        cutoff = ranked[mx.maximum(mx.sum(before < p), 1) - 1]
        return mx.where(logprobs >= cutoff, logprobs, NEG_INF)

    return apply


def min_p_filter(min_p: float):
    """Drop tokens less likely than min_p times the most likely token."""

    def apply(logprobs: mx.array) -> mx.array:
        if min_p <= 0.0:
            return logprobs
        return mx.where(logprobs >= mx.max(logprobs) + math.log(min_p), logprobs, NEG_INF)

    return apply


def log_softmax(x: mx.array, block: int = 256) -> mx.array:
    """x - logsumexp(x) over the last axis, the sum taken in blocks: MLX's CPU reduction adds
    sequentially, and over a 49,152-token vocabulary float32 rounding then shifts every logprob by
    ~1e-4 (measured against llama.cpp: tests/engine/test_golden.py); in blocks, ~1e-6."""
    m = mx.max(x, axis=-1, keepdims=True)
    e = kernels.exp_per_step(x - m)
    pad = -x.shape[-1] % block
    if pad:
        e = mx.pad(e, [(0, 0)] * (e.ndim - 1) + [(0, pad)])
    total = e.reshape(*e.shape[:-1], -1, block).sum(axis=-1).sum(axis=-1, keepdims=True)
    return (x - m) - mx.log(total)  # the gap first: exact in float32 however large the logits


def one_hot_logprobs(token: mx.array, vocab: int) -> mx.array:
    """Logprobs (vocab,) float32 of a certain draw: 0 (100 %) at `token`, -inf elsewhere."""
    return mx.where(mx.arange(vocab) == token, mx.array(0.0, mx.float32), mx.array(NEG_INF, mx.float32))


@dataclass
class Step:
    """One decoding step, still as lazy MLX arrays (evaluated by the generator)."""

    token: mx.array  # () int
    raw_logprobs: mx.array  # (vocab,) the model's distribution
    final_logprobs: mx.array  # (vocab,) what the token was drawn from


FILTER_NAMES = ("top-k", "top-p", "min-p")  # the order Sampler applies its filters in


class Sampler:
    """Turns one step's logits into a token, keeping the raw and the final distribution."""

    def __init__(self, settings: SamplingSettings):
        problems = settings.validate()
        if problems:
            raise ValueError("; ".join(problems))
        self.settings = settings
        self.processors = make_logits_processors(settings)
        self.filters = [
            top_k_filter(settings.top_k),
            top_p_filter(settings.top_p),
            min_p_filter(settings.min_p),
        ]
        self._key = mx.random.key(settings.seed) if settings.seed is not None else None

    @property
    def greedy(self) -> bool:
        return self.settings.temperature < GREEDY_BELOW

    def __call__(self, logits: mx.array, history: mx.array | None, stages: list | None = None) -> Step:
        """logits (vocab,) float32; history: recent generated+prompt ids for the penalties.

        stages: if a list, (name, logprobs) after each stage is appended to it (the Inspector's
        sampling playground shows them): raw, penalties, temperature, top-k, top-p, min-p, final.
        """
        processed = logits.astype(mx.float32)
        raw = log_softmax(processed)
        recent = history[-self.settings.penalty_context :] if history is not None else None
        for proc in self.processors:
            processed = proc(recent, processed)
        if stages is not None:
            stages += [("raw", raw)] + ([("penalties", log_softmax(processed))] if self.processors else [])
        if self.greedy:
            # greedy always takes the most likely token (after the penalties): the distribution
            # it draws from is all on that token, 100 % there and 0 everywhere else
            token = mx.argmax(log_softmax(processed) if self.processors else raw)
            final = one_hot_logprobs(token, raw.shape[-1])
            if stages is not None:
                stages.append(("final", final))
            return Step(token, raw, final)
        # divide the gaps below the best logit (all <= 0): a small temperature then sends them to
        # -inf, never the best one to +inf, so the distribution stays finite
        scaled = log_softmax((processed - mx.max(processed)) / self.settings.temperature)
        if stages is not None:
            stages.append(("temperature", scaled))
        for name, f in zip(FILTER_NAMES, self.filters, strict=True):
            scaled = f(scaled)
            if stages is not None:
                stages.append((name, scaled))
        final = log_softmax(scaled)
        if stages is not None:
            stages.append(("final", final))
        return Step(self._draw(final), raw, final)

    def _draw(self, logprobs: mx.array) -> mx.array:
        if self._key is None:
            return mx.random.categorical(logprobs)
        self._key, sub = mx.random.split(self._key)
        return mx.random.categorical(logprobs, key=sub)
