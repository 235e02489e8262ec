"""Routed experts for mixture-of-experts blocks (qwen3_moe, deepseek_v3): the layers, not the routing.

Each architecture's file decides which experts a token goes to and with what weight (its router);
this module only runs a token through the experts it was sent to. The E experts' matrices are
stacked into one (E, out, in) tensor per projection, the layout mlx-lm's `switch_mlp` uses and
llama.cpp's `ffn_*_exps` tensors hold, and `mx.gather_mm` multiplies each token by its own
experts' matrices without materialising anything per expert.
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn

from engine import kernels


class SwitchLinear(nn.Module):
    """E stacked linear maps: weight (E, out, in), and bias (E, out) when `bias` (gpt-oss)."""

    def __init__(self, input_dims: int, output_dims: int, num_experts: int, bias: bool = False):
        super().__init__()
        scale = math.sqrt(1.0 / input_dims)
        self.weight = mx.random.uniform(-scale, scale, (num_experts, output_dims, input_dims))
        if bias:
            self.bias = mx.zeros((num_experts, output_dims))

    def __call__(self, x: mx.array, indices: mx.array) -> mx.array:
        """x (..., 1, 1, in), indices (..., k) -> (..., k, 1, out): token i through expert indices[i, j]."""
        return _with_bias(self, mx.gather_mm(x, self.weight.swapaxes(-1, -2), rhs_indices=indices), indices)

    def to_quantized(self, group_size: int = 64, bits: int = 4, mode: str = "affine", **_) -> QuantizedSwitchLinear:
        ql = QuantizedSwitchLinear(group_size, bits, "bias" in self)
        ql.weight, ql.scales, ql.biases = mx.quantize(self.weight, group_size, bits)
        if "bias" in self:
            ql.bias = self.bias
        return ql


def _with_bias(layer: nn.Module, y: mx.array, indices: mx.array) -> mx.array:
    """y (..., k, 1, out) plus each chosen expert's bias, when the layer has them."""
    return y + mx.expand_dims(layer["bias"][indices], -2) if "bias" in layer else y


class QuantizedSwitchLinear(nn.Module):
    """SwitchLinear held in MLX's affine layout (what mlx-lm writes for a quantized MoE)."""

    def __init__(self, group_size: int, bits: int, bias: bool = False):
        super().__init__()
        self.group_size, self.bits = group_size, bits
        self.weight = self.scales = self.biases = None
        if bias:
            self.bias = None
        self.freeze()

    def __call__(self, x: mx.array, indices: mx.array) -> mx.array:
        y = mx.gather_qmm(
            x, self["weight"], self["scales"], self["biases"], rhs_indices=indices, transpose=True,
            group_size=self.group_size, bits=self.bits,
        )
        return _with_bias(self, y, indices)


class SwitchGLU(nn.Module):
    """E gated experts: expert e computes down_e(glu(gate_e(x), up_e(x))), glu SwiGLU's
    silu(gate) * up unless the architecture gives its own (gpt-oss's clamped variant); `bias`:
    every projection has one per expert."""

    def __init__(self, dim: int, hidden: int, num_experts: int, bias: bool = False, glu=None):
        super().__init__()
        self.gate_proj = SwitchLinear(dim, hidden, num_experts, bias)
        self.up_proj = SwitchLinear(dim, hidden, num_experts, bias)
        self.down_proj = SwitchLinear(hidden, dim, num_experts, bias)
        self._glu = glu or (lambda gate, up: kernels.silu(gate) * up)

    def __call__(self, x: mx.array, indices: mx.array) -> mx.array:
        """x (B, L, dim), indices (B, L, k) -> (B, L, k, dim): each token through each of its k experts."""
        x = mx.expand_dims(x, (-2, -3))  # (B, L, 1, 1, dim)
        h = self._glu(self.gate_proj(x, indices), self.up_proj(x, indices))  # (B, L, k, 1, hidden)
        return self.down_proj(h, indices).squeeze(-2)  # (B, L, k, dim)


def stack_experts(weights: dict[str, mx.array], n_layers: int, n_experts: int, source: str, target: str) -> dict[str, mx.array]:
    """Hugging Face checkpoints store one tensor per expert (`layers.N.<source>.E.gate_proj.weight`):
    stack them into `layers.N.<target>.gate_proj.weight` (E, out, in), and likewise for up/down."""
    out = dict(weights)
    for layer in range(n_layers):
        for proj in ("gate_proj", "up_proj", "down_proj"):
            for part in ("weight", "scales", "biases"):
                first = f"layers.{layer}.{source}.0.{proj}.{part}"
                if first not in out:
                    continue
                parts = [out.pop(f"layers.{layer}.{source}.{e}.{proj}.{part}") for e in range(n_experts)]
                out[f"layers.{layer}.{target}.{proj}.{part}"] = mx.stack(parts)
    return out
