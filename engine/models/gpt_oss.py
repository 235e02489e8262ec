"""gpt-oss (OpenAI, 2025): a mixture-of-experts transformer whose attention layers alternate
between a sliding window and the whole context, with a learned attention sink per head.

x -> embed -> N x [x + Attn(RMSNorm(x)); x + MoE(RMSNorm(x))] -> RMSNorm -> LM head (untied).

Attention: grouped-query, biases on every projection, rotate-half RoPE (YaRN-scaled in the
released models). Layer i attends to the last `sliding_window` tokens when `layer_types[i]` is
"sliding_attention" (by default the even layers), to everything otherwise. Each head h has a sink
logit s_h that joins the softmax's normaliser but carries no value:

    w_ij = exp(q_i·k_j / √d) / (exp(s_h) + Σ_j' exp(q_i·k_j' / √d))

so a head can give little weight to every token (`cache.attend(..., sinks=)`).

Mixture of experts: a linear router with bias scores the E experts; the top k logits are
softmaxed (over those k only) into the gates. Each expert is a clamped gated unit with biases:
    glu = min(gate, 7) · σ(1.702 · min(gate, 7)) · (clip(up, −7, 7) + 1),   out = down(glu).
The Harmony chat format is the family's template: a file without one gets ChatML, said so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mlx.core as mx
import mlx.nn as nn

from engine import chat_templates
from engine.cache import CachedToken, KVCache
from engine.capture import LayerCapture
from engine.models import llama
from engine.models.base import (
    Architecture,
    GGUFLayout,
    GGUFMeta,
    keys_and_values,
    llama_like_config,
    windowed_caches,
)
from engine.models.experts import SwitchGLU

GLU_ALPHA, GLU_LIMIT = 1.702, 7.0


@dataclass
class ModelArgs(llama.ModelArgs):
    num_local_experts: int = 0
    num_experts_per_tok: int = 1
    layer_types: list[str] | None = None  # "sliding_attention" / "full_attention" per layer
    tie_word_embeddings: bool = False
    attention_bias: bool = True

    def __post_init__(self):
        super().__post_init__()
        if self.layer_types is None:
            self.layer_types = ["sliding_attention", "full_attention"] * (self.num_hidden_layers // 2)
            self.layer_types += ["sliding_attention"] * (self.num_hidden_layers % 2)
        if len(self.layer_types) != self.num_hidden_layers:
            raise ValueError("layer_types must name every layer")
        if not 0 < self.num_experts_per_tok <= self.num_local_experts:
            raise ValueError("num_experts_per_tok must be between 1 and num_local_experts")

    def window(self, layer: int) -> int | None:
        """The window layer `layer` attends within (None: the whole context)."""
        return self.sliding_window if self.layer_types[layer] == "sliding_attention" else None


class Attention(llama.Attention):
    """Llama's attention with biases (args.attention_bias) and one sink logit per head."""

    def __init__(self, args: ModelArgs):
        super().__init__(args)
        self.sinks = mx.zeros((args.num_attention_heads,))  # s_h

    def __call__(self, x: mx.array, cache: KVCache, capture: LayerCapture | None = None) -> mx.array:
        B, L, _ = x.shape
        q = self.q_proj(x).reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)  # (B, heads, L, hd)
        k = self.k_proj(x).reshape(B, L, self.n_kv_heads, -1).transpose(0, 2, 1, 3)  # (B, kv, L, hd)
        v = self.v_proj(x).reshape(B, L, self.n_kv_heads, -1).transpose(0, 2, 1, 3)  # (B, kv, L, hd)
        q, k = self.rope(q, offset=cache.offset), self.rope(k, offset=cache.offset)
        mask = cache.make_mask(L)
        k, v = cache.update_and_fetch(k, v)  # (B, kv, S, hd)
        if capture is not None and capture.wants_weights:
            out = capture.attend(q, k, v, self.scale, mask, sinks=self.sinks)  # (B, heads, L, hd)
        else:
            out = cache.attend(q, k, v, scale=self.scale, mask=mask, sinks=self.sinks)  # (B, heads, L, hd)
        return self.o_proj(out.transpose(0, 2, 1, 3).reshape(B, L, -1))  # (B, L, dim)


def clamped_glu(gate: mx.array, up: mx.array) -> mx.array:
    gate = mx.minimum(gate, GLU_LIMIT)
    return gate * mx.sigmoid(GLU_ALPHA * gate) * (mx.clip(up, -GLU_LIMIT, GLU_LIMIT) + 1.0)


