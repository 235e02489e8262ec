"""KV caches behind one small protocol.

Every cache holds the keys and values one attention layer has seen so far and offers:
  offset                      tokens seen (the position of the next token)
  update_and_fetch(k, v)      append this step's (B, kv_heads, L, head_dim) keys/values, return all
  attend_one(q, k, v, ...)    a decoding step's q/k norm, RoPE, cache write and attention fused, or
                              None when this cache cannot (then update_and_fetch + attend)
  make_mask(L)                the attention mask for L new queries (None, "causal", a kernels.Band
                              or a bool array)
  attend(q, k, v, scale, mask) attention over what update_and_fetch returned
  attend_latent(...)          the same for multi-head latent attention (deepseek_v3), whose cache
                              holds a compressed latent (the values, and the keys' first part)
                              and a RoPE key part instead of keys and values
  trim(n)                     forget the last n tokens (returns how many were forgotten)
  nbytes / bytes_per_token    memory actually held, and the cost of one more token
  state, meta_state           arrays and strings that save/load the cache (safetensors)
The model never looks inside: the quantized cache chooses its own attention routine.

The state kind (`RecurrentState`) is the cache of a linear-attention layer (qwen3_next's Gated
DeltaNet): not a key and value per token but a fixed-size memory of everything read so far, updated
in place (the last inputs of a short causal convolution and the delta rule's matrix). It keeps
`offset`, `nbytes`, `state`/`meta_state` and `copy`, but cannot forget tokens: `trim(n)` forgets
nothing unless n == 0 and `is_trimmable()` is False, so the prompt cache serves such a model only a
cached prefix the prompt extends exactly, and computes anything else from scratch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import mlx.core as mx

from engine import native
from engine.kernels import Band, mask_array, sink_softmax
from engine.kernels import attention as sdpa


class KVCache:
    """The plain growing cache, preallocated in steps of `step` tokens."""

    step = 256

    def __init__(self):
        self.keys: mx.array | None = None
        self.values: mx.array | None = None
        self.offset = 0

    def update_and_fetch(self, keys: mx.array, values: mx.array) -> tuple[mx.array, mx.array]:
        prev, n = self.offset, keys.shape[2]
        self._make_room(n, keys.shape[:2], keys.shape[3], values.shape[3], keys.dtype)
        self.offset += n
        self.keys[..., prev : self.offset, :] = keys
        self.values[..., prev : self.offset, :] = values
        return self.keys[..., : self.offset, :], self.values[..., : self.offset, :]

    def _make_room(self, n: int, batch_heads: tuple[int, int], k_dim: int, v_dim: int, dtype) -> None:
        """Grow the buffers (in steps of `step` tokens) so that n more tokens fit."""
        prev = self.offset
        if self.keys is None or prev + n > self.keys.shape[2]:
            grow = ((n + self.step - 1) // self.step) * self.step
            new_k = mx.zeros((*batch_heads, grow, k_dim), dtype)
            new_v = mx.zeros((*batch_heads, grow, v_dim), dtype)
            if self.keys is None:
                self.keys, self.values = new_k, new_v
            else:
                self.keys = mx.concatenate([self.keys[..., :prev, :], new_k], axis=2)
                self.values = mx.concatenate([self.values[..., :prev, :], new_v], axis=2)

    def attend_one(self, q: mx.array, k: mx.array, v: mx.array, rotation: native.Rotation, scale: float,
                   q_norm: native.Norm | None = None, k_norm: native.Norm | None = None) -> mx.array | None:
        """One decoding step as three fused operations (engine/native.py): the key normalised per
        head by `k_norm` (when given), turned by `rotation` and written at the next row, the value
        written, and the query (normalised by `q_norm`, turned) attending to every row held.
        q (B, 1, heads * D), k (B, 1, kv_heads * D), v (B, 1, kv_heads * Dv) as the projections
        give them -> (B, 1, heads * Dv). Returns None (the caller then takes update_and_fetch and
        attend) when the kernels are not built or nothing is held yet."""
        if self.keys is None or self.keys.dtype != mx.float32 or not native.available():
            return None
        B, H, _, D = self.keys.shape
        self._make_room(1, (B, H), D, self.values.shape[3], self.keys.dtype)
        row = self.offset
        self.keys = native.kv_write(self.keys, k, row, rotation, position=row, norm=k_norm)
        self.values = native.kv_write(self.values, v, row)
        self.offset += 1
        return native.rotary_decode_attention(q, self.keys, self.values, rotation, row, 0, self.offset, scale,
                                              norm=q_norm)

    def make_mask(self, n_queries: int):
        return "causal" if n_queries > 1 else None

    def attend(self, q, k, v, scale: float, mask, sinks: mx.array | None = None) -> mx.array:
        """Attention over what update_and_fetch returned; `sinks` (heads,): gpt-oss's sink logits."""
        return sdpa(q, k, v, scale, mask, sinks)

    def attend_latent(self, q_latent, q_rope, latent, k_rope, scale: float, mask) -> mx.array:
        """Multi-head latent attention over what update_and_fetch(latent, k_rope) returned:
        softmax((q_latent·latent + q_rope·k_rope) * scale) latent. q_latent (B, H, L, rank),
        q_rope (B, H, L, rope); latent (B, 1, S, rank), k_rope (B, 1, S, rope) -> (B, H, L, rank)."""
        q = mx.concatenate([q_latent, q_rope], axis=-1)  # (B, H, L, rank + rope)
        k = mx.concatenate([latent, k_rope], axis=-1)  # (B, 1, S, rank + rope)
        return self.attend(q, k, latent, scale, mask)

    def trim(self, n: int) -> int:
        n = min(self.offset, n)
        self.offset -= n
        return n

    def is_trimmable(self) -> bool:
        return True

    @property
    def nbytes(self) -> int:
        if self.keys is None:
            return 0
        return self.offset * self.bytes_per_token

    @property
    def bytes_per_token(self) -> int:
        """Bytes one more cached token costs in this layer (K and V)."""
        if self.keys is None:
            return 0
        _, H, _, D = self.keys.shape
        return H * (D + self.values.shape[3]) * self.keys.dtype.size

    @property
    def state(self) -> list[mx.array]:
        if self.keys is None:
            return []
        return [self.keys[..., : self.offset, :], self.values[..., : self.offset, :]]

    @state.setter
    def state(self, arrays: list[mx.array]) -> None:
        if not arrays:
            self.keys = self.values = None
            self.offset = 0
            return
        self.keys, self.values = arrays
        self.offset = self.keys.shape[2]

    @property
    def meta_state(self) -> dict[str, str]:
        return {}

    @meta_state.setter
    def meta_state(self, meta: dict[str, str]) -> None:
        pass

    def copy(self) -> KVCache:
        """An independent cache with the same contents (for prompt-cache snapshots)."""
        clone = type(self).__new__(type(self))
        clone.__dict__.update(self.__dict__)
        clone.state = [mx.array(a) for a in self.state]
        clone.meta_state = self.meta_state
        return clone


