"""Drop-in modules that run on the CPU kernels of engine/native.py, and the pass that swaps them in.

`use_native_kernels(model)` walks any model (no architecture knows about it) and turns each
`nn.QuantizedLinear`, `nn.QuantizedEmbedding` (its `as_linear`, the tied LM head), `nn.RMSNorm` and
`nn.RoPE` / `Llama3RoPE` into the subclass below. Parameters, names and state are untouched, so
checkpoints, the Inspector's capture hooks and `model.parameters()` see the same tree. Each subclass
computes exactly what its MLX parent computes (to float32 rounding), as one graph node.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from engine import native
from engine.models.base import Llama3RoPE
from engine.models.gemma3 import RMSNorm as GemmaRMSNorm


class NativeQuantizedLinear(nn.QuantizedLinear):
    """nn.QuantizedLinear through the multi-threaded quantized matmul (affine mode)."""

    def __call__(self, x: mx.array) -> mx.array:
        y = native.quantized_matmul(x, self["weight"], self["scales"], self["biases"], self.group_size, self.bits)
        return y + self["bias"] if "bias" in self else y


class NativeQuantizedEmbedding(nn.QuantizedEmbedding):
    """nn.QuantizedEmbedding read by the kernels: a lookup gathers the rows of the ids and
    dequantizes only those; `as_linear` (a tied LM head) is the quantized matmul over the same
    compact table. Any group size the kernels take (16 too: GGUF Q6_K)."""

    def __call__(self, x: mx.array) -> mx.array:
        ids = x.reshape(-1)  # (T,)
        rows = native.dequantize(self["weight"][ids], self["scales"][ids], self["biases"][ids], self.group_size, self.bits)
        return rows.reshape(*x.shape, rows.shape[-1])  # (..., dims) float32

    def as_linear(self, x: mx.array) -> mx.array:
        return native.quantized_matmul(x, self["weight"], self["scales"], self["biases"], self.group_size, self.bits)


class NativeRMSNorm(nn.RMSNorm):
    def __call__(self, x: mx.array) -> mx.array:
        return native.rms_norm(x, self["weight"], self.eps)


class NativeGemmaRMSNorm(GemmaRMSNorm):
    """Gemma's RMSNorm (scaling by 1 + γ) in one pass; 1 + γ is computed once per weight array."""

    def __call__(self, x: mx.array) -> mx.array:
        weight = self["weight"]
        cached = self.__dict__.get("_glassbox_scale")
        if cached is None or cached[0] is not weight:  # new weights (a load, an update): recompute
            scale = 1.0 + weight
            mx.eval(scale)
            cached = (weight, scale)
            self.__dict__["_glassbox_scale"] = cached  # not a parameter: outside the module tree
        return native.rms_norm(x, cached[1], self.eps)


class NativeRoPE(nn.RoPE):
    """nn.RoPE in one pass; the inverse frequencies are MLX's own formula, computed once."""

    def __call__(self, x: mx.array, offset: int = 0) -> mx.array:
        return native.rope(x, _inverse_frequencies(self), self.dims, self.traditional, self.scale, offset)


class NativeLlama3RoPE(Llama3RoPE):
    def __call__(self, x: mx.array, offset: int = 0) -> mx.array:
        return native.rope(x, _inverse_frequencies(self), self.dims, self.traditional, 1.0, offset)


def _inverse_frequencies(rope: nn.Module) -> mx.array:
    """(dims / 2,) float32: what mx.fast.rope uses, exp(-i ln(base) / (dims / 2)) or 1 / freqs."""
    cached = rope.__dict__.get("_glassbox_inv_freq")
    if cached is None:
        if isinstance(rope, Llama3RoPE):
            cached = mx.reciprocal(rope._freqs)
        else:
            half = rope.dims // 2
            cached = mx.exp(mx.arange(0, -half, -1, dtype=mx.float32) * (mx.log(mx.array(rope.base)) / half))
        mx.eval(cached)
        rope.__dict__["_glassbox_inv_freq"] = cached  # not a parameter: outside the module tree
    return cached


# MLX class -> its native subclass; exact types only, so a subclass with its own __call__ is kept.
REPLACEMENTS: dict[type, type] = {
    nn.QuantizedLinear: NativeQuantizedLinear,
    nn.QuantizedEmbedding: NativeQuantizedEmbedding,
    nn.RMSNorm: NativeRMSNorm,
    GemmaRMSNorm: NativeGemmaRMSNorm,
    nn.RoPE: NativeRoPE,
    Llama3RoPE: NativeLlama3RoPE,
}


def _supported(module: nn.Module) -> bool:
    if isinstance(module, nn.QuantizedLinear | nn.QuantizedEmbedding):
        return getattr(module, "mode", "affine") == "affine" and module.get("biases") is not None
    return True


def use_native_kernels(model: nn.Module) -> int:
    """Swap every supported module of `model` for its native subclass, in place; returns how many.

    Does nothing (returns 0) unless the kernels are available (built, and MLX on the CPU). The swap
    changes only the instances' class: the subclasses add no state of their own."""
    if not native.available():
        return 0
    swapped = 0
    for _, module in model.named_modules():
        replacement = REPLACEMENTS.get(type(module))
        if replacement is not None and _supported(module):
            module.__class__ = replacement
            swapped += 1
    return swapped
