"""The Inspector's numbers: one step of the real model, looked at from the inside.

Everything here runs the model's own forward pass with a capture (engine/capture.py), never a
second copy of it, and reduces what it finds before returning plain Python values: top-k lists,
norms, one attention row per layer and head, one (T, T) map for one layer and head at a time.

- `inspect_step(model, ids, position)`: the step that predicts the token after `ids[position]`.
  Given a cache already holding `ids[:position]` (the conversation's, trimmed), only that one token
  is computed; without one, the prefix is prefilled first.
- `attention_map(...)`: the full causal map of one layer and head over a prompt, chunk by chunk
  (progress and stop between chunks).
- `token_losses(...)`: -log p of each token of a span (the training objective on the user's words).
- `sampling_stages(...)`: a step's distribution through each stage of engine.sampling.
- Embedding neighbours and analogies, RoPE angles and how the rotation alone changes a score with distance.
Errors: ValueError for a position, layer or head out of range (the message names it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields

import mlx.core as mx
import mlx.nn as nn
import numpy as np

from engine import native
from engine.cache import KVCache, QuantizedKVCache, make_cache
from engine.capture import Recorder
from engine.generate import prefill
from engine.sampling import Sampler, SamplingSettings, log_softmax

TopList = list[tuple[int, float]]  # [(token id, logprob)] best first


@dataclass
class LayerAttention:
    """One layer's attention for the inspected query, every head.

    weights[h][j] is head h's weight on key position key_start + j; `window` is the number of
    positions the layer may see (None: every earlier position, full causal attention).
    """

    layer: int
    key_start: int
    weights: list[list[float]]  # (heads, keys)
    window: int | None = None
    linear: bool = False  # a linear-attention layer: it reads every earlier position, with no weights

    @property
    def kind(self) -> str:
        if self.linear:
            return (
                "linear attention: it reads every earlier position through a fixed-size "
                "memory, not a weight per position, so it has no attention weights to draw"
            )
        if self.window == 0:
            return "no attention in this layer (nothing to draw)"
        return "full causal attention" if self.window is None else f"sliding window of {self.window} positions"


@dataclass
class StepInspection:
    """Every view's numbers for one step: the model reading ids[position] and predicting the next.

    residual_norms: N+1 L2 norms (after the embedding, after each block); attn_norms / mlp_norms:
    the size of each block's two updates; logit_lens: N top lists (final norm + LM head applied after
    each block; the last one is the model's real distribution = next_token); entropy in nats.
    """

    ids: list[int]
    position: int
    residual_norms: list[float]
    attn_norms: list[float]
    mlp_norms: list[float]
    logit_lens: list[TopList]
    next_token: TopList
    entropy: float
    attention: list[LayerAttention]
    n_heads: int
    n_kv_heads: int
    vocab_size: int
    cached_tokens: int  # of ids[:position], how many came from a cache rather than being computed
    logprobs: mx.array | None = field(default=None, repr=False)  # (vocab,) full next-token logprobs
    logits: mx.array | None = field(default=None, repr=False)  # (vocab,) the raw logits they came from

    @property
    def token(self) -> int:
        return self.ids[self.position]

    def to_json(self) -> dict:
        """Plain JSON-ready values (for notebooks and teaching); the full distribution is left out."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("logprobs", "logits")}
        data["attention"] = [  # by hand: asdict would deep-copy every weight (262,000 floats at 1,000 tokens)
            {"layer": a.layer, "key_start": a.key_start, "weights": a.weights, "window": a.window, "kind": a.kind}
            for a in self.attention
        ]
        data["token"] = self.token
        return data


def top_logprobs(logprobs: mx.array, k: int) -> TopList:
    """The k most likely (id, logprob) of a (vocab,) log distribution, best first."""
    return top_rows(logprobs[None], k)[0]


def top_rows(logprobs: mx.array, k: int) -> list[TopList]:
    """top_logprobs for each row of an (N, vocab) array, in one partial sort (no full sort)."""
    k = min(k, logprobs.shape[-1])
    ids = mx.argpartition(-logprobs, k - 1, axis=-1)[:, :k]  # (N, k) unordered
    vals = mx.take_along_axis(logprobs, ids, axis=-1)
    order = mx.argsort(-vals, axis=-1)
    ids, vals = mx.take_along_axis(ids, order, axis=-1).tolist(), mx.take_along_axis(vals, order, axis=-1).tolist()
    return [list(zip(i, v, strict=True)) for i, v in zip(ids, vals, strict=True)]


