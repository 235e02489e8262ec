"""Phi-3: a Llama-like decoder whose projections are fused.

Attention computes queries, keys and values with one matrix (`qkv_proj`, rows: q then k then v);
the MLP computes gate and up with one (`gate_up_proj`, rows: gate then up), then
down(silu(gate) * up). RoPE in rotate-half form (llama.cpp's NEOX: GGUF rows unpermuted). The
models are trained with a sliding window (2047 for Phi-3-mini-4k): every layer gets a rotating
cache of it. Long-context variants (rope_scaling "longrope") are refused by name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mlx.core as mx
import mlx.nn as nn

from engine import chat_templates, kernels
from engine.cache import KVCache
from engine.capture import Capture, LayerCapture
from engine.models import llama
from engine.models.base import (
    Architecture,
    BaseModelArgs,
    GGUFLayout,
    GGUFMeta,
    keys_and_values,
    llama_like_config,
    make_rope,
    rotary_attention,
    windowed_caches,
)


@dataclass
class ModelArgs(BaseModelArgs):
    hidden_size: int
    num_hidden_layers: int
    intermediate_size: int
    num_attention_heads: int
    vocab_size: int
    rms_norm_eps: float = 1e-5
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    rope_theta: float = 10000.0
    rope_scaling: dict[str, Any] | None = None
    max_position_embeddings: int = 4096
    tie_word_embeddings: bool = False
    sliding_window: int | None = None

    def __post_init__(self):
        self.num_key_value_heads = self.num_key_value_heads or self.num_attention_heads
        self.head_dim = self.head_dim or self.hidden_size // self.num_attention_heads
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")


class Attention(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        dim, self.head_dim = args.hidden_size, args.head_dim
        self.n_heads, self.n_kv_heads = args.num_attention_heads, args.num_key_value_heads
        self.scale = self.head_dim**-0.5
        self.qkv_proj = nn.Linear(dim, (self.n_heads + 2 * self.n_kv_heads) * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, dim, bias=False)
        self.rope = make_rope(self.head_dim, args.rope_theta, False, args.rope_scaling)

    def __call__(self, x: mx.array, cache: KVCache, capture: LayerCapture | None = None) -> mx.array:
        q_size, kv_size = self.n_heads * self.head_dim, self.n_kv_heads * self.head_dim
        q, k, v = mx.split(self.qkv_proj(x), [q_size, q_size + kv_size], axis=-1)  # (B, L, ·)
        out = rotary_attention(q, k, v, cache, self.rope, self.n_heads, self.n_kv_heads, self.scale, capture)
        return self.o_proj(out)  # (B, L, dim)


class MLP(nn.Module):
    """SwiGLU from one fused matrix: gate, up = split(gate_up(x)); down(silu(gate) * up)."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.gate_up_proj = nn.Linear(args.hidden_size, 2 * args.intermediate_size, bias=False)
        self.down_proj = nn.Linear(args.intermediate_size, args.hidden_size, bias=False)

    def __call__(self, x: mx.array) -> mx.array:
        gate, up = mx.split(self.gate_up_proj(x), 2, axis=-1)  # (B, L, hidden) each
        return self.down_proj(kernels.silu(gate) * up)


class Block(llama.Block):
    """Llama's pre-norm block with phi3's fused attention and MLP."""

    attention = Attention
    feed_forward = MLP


class Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.embed_tokens = nn.Embedding(args.vocab_size, args.hidden_size)
        self.layers = [Block(args) for _ in range(args.num_hidden_layers)]
        self.norm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)
        if not args.tie_word_embeddings:
            self.lm_head = nn.Linear(args.hidden_size, args.vocab_size, bias=False)

    def __call__(self, tokens: mx.array, cache: list[KVCache], capture: Capture | None = None) -> mx.array:
        h = self.embed_tokens(tokens)  # (B, L, dim)
        if capture is not None:
            capture.embedding(h)
        for i, (layer, layer_cache) in enumerate(zip(self.layers, cache, strict=True)):
            h = layer(h, layer_cache, capture.layer(i) if capture is not None else None)
        return self.head(h)

    def head(self, h: mx.array) -> mx.array:
        """Final norm + LM head: residual stream (..., dim) -> logits (..., vocab)."""
        h = self.norm(h)
        if self.args.tie_word_embeddings:
            return self.embed_tokens.as_linear(h)  # (B, L, vocab)
        return self.lm_head(h)

    def sanitize(self, weights: dict[str, mx.array]) -> dict[str, mx.array]:
        weights = {k: v for k, v in weights.items() if "rotary_emb.inv_freq" not in k}
        if self.args.tie_word_embeddings:
            weights = {k: v for k, v in weights.items() if not k.startswith("lm_head.")}
        return weights

    def make_cache(self, kind: str = "plain", window: int | None = None, bits: int = 8) -> list[KVCache]:
        return windowed_caches([self.args.sliding_window] * len(self.layers), kind, window, bits)


def config_from_gguf(meta: GGUFMeta) -> dict[str, Any]:
    config = llama_like_config(meta)
    window = meta.arch("attention.sliding_window", None)
    config["sliding_window"] = int(window) if window else None
    return config


GGUF_LAYER_NAMES = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_qkv": "self_attn.qkv_proj", "attn_output": "self_attn.o_proj",
    "ffn_up": "mlp.gate_up_proj", "ffn_down": "mlp.down_proj",
}

ARCHITECTURE = Architecture(
    names=("phi3",),
    hf_classes={"phi3": "Phi3ForCausalLM"},
    args=ModelArgs,
    model=Model,
    gguf=GGUFLayout(GGUF_LAYER_NAMES),
    config_from_gguf=config_from_gguf,
    cached_token=keys_and_values,
    chat_template=chat_templates.PHI3,
    template_name="Phi-3",
)