class RotatingKVCache(KVCache):
    """Sliding-window cache: attention sees only the last `max_size` positions.

    Keys are kept in temporal order and the buffer is compacted in steps, so the memory held stays
    below max_size + step tokens however long the conversation grows.
    """

    def __init__(self, max_size: int):
        super().__init__()
        self.max_size = max_size
        self.start = 0  # absolute position of self.keys[..., 0, :]

    def update_and_fetch(self, keys, values):
        n = keys.shape[2]
        # positions [offset + n - (max_size - 1) - n, offset + n) are needed by the new queries
        needed_from = max(0, self.offset + n - (self.max_size - 1) - n)
        if self.keys is not None and needed_from - self.start >= self.step:
            drop = needed_from - self.start
            self.keys = self.keys[..., drop : self.offset - self.start, :]
            self.values = self.values[..., drop : self.offset - self.start, :]
            self.start = needed_from
        if self.keys is None:
            self.keys, self.values = keys, values
        else:
            held = self.offset - self.start
            self.keys = mx.concatenate([self.keys[..., :held, :], keys], axis=2)
            self.values = mx.concatenate([self.values[..., :held, :], values], axis=2)
        self.offset += n
        lo = needed_from - self.start
        return self.keys[..., lo:, :], self.values[..., lo:, :]

    def attend_one(self, q, k, v, rotation, scale, q_norm=None, k_norm=None):
        """KVCache.attend_one over the last `max_size` positions: the buffer keeps its rows in
        temporal order, compacted every `step` tokens and grown to at most max_size + step rows."""
        if self.keys is None or self.keys.dtype != mx.float32 or not native.available():
            return None
        needed_from = max(0, self.offset + 1 - self.max_size)  # the new query's first key
        held = self.offset - self.start
        drop = needed_from - self.start if needed_from - self.start >= self.step else 0
        if drop or held + 1 > self.keys.shape[2]:
            B, H, _, D = self.keys.shape
            kept = held - drop
            rows = min(self.max_size + self.step, kept + self.step)
            pad = lambda a: mx.concatenate(  # noqa: E731
                [a[..., drop:held, :], mx.zeros((B, H, rows - kept, a.shape[3]), a.dtype)], axis=2)
            self.keys, self.values = pad(self.keys), pad(self.values)
            self.start, held = self.start + drop, kept
        self.keys = native.kv_write(self.keys, k, held, rotation, position=self.offset, norm=k_norm)
        self.values = native.kv_write(self.values, v, held)
        self.offset += 1
        first = needed_from - self.start
        return native.rotary_decode_attention(q, self.keys, self.values, rotation, self.offset - 1, first,
                                              held + 1 - first, scale, norm=q_norm)

    def make_mask(self, n_queries: int):
        first_key = max(0, self.offset + n_queries - (self.max_size - 1) - n_queries)
        n_keys = self.offset + n_queries - first_key
        if n_queries == 1 and n_keys <= self.max_size:
            return None
        return Band(self.offset, first_key, self.max_size)

    def trim(self, n: int) -> int:
        n = min(n, self.offset - self.start) if self.start == 0 else 0
        self.offset -= n
        return n

    def is_trimmable(self) -> bool:
        return self.start == 0

    @property
    def nbytes(self) -> int:
        return (self.offset - self.start) * self.bytes_per_token

    @property
    def state(self):
        if self.keys is None:
            return []
        held = self.offset - self.start
        return [self.keys[..., :held, :], self.values[..., :held, :]]

    @state.setter
    def state(self, arrays):
        if not arrays:
            self.keys = self.values = None
            self.offset = self.start = 0
            return
        self.keys, self.values = arrays
        # like the other caches, the arrays alone define what is held (from `start`, which
        # meta_state restores); otherwise the next update would read `offset - start` stale rows
        self.offset = self.start + self.keys.shape[2]

    @property
    def meta_state(self):
        return {"max_size": str(self.max_size), "start": str(self.start), "offset": str(self.offset)}

    @meta_state.setter
    def meta_state(self, meta):
        self.max_size, self.start, self.offset = (int(meta[k]) for k in ("max_size", "start", "offset"))