def _norms(x: mx.array) -> list[float]:
    return mx.linalg.norm(x, axis=-1).tolist()


def _check(value: int, upper: int, what: str) -> None:
    if not 0 <= value < upper:
        raise ValueError(f"{what} must be between 0 and {upper - 1} (got {value})")


def dense_cache(cache: list[KVCache]) -> list[KVCache]:
    """Caches the explicit attention path can read: a quantized layer becomes a plain one holding
    its dequantized keys and values (what its own attention multiplied with); others are kept."""
    out: list[KVCache] = []
    for c in cache:
        if isinstance(c, QuantizedKVCache) and c.offset:
            plain = KVCache()
            plain.state = list(c.dense())
            out.append(plain)
        else:
            out.append(c)
    return out


def fresh_cache(model: nn.Module) -> list[KVCache]:
    """The cache generation would give this model: its own `make_cache()` if it declares one, a
    rotating cache of its window if it was trained with sliding-window attention, else plain."""
    if hasattr(model, "make_cache"):
        return model.make_cache()
    window = getattr(getattr(model, "args", None), "sliding_window", None)
    if window:
        return make_cache(len(model.layers), "rotating", window=window)
    return make_cache(len(model.layers))


def attention_module(model: nn.Module, layer: int | None = None) -> nn.Module:
    """Layer `layer`'s attention (`self_attn`: n_heads, n_kv_heads, rope), or, with no layer, that
    of the first layer that has one. ValueError when that layer has none: a linear-attention layer
    (qwen3_next's Gated DeltaNet) reads the earlier positions through a fixed-size memory, so there
    is no weight per position to show."""
    blocks = model.layers if layer is None else [model.layers[layer]]
    for block in blocks:
        if hasattr(block, "self_attn"):
            return block.self_attn
    raise ValueError(
        f"layer {layer} is a linear-attention layer: it reads the earlier positions through a fixed-size "
        "memory, not a weight per position, so it has no attention map (choose a full-attention layer)"
    )


def _window(allowed_row: mx.array, key_start: int, query_pos: int) -> int | None:
    visible = int(allowed_row.sum().item())
    return None if key_start == 0 and visible == query_pos + 1 else visible


def inspect_step(
    model: nn.Module,
    ids: Sequence[int],
    position: int | None = None,
    top: int = 20,
    cache: list[KVCache] | None = None,
    chunk: int = 512,
    progress: Callable[[int, int], None] | None = None,
) -> StepInspection:
    """Inspect the step at `position` (default: the last id): the model reads ids[position].

    cache: holds exactly ids[:position] (it is extended by one token: pass a copy); None prefills a
    fresh plain cache. Only ids[position] then runs through the model, with every layer's attention
    weights recorded for that one query. `progress(done, total)`: the prefill's, when there is one.
    """
    ids = list(ids)
    position = len(ids) - 1 if position is None else position
    _check(position, len(ids), "position")
    n_layers = len(model.layers)
    if cache is None:
        cache = fresh_cache(model)
        cached = 0
        if position:
            prefill(model, ids[: position + 1], cache, chunk, progress=progress)
    else:
        if cache[0].offset != position:
            raise ValueError(f"the cache holds {cache[0].offset} tokens, not the {position} before the step")
        cached = position
        cache = dense_cache(cache)
    rec = Recorder(offset=position, rows=[0], weight_layers=frozenset(range(n_layers)))
    model(mx.array([[ids[position]]], dtype=mx.int32), cache, rec)
    outs = mx.concatenate([rec.layers[i].out for i in range(n_layers)])  # (N, dim)
    logits = model.head(outs).astype(mx.float32)  # (N, vocab)
    lens = log_softmax(logits)
    rec.evaluate()
    mx.eval(lens)
    attention = []
    for i in range(n_layers):
        r = rec.layers[i]
        if r.weights is None:  # a linear-attention layer, or an architecture's layer without attention
            linear = getattr(model.layers[i], "is_linear", False)
            attention.append(LayerAttention(i, 0, [], window=None if linear else 0, linear=linear))
            continue
        attention.append(
            LayerAttention(i, r.key_start, r.weights[:, 0].tolist(), _window(r.allowed[0], r.key_start, position))
        )
    last = lens[-1]
    p = mx.exp(last)
    lens_top = top_rows(lens, top)
    first = attention_module(model)
    return StepInspection(
        ids=ids[: position + 1],
        position=position,
        residual_norms=_norms(mx.concatenate([rec.embedded, outs])),
        attn_norms=_norms(mx.concatenate([rec.layers[i].attn for i in range(n_layers)])),
        mlp_norms=_norms(mx.concatenate([rec.layers[i].mlp for i in range(n_layers)])),
        logit_lens=lens_top,
        next_token=lens_top[-1],
        entropy=-mx.sum(mx.where(p > 0, p * last, 0.0)).item(),
        attention=attention,
        n_heads=first.n_heads,
        n_kv_heads=first.n_kv_heads,
        vocab_size=last.shape[-1],
        cached_tokens=cached,
        logprobs=last,
        logits=logits[-1],
    )


