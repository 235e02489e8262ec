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

    @property
    def native_parts(self) -> tuple[mx.array, mx.array, mx.array, int, int] | None:
        """(weight, scales, biases, group size, bits) for the fused kernels of engine/kernels.py
        (`project`, `swiglu`); None with a bias, which they do not add."""
        if "bias" in self:
            return None
        return self["weight"], self["scales"], self["biases"], self.group_size, self.bits


class NativeQuantizedEmbedding(nn.QuantizedEmbedding):
    """nn.QuantizedEmbedding as one kernel call per lookup (MLX's is ~35 small operations): the
    rows of the ids are gathered and dequantized, any group size the kernels take (16 too: GGUF
    Q6_K); `as_linear` (a tied LM head) is the quantized matmul over the same compact table."""

    def __call__(self, x: mx.array) -> mx.array:
        return native.quantized_take(self["weight"], self["scales"], self["biases"], x, self.group_size, self.bits)

    def as_linear(self, x: mx.array) -> mx.array:
        return native.quantized_matmul(x, self["weight"], self["scales"], self["biases"], self.group_size, self.bits)


class NativeRMSNorm(nn.RMSNorm):
    def __call__(self, x: mx.array) -> mx.array:
        return native.rms_norm(x, self["weight"], self.eps)

    @property
    def native_norm(self) -> native.Norm:
        """What the fused decode-attention kernels take to apply this norm to each head themselves
        (a query or key norm: engine/models/base.py:rotary_attention)."""
        return self["weight"], self.eps


class NativeGemmaRMSNorm(GemmaRMSNorm):
    """Gemma's RMSNorm (scaling by 1 + γ) in one pass; 1 + γ is computed once per weight array."""

    def __call__(self, x: mx.array) -> mx.array:
        return native.rms_norm(x, *self.native_norm)

    @property
    def native_norm(self) -> native.Norm:
        """(1 + γ, eps), as NativeRMSNorm.native_norm."""
        weight = self["weight"]
        cached = self.__dict__.get("_glassbox_scale")
        if cached is None or cached[0] is not weight:  # new weights (a load, an update): recompute
            scale = 1.0 + weight
            mx.eval(scale)
            cached = (weight, scale)
            self.__dict__["_glassbox_scale"] = cached  # not a parameter: outside the module tree
        return cached[1], self.eps


class NativeRoPE(nn.RoPE):
    """nn.RoPE in one pass; the inverse frequencies are MLX's own formula, computed once.

    `rotation` is what the fused decode-attention kernels take instead of calling the module
    (engine/models/base.py:rotary_attention)."""

    def __call__(self, x: mx.array, offset: int = 0) -> mx.array:
        return native.rope(x, *self.rotation, offset)

    @property
    def rotation(self) -> native.Rotation:
        return _inverse_frequencies(self), self.dims, self.traditional, self.scale


class NativeLlama3RoPE(Llama3RoPE):
    def __call__(self, x: mx.array, offset: int = 0) -> mx.array:
        return native.rope(x, *self.rotation, offset)

    @property
    def rotation(self) -> native.Rotation:
        return _inverse_frequencies(self), self.dims, self.traditional, 1.0


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