class MoE(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.top_k = args.num_experts_per_tok
        self.router = nn.Linear(args.hidden_size, args.num_local_experts, bias=True)
        self.experts = SwitchGLU(args.hidden_size, args.intermediate_size, args.num_local_experts, bias=True,
                                 glu=clamped_glu)

    def __call__(self, x: mx.array) -> mx.array:
        logits = self.router(x)  # (B, L, E)
        experts = mx.argpartition(-logits, kth=self.top_k - 1, axis=-1)[..., : self.top_k]  # (B, L, k)
        gates = mx.softmax(mx.take_along_axis(logits, experts, axis=-1), axis=-1, precise=True)  # (B, L, k)
        y = self.experts(x, experts)  # (B, L, k, dim)
        return (y * gates[..., None]).sum(axis=-2).astype(x.dtype)  # (B, L, dim)


class Block(llama.Block):
    attention = Attention
    feed_forward = MoE


class Model(llama.Model):
    block = Block

    def sanitize(self, weights: dict[str, mx.array]) -> dict[str, mx.array]:
        """Hugging Face's fused experts: `gate_up_proj` (E, in, 2 × hidden) with gate and up
        interleaved along the last axis (and its `_bias`), `down_proj` (E, hidden, in), become
        stacked (E, out, in) gate/up/down projections; folders already split are kept."""
        out = {}
        for name, w in super().sanitize(weights).items():
            if name.endswith("mlp.experts.gate_up_proj"):
                base = name.removesuffix("gate_up_proj")
                out[base + "gate_proj.weight"] = mx.contiguous(w[..., ::2].swapaxes(-1, -2))
                out[base + "up_proj.weight"] = mx.contiguous(w[..., 1::2].swapaxes(-1, -2))
            elif name.endswith("mlp.experts.gate_up_proj_bias"):
                base = name.removesuffix("gate_up_proj_bias")
                out[base + "gate_proj.bias"], out[base + "up_proj.bias"] = w[..., ::2], w[..., 1::2]
            elif name.endswith("mlp.experts.down_proj"):
                out[name + ".weight"] = mx.contiguous(w.swapaxes(-1, -2))
            elif name.endswith("mlp.experts.down_proj_bias"):
                out[name.removesuffix("_bias") + ".bias"] = w
            else:
                out[name] = w
        return out

    def make_cache(self, kind: str = "plain", window: int | None = None, bits: int = 8) -> list[KVCache]:
        """Sliding layers: a rotating cache of their window; full-attention layers: `kind`."""
        return windowed_caches([self.args.window(i) for i in range(len(self.layers))], kind, window, bits)


def cached_token(config: Mapping[str, Any]) -> CachedToken:
    """Keys and values in every layer; the sliding layers keep only their window."""
    args = ModelArgs.from_dict(config)
    return keys_and_values({**config, **args.to_dict()},
                           windowed=sum(args.window(i) is not None for i in range(args.num_hidden_layers)))


def config_from_gguf(meta: GGUFMeta) -> dict[str, Any]:
    """llama.cpp's `gpt-oss` keys; it hard-codes the even layers as the sliding ones."""
    config = llama_like_config(meta)
    config.update(
        model_type="gpt_oss",
        num_local_experts=int(meta.arch("expert_count")),
        num_experts_per_tok=int(meta.arch("expert_used_count")),
        intermediate_size=int(meta.arch("expert_feed_forward_length")),
        sliding_window=int(meta.arch("attention.sliding_window")),
        attention_bias=True,
    )
    if meta.arch("rope.scaling.type", None) == "yarn":
        config["rope_scaling"] = {
            "rope_type": "yarn", "factor": float(meta.arch("rope.scaling.factor")),
            "original_max_position_embeddings": int(meta.arch("rope.scaling.original_context_length")),
        }
    return config


GGUF_LAYER_NAMES = {
    "attn_norm": "input_layernorm", "post_attention_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate_inp": "mlp.router",
    "ffn_gate_exps": "mlp.experts.gate_proj", "ffn_up_exps": "mlp.experts.up_proj",
    "ffn_down_exps": "mlp.experts.down_proj",
}

ARCHITECTURE = Architecture(
    names=("gpt_oss", "gpt-oss"),
    hf_classes={"gpt_oss": "GptOssForCausalLM"},
    args=ModelArgs,
    model=Model,
    gguf=GGUFLayout(GGUF_LAYER_NAMES, tensor_names={"attn_sinks.weight": "self_attn.sinks"}),
    config_from_gguf=config_from_gguf,
    cached_token=cached_token,
    chat_template=chat_templates.CHATML,
    template_name="ChatML",
)
