"""The Llama family (Llama 2/3, SmolLM, Mistral-style): a pre-norm decoder-only transformer.

x -> embed -> N x [x + Attn(RMSNorm(x)); x + SwiGLU(RMSNorm(x))] -> RMSNorm -> LM head.
Attention uses rotary position embeddings (rotate-half form) and grouped-query attention: each
key/value head is shared by `n_heads // n_kv_heads` query heads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mlx.core as mx
import mlx.nn as nn

from engine import chat_templates, kernels
from engine.cache import KVCache
from engine.capture import Capture, LayerCapture
from engine.models.base import (
    Architecture,
    BaseModelArgs,
    GGUFLayout,
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
    rope_traditional: bool = False
    rope_scaling: dict[str, Any] | None = None
    max_position_embeddings: int = 4096
    tie_word_embeddings: bool = True
    attention_bias: bool = False
    mlp_bias: bool = False
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
        bias = args.attention_bias
        self.q_proj = nn.Linear(dim, self.n_heads * self.head_dim, bias=bias)
        self.k_proj = nn.Linear(dim, self.n_kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(dim, self.n_kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, dim, bias=bias)
        self.rope = make_rope(self.head_dim, args.rope_theta, args.rope_traditional, args.rope_scaling)

    def __call__(self, x: mx.array, cache: KVCache, capture: LayerCapture | None = None) -> mx.array:
        q, k, v = kernels.project(x, self.q_proj, self.k_proj, self.v_proj)  # (B, L, heads·hd), (B, L, kv·hd) ×2
        out = rotary_attention(q, k, v, cache, self.rope, self.n_heads, self.n_kv_heads, self.scale, capture)
        return self.o_proj(out)  # (B, L, dim)


class MLP(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x))."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        dim, hidden, bias = args.hidden_size, args.intermediate_size, args.mlp_bias
        self.gate_proj = nn.Linear(dim, hidden, bias=bias)
        self.up_proj = nn.Linear(dim, hidden, bias=bias)
        self.down_proj = nn.Linear(hidden, dim, bias=bias)

    def __call__(self, x: mx.array) -> mx.array:
        return self.down_proj(kernels.swiglu(x, self.gate_proj, self.up_proj))


class Block(nn.Module):
    attention = Attention  # a variant's file subclasses Block to swap the attention (qwen2, qwen3)
    feed_forward = MLP  # ... or the MLP (phi3's fused gate/up)

    def __init__(self, args: ModelArgs, layer: int = 0):
        super().__init__()
        self.self_attn = self.attention(args)
        self.mlp = self.feed_forward_of(args, layer)
        self.input_layernorm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)
        self.post_attention_layernorm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)

    def feed_forward_of(self, args: ModelArgs, layer: int) -> nn.Module:
        """Layer `layer`'s MLP (a mixture-of-experts file returns its experts for sparse layers)."""
        return self.feed_forward(args)

    def __call__(self, x: mx.array, cache: KVCache, capture: LayerCapture | None = None) -> mx.array:
        attn = self.self_attn(self.input_layernorm(x), cache, capture)  # (B, L, dim)
        h = x + attn
        mlp = self.mlp(self.post_attention_layernorm(h))  # (B, L, dim)
        out = h + mlp
        if capture is not None:
            capture.block(attn, mlp, out)
        return out


class Model(nn.Module):
    block = Block

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.embed_tokens = nn.Embedding(args.vocab_size, args.hidden_size)
        self.layers = [self.block(args, i) for i in range(args.num_hidden_layers)]
        self.norm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)
        if not args.tie_word_embeddings:
            self.lm_head = nn.Linear(args.hidden_size, args.vocab_size, bias=False)

    def __call__(self, tokens: mx.array, cache: list[KVCache], capture: Capture | None = None) -> mx.array:
        h = self.embed_tokens(tokens)  # (B, L, dim)
        if capture is not None:
            capture.embedding(h)
        for i, (layer, layer_cache) in enumerate(zip(self.layers, cache, strict=True)):  # one cache per layer
            h = layer(h, layer_cache, capture.layer(i) if capture is not None else None)
        return self.head(h)

    def head(self, h: mx.array) -> mx.array:
        """Final norm + LM head: residual stream (..., dim) -> logits (..., vocab)."""
        h = self.norm(h)
        if self.args.tie_word_embeddings:
            return self.embed_tokens.as_linear(h)  # (B, L, vocab)
        return self.lm_head(h)  # (B, L, vocab)

    def sanitize(self, weights: dict[str, mx.array]) -> dict[str, mx.array]:
        """Drop tensors the model computes itself (rotary tables, a tied head's copy)."""
        weights = {k: v for k, v in weights.items() if "rotary_emb.inv_freq" not in k}
        if self.args.tie_word_embeddings:
            weights = {k: v for k, v in weights.items() if not k.startswith("lm_head.")}
        return weights

    def make_cache(self, kind: str = "plain", window: int | None = None, bits: int = 8) -> list[KVCache]:
        """One cache per layer (see `windowed_caches`); every layer shares the model's window."""
        return windowed_caches([self.args.sliding_window] * len(self.layers), kind, window, bits)


# llama.cpp's tensor names inside a block -> ours
GGUF_LAYER_NAMES = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}

ARCHITECTURE = Architecture(
    names=("llama", "smollm"),
    hf_classes={"llama": "LlamaForCausalLM", "smollm": "LlamaForCausalLM"},
    args=ModelArgs,
    model=Model,
    gguf=GGUFLayout(GGUF_LAYER_NAMES, permute_qk=True),
    config_from_gguf=llama_like_config,
    cached_token=keys_and_values,
    chat_template=chat_templates.CHATML,
    template_name="ChatML",
)
