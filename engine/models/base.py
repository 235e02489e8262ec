"""What every architecture shares: the args base class, RoPE construction and attention dispatch.

The model files never build masks or touch cache internals: they ask the cache (see engine/cache.py)
for the keys/values seen so far, for the mask, and for the attention routine that fits its layout.
Every `Model.__call__(tokens, cache, capture=None)` calls the inspection hooks of
engine/capture.py (a few lines per file, see llama.py) and has `head(h)`: final norm + LM head.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass, fields
from typing import Any

import mlx.core as mx
import mlx.nn as nn


@dataclass
class BaseModelArgs:
    """Architecture hyper-parameters; `from_dict` ignores keys the dataclass does not know."""

    model_type: str

    @classmethod
    def from_dict(cls, params: dict[str, Any]):
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


def make_rope(dims: int, base: float, traditional: bool, scaling: dict[str, Any] | None) -> nn.Module:
    """The rotary embedding named by a model's `rope_scaling` (none, linear or llama3)."""
    kind = (scaling or {}).get("rope_type", (scaling or {}).get("type", "default"))
    if kind in ("default", None):
        return nn.RoPE(dims, traditional=traditional, base=base)
    if kind == "linear":
        return nn.RoPE(dims, traditional=traditional, base=base, scale=1.0 / scaling["factor"])
    if kind == "llama3":
        return Llama3RoPE(dims, base, traditional, scaling)
    raise ValueError(f"unsupported rope_scaling type {kind!r}")