@dataclass
class PromptInspection:
    """The CLI's object: see the README's `inspect` command."""

    ids: list[int]
    layer: int
    head: int
    weights: list[list[float]]  # (T, T) rows are query positions
    logit_lens: list[TopList]
    residual_norms: list[float]
    next_token: TopList

    def to_json(self) -> dict:
        return {
            "ids": self.ids,
            "attention": {"layer": self.layer, "head": self.head, "weights": self.weights},
            "logit_lens": [[[i, lp] for i, lp in entry] for entry in self.logit_lens],
            "residual_norms": self.residual_norms,
            "next_token": [[i, lp] for i, lp in self.next_token],
        }


def inspect_prompt(
    model: nn.Module, ids: Sequence[int], layer: int = 0, head: int = 0, position: int | None = None, top: int = 20
) -> PromptInspection:
    """One forward pass over `ids` (fresh cache): the (T, T) map of `layer`/`head`, and the logit
    lens, residual norms and next-token distribution at `position` (default: the last)."""
    ids = list(ids)
    if not ids:
        raise ValueError("the prompt is empty: nothing to inspect")
    n_layers = len(model.layers)
    position = len(ids) - 1 if position is None else position
    _check(position, len(ids), "position")
    _check(layer, n_layers, "layer")
    _check(head, attention_module(model, layer).n_heads, "head")
    rec = Recorder(offset=0, rows=[position], weight_layers=frozenset({layer}), full_head=head)
    model(mx.array([ids], dtype=mx.int32), fresh_cache(model), rec)  # the logits stay unevaluated
    outs = mx.concatenate([rec.layers[i].out for i in range(n_layers)])
    lens = log_softmax(model.head(outs).astype(mx.float32))
    rec.evaluate()
    mx.eval(lens)
    weights = rec.layers[layer].weights
    if rec.layers[layer].key_start:  # a window cache dropped early keys: put them back as zeros
        weights = mx.pad(weights, [(0, 0), (rec.layers[layer].key_start, 0)])
    lens_top = top_rows(lens, top)
    return PromptInspection(
        ids=ids,
        layer=layer,
        head=head,
        weights=weights.tolist(),
        logit_lens=lens_top,
        residual_norms=_norms(mx.concatenate([rec.embedded, outs])),
        next_token=lens_top[-1],
    )


@dataclass
class AttentionMap:
    """One layer's and head's whole map: weights[i, j] is query i's weight on key j (numpy, (T, T),
    float32, each row sums to 1); allowed[i, j] says whether the mask let query i see key j (the
    causal triangle, narrowed to a band by a sliding window)."""

    layer: int
    head: int
    weights: np.ndarray
    allowed: np.ndarray

    @property
    def window(self) -> int | None:
        """The positions the last query may see, if fewer than all earlier ones (sliding window)."""
        seen = int(self.allowed[-1].sum())
        return None if seen == self.allowed.shape[0] else seen


