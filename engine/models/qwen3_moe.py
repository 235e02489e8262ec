"""Qwen 3 MoE: Qwen 3's attention (q/k RMSNorm) with a sparse mixture of SwiGLU experts as the MLP.

Per token, a linear router scores all E experts; the softmax of those scores picks the top k
(`num_experts_per_tok`), whose probabilities, renormalised to sum to one when `norm_topk_prob`
(every released Qwen 3 MoE), weight the k experts' outputs:

    p = softmax(W_router x);  S = top-k(p);  y = sum_{e in S} p_e / sum_{e' in S} p_e' * expert_e(x)

Layers listed in `mlp_only_layers`, or off the `decoder_sparse_step` grid, keep a dense MLP.
ChatML is the family's template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mlx.core as mx
import mlx.nn as nn

from engine import chat_templates
from engine.models import llama, qwen3
from engine.models.base import Architecture, GGUFLayout, GGUFMeta, keys_and_values, llama_like_config
from engine.models.experts import SwitchGLU, stack_experts


@dataclass
class ModelArgs(llama.ModelArgs):
    num_experts: int = 0
    num_experts_per_tok: int = 1
    moe_intermediate_size: int = 0
    decoder_sparse_step: int = 1
    mlp_only_layers: list[int] = field(default_factory=list)
    norm_topk_prob: bool = False  # Hugging Face's default; the released configs say true

    def __post_init__(self):
        super().__post_init__()
        if self.num_experts and not 0 < self.num_experts_per_tok <= self.num_experts:
            raise ValueError("num_experts_per_tok must be between 1 and num_experts")

    def is_sparse(self, layer: int) -> bool:
        return (
            self.num_experts > 0 and layer not in self.mlp_only_layers
            and (layer + 1) % self.decoder_sparse_step == 0
        )


class SparseMoeBlock(nn.Module):
    """Top-k routing over softmax probabilities, then the chosen experts' weighted sum."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.top_k, self.norm_topk_prob = args.num_experts_per_tok, args.norm_topk_prob
        self.gate = nn.Linear(args.hidden_size, args.num_experts, bias=False)  # the router
        self.switch_mlp = SwitchGLU(args.hidden_size, args.moe_intermediate_size, args.num_experts)

    def __call__(self, x: mx.array) -> mx.array:
        probs = mx.softmax(self.gate(x).astype(mx.float32), axis=-1, precise=True)  # (B, L, E)
        experts = mx.argpartition(-probs, kth=self.top_k - 1, axis=-1)[..., : self.top_k]  # (B, L, k)
        weights = mx.take_along_axis(probs, experts, axis=-1)  # (B, L, k)
        if self.norm_topk_prob:
            weights = weights / weights.sum(axis=-1, keepdims=True)
        y = self.switch_mlp(x, experts)  # (B, L, k, dim)
        return (y * weights[..., None]).sum(axis=-2).astype(x.dtype)  # (B, L, dim)


class Block(llama.Block):
    attention = qwen3.Attention

    def feed_forward_of(self, args: ModelArgs, layer: int) -> nn.Module:
        return SparseMoeBlock(args) if args.is_sparse(layer) else llama.MLP(args)


class Model(llama.Model):
    block = Block

    def sanitize(self, weights: dict[str, mx.array]) -> dict[str, mx.array]:
        """Hugging Face's per-expert tensors (`mlp.experts.E.*`) stacked into `mlp.switch_mlp.*`."""
        a = self.args
        return super().sanitize(stack_experts(weights, a.num_hidden_layers, a.num_experts, "mlp.experts", "mlp.switch_mlp"))


def config_from_gguf(meta: GGUFMeta) -> dict[str, Any]:
    """llama.cpp's qwen3moe always renormalises the top-k weights (it stores no flag for it)."""
    config = llama_like_config(meta)
    config.update(
        model_type="qwen3_moe",
        num_experts=int(meta.arch("expert_count")),
        num_experts_per_tok=int(meta.arch("expert_used_count")),
        moe_intermediate_size=int(meta.arch("expert_feed_forward_length")),
        norm_topk_prob=True,
    )
    return config


GGUF_LAYER_NAMES = {
    **qwen3.GGUF_LAYER_NAMES, "ffn_gate_inp": "mlp.gate",
    "ffn_gate_exps": "mlp.switch_mlp.gate_proj", "ffn_up_exps": "mlp.switch_mlp.up_proj",
    "ffn_down_exps": "mlp.switch_mlp.down_proj",
}

ARCHITECTURE = Architecture(
    names=("qwen3_moe", "qwen3moe"),
    hf_classes={"qwen3_moe": "Qwen3MoeForCausalLM"},
    args=ModelArgs,
    model=Model,
    gguf=GGUFLayout(GGUF_LAYER_NAMES),
    config_from_gguf=config_from_gguf,
    cached_token=keys_and_values,
    chat_template=chat_templates.CHATML,
    template_name="ChatML",
)