class QuantizedKVCache(KVCache):
    """Keys and values stored as `bits`-bit affine-quantized groups (8 or 4 bits).

    `_k` and `_v` are (codes, scales, biases) as mx.quantize lays them out, (B, kv_heads, rows, ·);
    rows past `offset` are unused room (a decoding step on the kernels writes into the next row in
    place, and grows them `step` rows at a time), so every reader slices `[..., :offset, :]`.
    """

    def __init__(self, bits: int = 8, group_size: int = 64):
        super().__init__()
        self.bits, self.group_size = bits, group_size
        self._k: list[mx.array] | None = None  # (weights, scales, biases)
        self._v: list[mx.array] | None = None

    def _grow(self, parts: list[mx.array] | None, new: tuple[mx.array, ...]) -> list[mx.array]:
        if parts is None:
            return [p for p in new]
        held = self.offset
        return [mx.concatenate([p[..., :held, :], q], axis=2) for p, q in zip(parts, new, strict=True)]

    def update_and_fetch(self, keys, values):
        if self._k is None:
            self.group_size = self._fitting_group_size(math.gcd(keys.shape[-1], values.shape[-1]))
        qk = mx.quantize(keys, group_size=self.group_size, bits=self.bits)
        qv = mx.quantize(values, group_size=self.group_size, bits=self.bits)
        self._k, self._v = self._grow(self._k, qk), self._grow(self._v, qv)
        self.offset += keys.shape[2]
        self._dtype = keys.dtype
        return [p[..., : self.offset, :] for p in self._k], [p[..., : self.offset, :] for p in self._v]

    def attend_one(self, q, k, v, rotation, scale, q_norm=None, k_norm=None):
        """KVCache.attend_one on quantized buffers: the new key and value quantized into the next
        row in place (as mx.quantize would), the query attending to the rows dequantized as they are
        read. The buffers grow in steps of `step` rows; rows past `offset` are never read."""
        if self._k is None or self._k[1].dtype != mx.float32 or not native.available():
            return None
        if self.offset + 1 > self._k[0].shape[2]:
            self._k, self._v = self._with_room(self._k), self._with_room(self._v)
        gs, bits, row = self.group_size, self.bits, self.offset
        self._k = native.quantized_kv_write(self._k, k, row, gs, bits, rotation, position=row, norm=k_norm)
        self._v = native.quantized_kv_write(self._v, v, row, gs, bits)
        self.offset += 1
        return native.quantized_rotary_decode_attention(q, self._k, self._v, gs, bits, rotation, row, 0, self.offset,
                                                        scale, norm=q_norm)

    def _with_room(self, parts: list[mx.array]) -> list[mx.array]:
        """The held rows of (w, scales, biases) followed by `step` empty rows."""
        held = self.offset
        return [mx.concatenate([p[..., :held, :], mx.zeros((*p.shape[:2], self.step, p.shape[3]), p.dtype)], axis=2)
                for p in parts]

    def dense(self) -> tuple[mx.array, mx.array]:
        """Keys and values dequantized, (B, kv_heads, offset, head_dim) each: what attention used."""
        k = mx.dequantize(*self._k, group_size=self.group_size, bits=self.bits)[..., : self.offset, :]
        v = mx.dequantize(*self._v, group_size=self.group_size, bits=self.bits)[..., : self.offset, :]
        return k, v

    def _fitting_group_size(self, head_dim: int) -> int:
        """The requested group size, or a smaller one MLX supports when head_dim (that of the keys
        and of the values, which may differ) is not a multiple."""
        for size in (self.group_size, 64, 32):
            if size <= self.group_size and head_dim % size == 0:
                return size
        raise ValueError(f"a quantized KV cache needs a head dimension divisible by 32 (got {head_dim})")

    def attend(self, q, k, v, scale, mask, sinks=None):
        B, n_heads, L, D = q.shape
        if sinks is None and native.available():
            # the keys and values dequantized once, then the kernels' attention (MLX's quantized
            # matmul on the CPU is one thread and ~20x slower per element); for one query as for
            # many, so a prompt read in one chunk and one read token by token agree to rounding
            gs, bits = self.group_size, self.bits
            k, v = (mx.dequantize(*p, group_size=gs, bits=bits) for p in (k, v))
            return sdpa(q, k, v, scale, mask)
        n_kv = k[0].shape[1]
        q = (q * scale).reshape(B, n_kv, n_heads // n_kv, L, D)  # group query heads per KV head
        k = [p[:, :, None] for p in k]
        v = [p[:, :, None] for p in v]
        gs, bits = self.group_size, self.bits
        scores = mx.quantized_matmul(q, *k, transpose=True, group_size=gs, bits=bits)
        mask = mask_array(mask, L, scores.shape[-1])
        if mask is not None:
            scores = mx.where(mask, scores, mx.finfo(scores.dtype).min)
        weights = sink_softmax(scores, sinks).astype(q.dtype)  # (B, kv, rep, L, S)
        out = mx.quantized_matmul(weights, *v, transpose=False, group_size=gs, bits=bits)
        return out.reshape(B, n_heads, L, -1)

    def attend_latent(self, q_latent, q_rope, latent, k_rope, scale, mask):
        """KVCache.attend_latent on the quantized latent and RoPE keys (one latent head)."""
        B, n_heads, L, _ = q_latent.shape
        gs, bits = self.group_size, self.bits
        qmm = lambda x, w, t: mx.quantized_matmul(x, *w, transpose=t, group_size=gs, bits=bits)  # noqa: E731
        flat = lambda x: (x * scale).reshape(B, 1, n_heads * L, -1)  # noqa: E731  (every head vs the one latent)
        scores = (qmm(flat(q_latent), latent, True) + qmm(flat(q_rope), k_rope, True)).reshape(B, n_heads, L, -1)
        mask = mask_array(mask, L, scores.shape[-1])
        if mask is not None:
            scores = mx.where(mask, scores, mx.finfo(scores.dtype).min)
        weights = mx.softmax(scores, axis=-1, precise=True).reshape(B, 1, n_heads * L, -1)
        return qmm(weights, latent, False).reshape(B, n_heads, L, -1)  # (B, H, L, rank)

    @property
    def bytes_per_token(self) -> int:
        if self._k is None:
            return 0
        return sum(p.shape[1] * p.shape[3] * p.dtype.size for p in self._k + self._v)

    @property
    def nbytes(self) -> int:
        return self.offset * self.bytes_per_token

    @property
    def state(self):
        if self._k is None:
            return []
        return [p[..., : self.offset, :] for p in self._k + self._v]

    @state.setter
    def state(self, arrays):
        if not arrays:
            self._k = self._v = None
            self.offset = 0
            return
        self._k, self._v = list(arrays[:3]), list(arrays[3:])
        self.offset = self._k[0].shape[2]

    @property
    def meta_state(self):
        return {"bits": str(self.bits), "group_size": str(self.group_size)}

    @meta_state.setter
    def meta_state(self, meta):
        self.bits, self.group_size = int(meta["bits"]), int(meta["group_size"])


class RecurrentState:
    """The state kind: a linear-attention layer's fixed-size memory (see the module docstring).

    conv: (B, kernel - 1, channels) the last inputs of the layer's causal convolution, which the
    next tokens' outputs still reach; recurrent: (B, value_heads, value_dim, key_dim) float32, the
    delta rule's memory S. Both are None until the first update. Neither grows with the tokens
    read: a layer holds the same bytes after 10 tokens as after 100,000.
    """

    def __init__(self):
        self.conv: mx.array | None = None
        self.recurrent: mx.array | None = None
        self.offset = 0

    def conv_window(self, x: mx.array, kernel_size: int) -> mx.array:
        """x (B, L, C) -> (B, kernel_size - 1 + L, C): the held inputs (zeros before the first
        token), then x. Keeps the last kernel_size - 1 rows for the next call."""
        held = self.conv if self.conv is not None else mx.zeros((x.shape[0], kernel_size - 1, x.shape[2]), x.dtype)
        window = mx.concatenate([held, x], axis=1)
        self.conv = mx.contiguous(window[:, -(kernel_size - 1) :])
        return window

    def advance(self, recurrent: mx.array, n: int) -> None:
        """Keep the memory after n more tokens (B, value_heads, value_dim, key_dim)."""
        self.recurrent = recurrent
        self.offset += n

    def make_mask(self, n_queries: int):
        return None  # a recurrence is causal by construction

    def trim(self, n: int) -> int:
        """A memory cannot be rewound: only n == 0 succeeds (returns how many were forgotten)."""
        return 0

    def is_trimmable(self) -> bool:
        return False

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.conv, self.recurrent) if a is not None)

    @property
    def bytes_per_token(self) -> int:
        return 0  # the memory does not grow

    @property
    def state(self) -> list[mx.array]:
        return [] if self.recurrent is None else [self.conv, self.recurrent]

    @state.setter
    def state(self, arrays: list[mx.array]) -> None:
        self.conv, self.recurrent = arrays if arrays else (None, None)

    @property
    def meta_state(self) -> dict[str, str]:
        return {"offset": str(self.offset)}

    @meta_state.setter
    def meta_state(self, meta: dict[str, str]) -> None:
        self.offset = int(meta["offset"])

    def copy(self) -> RecurrentState:
        """An independent state with the same contents (the arrays are never written in place,
        but a copy must not alias them either: the prompt cache hands copies out)."""
        clone = RecurrentState()
        clone.state = [mx.array(a) for a in self.state]
        clone.offset = self.offset
        return clone

    @classmethod
    def from_state(cls, arrays: list[mx.array], meta: dict[str, str]) -> RecurrentState:
        """What `state` and `meta_state` saved, restored (load_cache)."""
        restored = cls()
        restored.state, restored.meta_state = arrays, meta
        return restored