def attention_map(
    model: nn.Module,
    ids: Sequence[int],
    layer: int,
    head: int,
    chunk: int = 128,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> AttentionMap | None:
    """The full (T, T) causal map of one layer and head over `ids`, `chunk` queries at a time.

    Each chunk is one forward pass on a growing cache; only the blocks up to `layer` are evaluated
    (MLX is lazy: the later blocks and the logits are never computed). `progress(done, total)` is
    called after each chunk; `should_stop()` is asked before each, and a stopped map returns None.
    ValueError for an empty prompt or a layer or head out of range.
    """
    ids = list(ids)
    if not ids:
        raise ValueError("the prompt is empty: nothing to inspect")
    _check(layer, len(model.layers), "layer")
    _check(head, attention_module(model, layer).n_heads, "head")
    T = len(ids)
    weights, allowed = np.zeros((T, T), np.float32), np.zeros((T, T), bool)
    cache = fresh_cache(model)
    for start in range(0, T, chunk):
        if should_stop is not None and should_stop():
            return None
        end = min(T, start + chunk)
        rec = Recorder(offset=start, rows=[0], weight_layers=frozenset({layer}), full_head=head)
        model(mx.array([ids[start:end]], dtype=mx.int32), cache, rec)
        r = rec.layers[layer]
        mx.eval(r.weights, r.allowed, [c.state for c in cache[: layer + 1]])
        keys = slice(r.key_start, r.key_start + r.weights.shape[1])
        weights[start:end, keys] = np.array(r.weights)
        allowed[start:end, keys] = np.array(r.allowed)
        if progress is not None:
            progress(end, T)
    return AttentionMap(layer, head, weights, allowed)


def token_losses(
    model: nn.Module, ids: Sequence[int], start: int, end: int, cache: list[KVCache] | None = None
) -> list[float]:
    """-log p(ids[i] | ids[:i]) in nats for i in [start, end): the per-token training loss.

    start >= 1 (the first token has nothing to be predicted from). cache: holds exactly
    ids[:start - 1] (extended: pass a copy); None computes it. Only the span's rows reach the head.
    """
    ids = list(ids)
    if not 1 <= start < end <= len(ids):
        raise ValueError(f"the span must satisfy 1 <= start < end <= {len(ids)} (got {start}, {end})")
    n_layers = len(model.layers)
    if cache is None:
        cache = fresh_cache(model)
        if start > 1:
            prefill(model, ids[:start], cache)
    elif cache[0].offset != start - 1:
        raise ValueError(f"the cache holds {cache[0].offset} tokens, not {start - 1}")
    chunk = ids[start - 1 : end - 1]
    rec = Recorder(offset=start - 1, rows=range(len(chunk)))
    model(mx.array([chunk], dtype=mx.int32), cache, rec)
    logprobs = log_softmax(model.head(rec.layers[n_layers - 1].out).astype(mx.float32))  # (span, vocab)
    targets = mx.array(ids[start:end])
    return (-logprobs[mx.arange(len(chunk)), targets]).tolist()


def perplexity(losses: Sequence[float]) -> float:
    """exp(mean loss): the number of equally likely choices the losses amount to."""
    return math.exp(sum(losses) / len(losses)) if losses else math.nan


# -- sampling ------------------------------------------------------------------------------------


@dataclass
class SamplingStage:
    name: str  # "raw", "penalties", "temperature", "top-k", "top-p", "min-p", "final"
    kept: int  # tokens still possible after this stage
    top: TopList  # the most likely tokens still possible after this stage


@dataclass
class SamplingTrace:
    stages: list[SamplingStage]
    token: int  # what a draw with these settings (and seed) gives
    final_logprobs: mx.array = field(repr=False)


def sampling_stages(
    logits: mx.array, settings: SamplingSettings, history: Sequence[int] = (), top: int = 10
) -> SamplingTrace:
    """The distribution after each stage of engine.sampling's Sampler, for this step's logits (vocab,).

    The stages are the Sampler's own (Sampler.__call__ with `stages`), so the final distribution and
    the drawn token are exactly what generation would produce with these settings.
    """
    named: list[tuple[str, mx.array]] = []
    hist = mx.array(list(history), dtype=mx.int32) if history else None
    step = Sampler(settings)(logits, hist, stages=named)
    stages = [
        SamplingStage(name, int(mx.sum(a > -mx.inf).item()), [t for t in top_logprobs(a, top) if t[1] > -math.inf])
        for name, a in named
    ]
    return SamplingTrace(stages, int(step.token.item()), step.final_logprobs)


# -- embeddings and positions ---------------------------------------------------------------------


def embedding_matrix(model: nn.Module, start: int = 0, stop: int | None = None) -> mx.array:
    """The token embedding's rows [start, stop) (all of them by default), (rows, dim) as float32,
    dequantized if the model holds it quantized (only those rows are)."""
    emb = model.embed_tokens
    rows = slice(start, stop)
    if isinstance(emb, nn.QuantizedEmbedding):
        scales, biases = emb.scales[rows].astype(mx.float32), emb.biases[rows].astype(mx.float32)
        if emb.group_size not in (32, 64, 128):  # a layout only Glassbox's kernels read (GGUF Q6_K)
            return native.dequantize(emb.weight[rows], scales, biases, emb.group_size, emb.bits)
        return mx.dequantize(emb.weight[rows], scales, biases, group_size=emb.group_size, bits=emb.bits)
    return emb.weight[rows].astype(mx.float32)


UNIT_EMBEDDING_BLOCK = 8192  # rows per block of unit_embedding_blocks (~20 MB of float32 at dim 576)


def unit_embedding_blocks(model: nn.Module, rows: int = UNIT_EMBEDDING_BLOCK) -> Iterator[mx.array | None]:
    """unit_embedding(model), built `rows` rows at a time: yields None after each block, then the
    whole (vocab, dim) matrix. A caller that does other work between blocks (the worker's warm-up
    after a load) holds the interpreter for one block at a time — tens of milliseconds, not the
    ~0.3 s of the whole matrix, which stalled the window once after every load."""
    vocab = model.embed_tokens.weight.shape[0]
    blocks = []
    for start in range(0, vocab, rows):
        block = unit_rows(embedding_matrix(model, start, start + rows))
        mx.eval(block)
        blocks.append(block)
        yield None
    unit = blocks[0] if len(blocks) == 1 else mx.concatenate(blocks)
    mx.eval(unit)
    yield unit


def unit_embedding(model: nn.Module) -> mx.array:
    """unit_rows(embedding_matrix(model)), evaluated: (vocab, dim) float32, what neighbours and
    analogies search. The float32 matrix it is made from is not kept (it is freed on return)."""
    *_, unit = unit_embedding_blocks(model)
    return unit


def embedding_row(model: nn.Module, token: int) -> list[float]:
    """Row `token` of embedding_matrix(model) (float32, dim numbers), looked up alone."""
    return model.embed_tokens(mx.array([token], dtype=mx.int32)).astype(mx.float32)[0].tolist()


def unit_rows(matrix: mx.array) -> mx.array:
    """Each row divided by its L2 norm (an all-zero row stays zero)."""
    norms = mx.linalg.norm(matrix, axis=-1, keepdims=True)
    return matrix / mx.maximum(norms, 1e-12)


def nearest(unit: mx.array, vector: mx.array, k: int = 10, exclude: Sequence[int] = ()) -> list[tuple[int, float]]:
    """The k rows of `unit` (unit_rows) closest to `vector` by cosine similarity: [(row, cos)]."""
    v = vector.astype(mx.float32)
    sims = unit @ (v / mx.maximum(mx.linalg.norm(v), 1e-12))  # (vocab,)
    if exclude:
        sims[mx.array(list(exclude))] = -2.0
    k = min(k, sims.shape[0])
    order = mx.argsort(-sims)[:k]
    return list(zip(order.tolist(), sims[order].tolist(), strict=True))


def neighbours(unit: mx.array, token: int, k: int = 10) -> list[tuple[int, float]]:
    """A token's nearest tokens in the embedding (itself first, cosine 1)."""
    return nearest(unit, unit[token], k)


def analogy(unit: mx.array, a: int, b: int, c: int, k: int = 5) -> list[tuple[int, float]]:
    """a - b + c -> the nearest tokens other than a, b and c (king - man + woman -> queen)."""
    return nearest(unit, unit[a] - unit[b] + unit[c], k, exclude=(a, b, c))


def rope_inverse_frequencies(rope: nn.Module) -> list[float]:
    """θ_i for each dimension pair i of a RoPE module: the angle per position, in radians."""
    if hasattr(rope, "_freqs"):  # frequency-scaled RoPE keeps its wavelengths' factors
        return (1.0 / rope._freqs).tolist()
    dims, base, scale = rope.dims, rope.base, getattr(rope, "scale", 1.0)
    return [scale * base ** (-2 * i / dims) for i in range(dims // 2)]


def rope_angles(position: int, inverse_frequencies: Sequence[float]) -> list[float]:
    """The rotation of every dimension pair at `position`: pos * θ_i radians."""
    return [position * f for f in inverse_frequencies]


def rope_distance_scores(inverse_frequencies: Sequence[float], distances: Sequence[int]) -> list[float]:
    """How the rotation alone changes a query–key score with their distance d.

    For a query and key that are the same vector, equally large in every dimension pair, the score
    after rotating the query at position p + d and the key at p, divided by the unrotated score, is
    mean_i cos(d·θ_i) — whatever p is: 1 at d = 0, then falling and wobbling as d grows.
    """
    theta = np.asarray(inverse_frequencies, dtype=np.float64)
    return [float(np.mean(np.cos(d * theta))) for d in distances]
