"""What every architecture shares: the args base class, RoPE, the `Architecture` record each model
file declares (GGUF names, config from GGUF metadata, chat-template fallback), per-layer caches.

The model files never build masks or touch cache internals: they ask the cache (see engine/cache.py)
for the keys/values seen so far, for the mask, and for the attention routine that fits its layout.
Every `Model.__call__(tokens, cache, capture=None)` calls the inspection hooks of
engine/capture.py (a few lines per file, see llama.py) and has `head(h)`: final norm + LM head.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

import mlx.core as mx
import mlx.nn as nn

from engine.cache import CachedToken, KVCache
from engine.capture import LayerCapture


@dataclass
class BaseModelArgs:
    """Architecture hyper-parameters; `from_dict` ignores keys the dataclass does not know."""

    model_type: str

    @classmethod
    def from_dict(cls, params: dict[str, Any]):
        """Raises ConfigError naming a required field the config lacks."""
        missing = [name for name in required_fields(cls) if name not in params]
        if missing:
            raise ConfigError(f"the configuration has no {', '.join(map(repr, missing))}")
        known = inspect.signature(cls).parameters
        return cls(**{k: v for k, v in params.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


class Llama3RoPE(nn.Module):
    """RoPE with Llama 3's frequency scaling (long wavelengths stretched, short ones kept)."""

    def __init__(self, dims: int, base: float, traditional: bool, scaling: dict[str, Any]):
        super().__init__()
        self.dims, self.traditional = dims, traditional
        factor = scaling["factor"]
        low, high = scaling.get("low_freq_factor", 1.0), scaling.get("high_freq_factor", 4.0)
        old_context = scaling.get("original_max_position_embeddings", 8192)
        low_wavelen, high_wavelen = old_context / low, old_context / high
        freqs = base ** (mx.arange(0, dims, 2, dtype=mx.float32) / dims)
        wavelens = 2 * math.pi * freqs
        freqs = mx.where(wavelens > low_wavelen, freqs * factor, freqs)
        is_medium = (wavelens > high_wavelen) & (wavelens < low_wavelen)
        smooth = (old_context / wavelens - low) / (high - low)
        smoothed = freqs / ((1 - smooth) / factor + smooth)
        self._freqs = mx.where(is_medium, smoothed, freqs)

    def __call__(self, x: mx.array, offset: int = 0) -> mx.array:
        return mx.fast.rope(
            x, self.dims, traditional=self.traditional, base=None, scale=1.0, offset=offset,
            freqs=self._freqs,
        )