CACHE_TYPES = {c.__name__: c for c in (KVCache, RotatingKVCache, QuantizedKVCache, RecurrentState)}


def make_cache(n_layers: int, kind: str = "plain", window: int | None = None, bits: int = 8):
    """One cache per layer: kind is "plain", "rotating" (needs window) or "quantized" (bits 8/4)."""
    if kind == "plain":
        return [KVCache() for _ in range(n_layers)]
    if kind == "rotating":
        if not window or window < 2:
            raise ValueError("a rotating cache needs a window of at least 2 tokens")
        return [RotatingKVCache(window) for _ in range(n_layers)]
    if kind == "quantized":
        if bits not in (4, 8):
            raise ValueError("a quantized cache holds 4 or 8 bits per element")
        return [QuantizedKVCache(bits) for _ in range(n_layers)]
    raise ValueError(f"unknown cache kind {kind!r} (plain, rotating, quantized)")


@dataclass(frozen=True)
class CachedToken:
    """What one token leaves in the cache, as its architecture lays it out: in each of `layers`
    layers, keys of shape (heads, width) and values of shape (heads, width) — what the model hands
    `update_and_fetch` (multi-head latent attention hands the latent and the RoPE key instead).
    `windowed` of the layers were trained with a sliding window of `window` tokens: they always
    keep a float32 rotating cache of at most that many tokens, whatever cache kind is chosen.
    `formula` says it in words for the window, e.g. "2 × 30 layers × 3 KV heads × 64 dims".
    `state_bytes`: what the model's recurrent layers (`RecurrentState`, not counted in `layers`)
    hold in float32 however many tokens were read; it is in `held_bytes`, never in `bytes`."""

    layers: int
    keys: tuple[int, int]
    values: tuple[int, int]
    formula: str
    windowed: int = 0
    window: int | None = None
    state_bytes: int = 0

    @property
    def floats(self) -> int:
        """Floats one token adds in one layer (keys and values)."""
        return self.keys[0] * self.keys[1] + self.values[0] * self.values[1]

    def bytes(self, kind: str = "plain", bits: int = 8) -> int:
        """Bytes one more token costs over all layers in a cache of `kind` ("plain", "rotating";
        "quantized" with `bits` 8 or 4) while no window is full. Float32 layers are counted without
        MLX (so the model library can estimate on any thread); a quantized layer is measured on
        the engine's own cache object, scales and biases included."""
        return self.floats * 4 * self.windowed + self._layer_bytes(kind, bits) * (self.layers - self.windowed)

    def held_bytes(self, tokens: int, kind: str = "plain", bits: int = 8) -> int:
        """The most bytes a cache of `tokens` tokens holds: windowed layers stop growing at their
        window plus the compaction step (`RotatingKVCache` drops old keys `KVCache.step` at a time);
        recurrent layers hold `state_bytes` from the first token on."""
        kept = min(tokens, self.window + KVCache.step) if self.window else tokens
        grown = self.floats * 4 * self.windowed * kept + self._layer_bytes(kind, bits) * (self.layers - self.windowed) * tokens
        return grown + (self.state_bytes if tokens else 0)

    def _layer_bytes(self, kind: str, bits: int) -> int:
        """One token in one layer that is not windowed (0: every layer is)."""
        if self.layers == self.windowed:
            return 0
        if kind in ("plain", "rotating"):
            return self.floats * 4
        layer = make_cache(1, kind, window=2, bits=bits)[0]
        (kh, kd), (vh, vd) = self.keys, self.values
        layer.update_and_fetch(mx.zeros((1, kh, 1, kd), mx.float32), mx.zeros((1, vh, 1, vd), mx.float32))
        return layer.bytes_per_token


