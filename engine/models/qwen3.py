"""Qwen 3 (dense): the Llama architecture with queries and keys RMS-normalised per head before RoPE.

q/k norm: each head's query and key vectors pass through their own RMSNorm (weights of head_dim),
which keeps attention logits bounded without the Qwen 2 biases. head_dim is given explicitly
(128 even where hidden / heads differs). ChatML is the family's template.
"""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn

from engine import chat_templates, kernels
from engine.cache import KVCache
from engine.capture import LayerCapture
from engine.models import llama
from engine.models.base import Architecture, GGUFLayout, keys_and_values, llama_like_config, rotary_attention


class Attention(llama.Attention):
    def __init__(self, args: llama.ModelArgs):
        super().__init__(args)
        self.q_norm = nn.RMSNorm(args.head_dim, eps=args.rms_norm_eps)
        self.k_norm = nn.RMSNorm(args.head_dim, eps=args.rms_norm_eps)

    def __call__(self, x: mx.array, cache: KVCache, capture: LayerCapture | None = None) -> mx.array:
        B, L, _ = x.shape
        q, k, v = kernels.project(x, self.q_proj, self.k_proj, self.v_proj)  # (B, L, heads·hd), (B, L, kv·hd) ×2
        out = rotary_attention(q, k, v, cache, self.rope, self.n_heads, self.n_kv_heads, self.scale, capture,
                               q_norm=self.q_norm, k_norm=self.k_norm)  # q and k normed per head
        return self.o_proj(out)  # (B, L, dim)


class Block(llama.Block):
    attention = Attention


class Model(llama.Model):
    block = Block


GGUF_LAYER_NAMES = {
    **llama.GGUF_LAYER_NAMES, "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
}

ARCHITECTURE = Architecture(
    names=("qwen3",),
    hf_classes={"qwen3": "Qwen3ForCausalLM"},
    args=llama.ModelArgs,
    model=Model,
    gguf=GGUFLayout(GGUF_LAYER_NAMES),
    config_from_gguf=llama_like_config,
    cached_token=keys_and_values,
    chat_template=chat_templates.CHATML,
    template_name="ChatML",
)