class YarnRoPE(nn.Module):
    """YaRN (Peng et al. 2023): wavelengths longer than the original context are interpolated by
    `factor`, short ones kept, a linear ramp between (from beta_fast to beta_slow rotations); the
    rotated part scaled by mscale(mscale) / mscale(mscale_all_dim). DeepSeek V2/V3's rope_scaling."""

    def __init__(self, dims: int, base: float, traditional: bool, scaling: dict[str, Any]):
        super().__init__()
        self.dims, self.traditional = dims, traditional
        factor = scaling["factor"]
        old_context = scaling.get("original_max_position_embeddings", 4096)
        beta_fast, beta_slow = scaling.get("beta_fast", 32), scaling.get("beta_slow", 1)

        def correction_dim(rotations: float) -> float:
            return dims * math.log(old_context / (rotations * 2 * math.pi)) / (2 * math.log(base))

        low = max(math.floor(correction_dim(beta_fast)), 0)
        high = min(math.ceil(correction_dim(beta_slow)), dims - 1)
        ramp = mx.clip((mx.arange(dims // 2, dtype=mx.float32) - low) / max(high - low, 0.001), 0, 1)
        keep = 1.0 - ramp  # 1: extrapolate (keep the frequency), 0: interpolate (divide by factor)
        freqs = base ** (mx.arange(0, dims, 2, dtype=mx.float32) / dims)  # wavelengths / 2π
        self._freqs = (factor * freqs * freqs) / (factor * freqs * keep + freqs * (1 - keep))
        self.mscale = yarn_mscale(factor, scaling.get("mscale", 1)) / yarn_mscale(factor, scaling.get("mscale_all_dim", 0))

    def __call__(self, x: mx.array, offset: int = 0) -> mx.array:
        if self.mscale != 1.0:
            x = mx.concatenate([x[..., : self.dims] * self.mscale, x[..., self.dims :]], axis=-1)
        return mx.fast.rope(
            x, self.dims, traditional=self.traditional, base=None, scale=1.0, offset=offset, freqs=self._freqs,
        )


def yarn_mscale(factor: float, mscale: float) -> float:
    """YaRN's attention temperature: 0.1 * mscale * ln(factor) + 1 (1 when not stretched)."""
    return 1.0 if factor <= 1 else 0.1 * mscale * math.log(factor) + 1.0


def make_rope(dims: int, base: float, traditional: bool, scaling: dict[str, Any] | None) -> nn.Module:
    """The rotary embedding named by a model's `rope_scaling` (none, linear, llama3 or yarn)."""
    kind = (scaling or {}).get("rope_type", (scaling or {}).get("type", "default"))
    if kind in ("default", None):
        return nn.RoPE(dims, traditional=traditional, base=base)
    if kind == "linear":
        return nn.RoPE(dims, traditional=traditional, base=base, scale=1.0 / scaling["factor"])
    if kind == "llama3":
        return Llama3RoPE(dims, base, traditional, scaling)
    if kind in ("yarn", "deepseek_yarn"):
        return YarnRoPE(dims, base, traditional, scaling)
    raise ValueError(f"unsupported rope_scaling type {kind!r}")


def rotary_attention(
    q: mx.array, k: mx.array, v: mx.array, cache: KVCache, rope: nn.Module, n_heads: int, n_kv_heads: int,
    scale: float, capture: LayerCapture | None = None, q_norm: nn.Module | None = None,
    k_norm: nn.Module | None = None,
) -> mx.array:
    """Self-attention with rotary positions over a layer's cache, from the projections as they come.

    q (B, L, n_heads * D), k (B, L, n_kv_heads * D), v (B, L, n_kv_heads * Dv) -> (B, L, n_heads * Dv):
    queries and keys normalised per head by `q_norm` / `k_norm` when given (q/k norm: Qwen 3,
    Gemma 3; modules over the last axis, D), then turned by `rope` at their positions, the keys and
    values appended to `cache`, each query head attending (grouped-query) to what the cache holds,
    under the cache's mask.

    A decoding step (L = 1) goes through the cache's fused kernels (`cache.attend_one`: q/k norm,
    RoPE, cache write and attention in three graph operations, no reshapes) when the rope can hand
    them its rotation, the norms (if any) their weights, and no capture asks for the attention
    weights; everything else takes the path written out below.
    """
    B, L, _ = q.shape
    rotation = getattr(rope, "rotation", None)  # engine/native_modules.py's RoPE modules have one
    norms = [None if m is None else getattr(m, "native_norm", False) for m in (q_norm, k_norm)]  # False: no kernel
    if L == 1 and rotation is not None and False not in norms and not (capture is not None and capture.wants_weights):
        out = cache.attend_one(q, k, v, rotation, scale, *norms)
        if out is not None:
            return out
    q = q.reshape(B, L, n_heads, -1)  # (B, L, heads, D)
    k = k.reshape(B, L, n_kv_heads, -1)  # (B, L, kv, D)
    if q_norm is not None:
        q = q_norm(q)
    if k_norm is not None:
        k = k_norm(k)
    q, k = q.transpose(0, 2, 1, 3), k.transpose(0, 2, 1, 3)  # (B, heads, L, D), (B, kv, L, D)
    v = v.reshape(B, L, n_kv_heads, -1).transpose(0, 2, 1, 3)  # (B, kv, L, Dv)
    q, k = rope(q, offset=cache.offset), rope(k, offset=cache.offset)
    mask = cache.make_mask(L)
    k, v = cache.update_and_fetch(k, v)  # (B, kv, keys, ·)
    if capture is not None and capture.wants_weights:  # the explicit path, weights recorded
        out = capture.attend(q, k, v, scale, mask)  # (B, heads, L, Dv)
    else:
        out = cache.attend(q, k, v, scale=scale, mask=mask)  # (B, heads, L, Dv)
    return out.transpose(0, 2, 1, 3).reshape(B, L, -1)


class ConfigError(ValueError):
    """A model's configuration lacks a field or holds an impossible value; the message names it."""


def required_fields(cls) -> list[str]:
    """The args dataclass fields without a default (what a config must provide)."""
    return [f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING]


# ---------------------------------------------------------------------------------------------
# What an architecture declares about itself (engine/models/<name>.py: ARCHITECTURE = ...)


@dataclass(frozen=True)
class GGUFLayout:
    """How llama.cpp names and stores this architecture's tensors.

    layer_names: `blk.N.<gguf name>` -> `layers.N.<our module path>`; top_names likewise for the
    tensors outside the blocks. permute_qk: the converter permuted Q/K rows for llama.cpp's
    interleaved RoPE (Llama family), which the loader undoes. norm_shift: the converter stored
    every `*norm.weight` as weight + norm_shift (Gemma stores 1 + γ), which the loader subtracts.
    tensor_names: whole names inside a block whose last part differs too (DeepSeek's
    `exp_probs_b.bias` is our `mlp.gate.e_score_correction_bias`).
    """

    layer_names: dict[str, str]
    top_names: dict[str, str] = field(
        default_factory=lambda: {"token_embd": "embed_tokens", "output_norm": "norm", "output": "lm_head"}
    )
    permute_qk: bool = False
    norm_shift: float = 0.0
    tensor_names: dict[str, str] = field(default_factory=dict)

    def to_model(self, weights: dict[str, mx.array], config: dict[str, Any]) -> dict[str, mx.array]:
        """GGUF tensors (names as in the file, quantized parts suffixed) -> the model's names/values."""
        out = {}
        for name, w in weights.items():
            ours = self.model_name(name)
            if self.permute_qk and _qk_heads(ours, config):
                w = _unpermute_rows(w, _qk_heads(ours, config))
            if self.norm_shift and ours.endswith("norm.weight"):
                w = w - self.norm_shift
            out[ours] = w
        return out

    def to_gguf(self, weights: dict[str, mx.array], config: dict[str, Any]) -> dict[str, mx.array]:
        """The inverse of `to_model` (what llama.cpp's converter writes), for export and tests."""
        out = {}
        for name, w in weights.items():
            if self.permute_qk and _qk_heads(name, config):
                w = _permute_rows(w, _qk_heads(name, config))
            if self.norm_shift and name.endswith("norm.weight"):
                w = w + self.norm_shift
            out[self.gguf_name(name)] = w
        return out

    def model_name(self, name: str) -> str:
        parts = name.split(".")
        if parts[0] == "blk" and ".".join(parts[2:]) in self.tensor_names:
            return f"layers.{parts[1]}.{self.tensor_names['.'.join(parts[2:])]}"
        if parts[0] == "blk":
            return ".".join(["layers", parts[1], self.layer_names.get(parts[2], parts[2]), *parts[3:]])
        return ".".join([self.top_names.get(parts[0], parts[0]), *parts[1:]])

    def gguf_name(self, name: str) -> str:
        by_ours = {v: k for k, v in self.layer_names.items()}
        top = {v: k for k, v in self.top_names.items()}
        if name.startswith("layers."):
            _, i, rest = name.split(".", 2)
            whole = {v: k for k, v in self.tensor_names.items()}
            if rest in whole:
                return f"blk.{i}.{whole[rest]}"
            path, leaf = rest.rsplit(".", 1)
            return f"blk.{i}.{by_ours.get(path, path)}.{leaf}"
        path, leaf = name.rsplit(".", 1)
        return f"{top.get(path, path)}.{leaf}"


def _qk_heads(name: str, config: dict[str, Any]) -> int | None:
    """Heads of a Q or K projection tensor (any part: weight, scales, biases, bias), else None."""
    if ".self_attn.q_proj." in name:
        return config["num_attention_heads"]
    if ".self_attn.k_proj." in name:
        return config["num_key_value_heads"]
    return None


def _unpermute_rows(w: mx.array, heads: int) -> mx.array:
    """llama.cpp's converter did w.reshape(heads, 2, hd/2, ...).swapaxes(1, 2) so that its
    interleaved RoPE sees rotate-half pairs; this is the inverse. Quantization groups run along
    the input dimension, so packed rows move unchanged."""
    rows = w.shape[0]
    return w.reshape(heads, rows // heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def _permute_rows(w: mx.array, heads: int) -> mx.array:
    rows = w.shape[0]
    return w.reshape(heads, 2, rows // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


@dataclass(frozen=True)
class Architecture:
    """Everything the loader, the exporter and the caches need to know about one architecture.

    names: the `model_type` values (config.json) and `general.architecture` values (GGUF) it
    implements. hf_classes: the `architectures` entry export writes, per `model_type` this file
    builds (a file implementing several types names each one's class: see `hf_class`).
    config_from_gguf(meta) builds a
    config.json-style dict from GGUF metadata (a `GGUFMeta`). cached_token(config) is what one
    token costs in the KV cache (`engine.cache.CachedToken`), from config.json-style values alone
    (Manage Models estimates memory before loading; Preferences and the status bar use it loaded). chat_template: the family's standard
    template, used when a file has none (as llama.cpp does), and template_name names it.
    """

    names: tuple[str, ...]
    hf_classes: dict[str, str]
    args: type
    model: type
    gguf: GGUFLayout
    config_from_gguf: Callable[[GGUFMeta], dict[str, Any]]
    cached_token: Callable[[Mapping[str, Any]], CachedToken]
    chat_template: str | None = None
    template_name: str | None = None

    def hf_class(self, model_type: str) -> str:
        """The Hugging Face class a checkpoint of `model_type` declares (config.json `architectures`).

        Raises ValueError when this file does not name one for that type (export would otherwise
        write a class that loads the checkpoint as another architecture)."""
        if model_type not in self.hf_classes:
            raise ValueError(f"the architecture file for {self.names[0]!r} names no exported class for {model_type!r}")
        return self.hf_classes[model_type]


class GGUFMeta:
    """GGUF metadata as a config source: `meta.arch("block_count")` reads `<arch>.block_count`.

    A missing required key raises ConfigError naming it; numpy scalars come out as Python values.
    """

    def __init__(self, metadata: dict[str, Any], tensor_names: set[str]):
        self.raw, self.tensor_names = metadata, tensor_names
        self.architecture = str(metadata["general.architecture"])

    def get(self, key: str, default: Any = MISSING) -> Any:
        if key not in self.raw:
            if default is MISSING:
                raise ConfigError(f"the GGUF metadata has no {key!r}")
            return default
        value = self.raw[key]
        return value.item() if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 else value

    def arch(self, key: str, default: Any = MISSING) -> Any:
        return self.get(f"{self.architecture}.{key}", default)


def llama_like_config(meta: GGUFMeta) -> dict[str, Any]:
    """The hyper-parameters every llama.cpp architecture stores under the same keys."""
    n_heads = int(meta.arch("attention.head_count"))
    hidden = int(meta.arch("embedding_length"))
    config: dict[str, Any] = {
        "model_type": meta.architecture,
        "name": str(meta.get("general.name", "")),
        "hidden_size": hidden,
        "num_hidden_layers": int(meta.arch("block_count")),
        "intermediate_size": int(meta.arch("feed_forward_length")),
        "num_attention_heads": n_heads,
        "num_key_value_heads": int(meta.arch("attention.head_count_kv", n_heads)),
        "head_dim": int(meta.arch("attention.key_length", meta.arch("rope.dimension_count", hidden // n_heads))),
        "rms_norm_eps": float(meta.arch("attention.layer_norm_rms_epsilon", 1e-5)),
        "rope_theta": float(meta.arch("rope.freq_base", 10000.0)),
        "max_position_embeddings": int(meta.arch("context_length", 4096)),
        "vocab_size": int(meta.arch("vocab_size", len(meta.get("tokenizer.ggml.tokens", [])))),
        "tie_word_embeddings": "output.weight" not in meta.tensor_names,
    }
    if meta.arch("rope.scaling.type", None) == "linear":
        config["rope_scaling"] = {"type": "linear", "factor": float(meta.arch("rope.scaling.factor"))}
    if "rope_freqs.weight" in meta.tensor_names:
        raise ConfigError("GGUF files with rope_freqs (Llama 3.1 rope scaling) are not supported yet")
    return config


def keys_and_values(config: Mapping[str, Any], windowed: int | None = None) -> CachedToken:
    """Full keys and values per KV head in every layer: 2 × layers × KV heads × head dim floats.
    `windowed`: how many layers keep only `sliding_window` tokens (default: all of them when the
    config has a sliding window, as Llama-family `make_cache` lays them out, else none)."""
    layers, heads = int(config["num_hidden_layers"]), int(config["num_attention_heads"])
    kv_heads = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or int(config["hidden_size"]) // heads)
    window = int(config["sliding_window"]) if config.get("sliding_window") else None
    return CachedToken(
        layers, (kv_heads, head_dim), (kv_heads, head_dim),
        f"2 × {layers} layers × {kv_heads} KV heads × {head_dim} dims",
        windowed=(layers if window else 0) if windowed is None else windowed, window=window,
    )


def windowed_caches(windows: list[int | None], kind: str = "plain", window: int | None = None, bits: int = 8):
    """One cache per layer. windows[i] is the sliding window layer i was trained with (None: it
    attends to everything). Such a layer always gets a rotating cache of its window (narrower if
    `window` asks), whatever `kind`: attending further would change the model's answer. The other
    layers get `kind`: "plain", "rotating" (needs `window`) or "quantized" (`bits` 8 or 4).
    """
    from engine.cache import KVCache, QuantizedKVCache, RotatingKVCache

    if kind == "rotating" and (not window or window < 2):
        raise ValueError("a rotating cache needs a window of at least 2 tokens")
    if kind == "quantized" and bits not in (4, 8):
        raise ValueError("a quantized cache holds 4 or 8 bits per element")
    if kind not in ("plain", "rotating", "quantized"):
        raise ValueError(f"unknown cache kind {kind!r} (plain, rotating, quantized)")
    caches = []
    for trained in windows:
        if trained or kind == "rotating":
            size = min(w for w in (trained, window if kind == "rotating" else None) if w)
            caches.append(RotatingKVCache(size))
        elif kind == "quantized":
            caches.append(QuantizedKVCache(bits))
        else:
            caches.append(KVCache())
    return caches