def cache_offset(cache: list[KVCache]) -> int:
    return cache[0].offset if cache else 0


def cache_nbytes(cache: list[KVCache]) -> int:
    return sum(c.nbytes for c in cache)


def trim_cache(cache: list[KVCache], n: int) -> int:
    """Forget the last n tokens in every layer, or in none when a layer cannot (a recurrent state,
    a window that has rotated): the layers never disagree. Returns how many were forgotten."""
    if n and not all(c.is_trimmable() for c in cache):
        return 0
    return min((c.trim(n) for c in cache), default=0)


def save_cache(path: str, cache: list[KVCache], metadata: dict[str, str] | None = None) -> None:
    """Write the caches' arrays and what restores them to a safetensors file."""
    arrays: dict[str, mx.array] = {}
    meta: dict[str, str] = dict(metadata or {})
    meta["glassbox.layers"] = str(len(cache))
    for i, c in enumerate(cache):
        meta[f"glassbox.{i}.class"] = type(c).__name__
        for key, value in c.meta_state.items():
            meta[f"glassbox.{i}.{key}"] = value
        for j, a in enumerate(c.state):
            arrays[f"{i}.{j}"] = a
    mx.save_safetensors(path, arrays, metadata=meta)


def load_cache(path: str) -> tuple[list[KVCache], dict[str, str]]:
    """Read a file written by save_cache: (caches, the caller's metadata)."""
    arrays, meta = mx.load(path, return_metadata=True)
    caches: list[KVCache] = []
    for i in range(int(meta["glassbox.layers"])):
        cls = CACHE_TYPES[meta[f"glassbox.{i}.class"]]
        prefix = f"glassbox.{i}."
        own = {k[len(prefix) :]: v for k, v in meta.items() if k.startswith(prefix) and k != prefix + "class"}
        n = sum(1 for k in arrays if k.split(".")[0] == str(i))
        layer_arrays = [arrays[f"{i}.{j}"] for j in range(n)]
        if cls is RecurrentState:
            caches.append(cls.from_state(layer_arrays, own))
            continue
        c = cls.__new__(cls)
        KVCache.__init__(c)
        if cls is QuantizedKVCache:
            c._k = c._v = None
        if cls is RotatingKVCache:
            c.start = 0
        c.meta_state = own
        c.state = layer_arrays
        if cls is RotatingKVCache:
            c.meta_state = own  # offset/start are restored after the arrays
        caches.append(c)
    user_meta: dict[str, Any] = {k: v for k, v in meta.items() if not k.startswith("glassbox.")}
    return caches, user_meta
