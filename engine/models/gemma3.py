"""Gemma 3 (text): a pre-norm and post-norm decoder with interleaved local and global attention.

x -> embed * sqrt(d) -> N x [x + Norm(Attn(Norm(x))); x + Norm(GeGLU(Norm(x)))] -> Norm -> tied head.
Four RMSNorms a block (before and after attention, before and after the MLP), each scaling by
(1 + γ). Five of every six layers ("local") attend to the last `sliding_window` positions only,
with RoPE base `rope_local_base_freq`; every sixth ("global") attends to everything, with RoPE base
`rope_theta`. Queries and keys are RMS-normalised per head before RoPE (q/k norm); the attention
scale is query_pre_attn_scalar^-1/2. The MLP is GELU (tanh approximation) gated. Few KV heads
(the 270M model: one, multi-query attention).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import mlx.core as mx
import mlx.nn as nn

from engine import chat_templates, kernels
from engine.cache import CachedToken, KVCache
from engine.capture import Capture, LayerCapture
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
    head_dim: int
    vocab_size: int
    num_key_value_heads: int = 1
    rms_norm_eps: float = 1e-6
    rope_theta: float = 1_000_000.0
    rope_local_base_freq: float = 10_000.0
    rope_scaling: dict[str, Any] | None = None
    query_pre_attn_scalar: float = 256.0
    sliding_window: int = 512
    sliding_window_pattern: int = 6
    layer_types: list[str] | None = None  # "sliding_attention" / "full_attention" per layer
    max_position_embeddings: int = 32768
    tie_word_embeddings: bool = True

    def __post_init__(self):
        if self.layer_types is None:
            pattern = self.sliding_window_pattern
            self.layer_types = [
                "full_attention" if (i + 1) % pattern == 0 else "sliding_attention"
                for i in range(self.num_hidden_layers)
            ]
        if len(self.layer_types) != self.num_hidden_layers:
            raise ValueError("layer_types must name every layer")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError("num_attention_heads must be a multiple of num_key_value_heads")

    def window(self, layer: int) -> int | None:
        """The positions layer `layer` attends to (None: all of them)."""
        return self.sliding_window if self.layer_types[layer] == "sliding_attention" else None


class RMSNorm(nn.Module):
    """RMSNorm scaling by (1 + γ), γ starting at zero (Gemma's form)."""

    def __init__(self, dims: int, eps: float):
        super().__init__()
        self.weight = mx.zeros((dims,))
        self.eps = eps

    def __call__(self, x: mx.array) -> mx.array:
        return mx.fast.rms_norm(x, 1.0 + self.weight, self.eps)


class Attention(nn.Module):
    def __init__(self, args: ModelArgs, layer: int):
        super().__init__()
        dim, self.head_dim = args.hidden_size, args.head_dim
        self.n_heads, self.n_kv_heads = args.num_attention_heads, args.num_key_value_heads
        self.scale = args.query_pre_attn_scalar**-0.5
        self.q_proj = nn.Linear(dim, self.n_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(dim, self.n_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(dim, self.n_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, dim, bias=False)
        self.q_norm = RMSNorm(self.head_dim, args.rms_norm_eps)
        self.k_norm = RMSNorm(self.head_dim, args.rms_norm_eps)
        local = args.window(layer) is not None
        base = args.rope_local_base_freq if local else args.rope_theta
        self.rope = make_rope(self.head_dim, base, False, None if local else args.rope_scaling)

    def __call__(self, x: mx.array, cache: KVCache, capture: LayerCapture | None = None) -> mx.array:
        q, k, v = kernels.project(x, self.q_proj, self.k_proj, self.v_proj)  # (B, L, heads·hd), (B, L, kv·hd) ×2
        out = rotary_attention(q, k, v, cache, self.rope, self.n_heads, self.n_kv_heads, self.scale, capture,
                               q_norm=self.q_norm, k_norm=self.k_norm)  # the cache knows its window
        return self.o_proj(out)  # (B, L, dim)


class MLP(nn.Module):
    """GeGLU: down(gelu_tanh(gate(x)) * up(x))."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        dim, hidden = args.hidden_size, args.intermediate_size
        self.gate_proj = nn.Linear(dim, hidden, bias=False)
        self.up_proj = nn.Linear(dim, hidden, bias=False)
        self.down_proj = nn.Linear(hidden, dim, bias=False)

    def __call__(self, x: mx.array) -> mx.array:
        return self.down_proj(kernels.geglu(x, self.gate_proj, self.up_proj))


class Block(nn.Module):
    def __init__(self, args: ModelArgs, layer: int):
        super().__init__()
        eps = args.rms_norm_eps
        self.self_attn = Attention(args, layer)
        self.mlp = MLP(args)
        self.input_layernorm = RMSNorm(args.hidden_size, eps)
        self.post_attention_layernorm = RMSNorm(args.hidden_size, eps)
        self.pre_feedforward_layernorm = RMSNorm(args.hidden_size, eps)
        self.post_feedforward_layernorm = RMSNorm(args.hidden_size, eps)

    def __call__(self, x: mx.array, cache: KVCache, capture: LayerCapture | None = None) -> mx.array:
        attn = self.post_attention_layernorm(self.self_attn(self.input_layernorm(x), cache, capture))  # (B, L, dim)
        h = x + attn
        mlp = self.post_feedforward_layernorm(self.mlp(self.pre_feedforward_layernorm(h)))  # (B, L, dim)
        out = h + mlp
        if capture is not None:
            capture.block(attn, mlp, out)
        return out


class Model(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.args = args
        self.embed_tokens = nn.Embedding(args.vocab_size, args.hidden_size)
        self.layers = [Block(args, i) for i in range(args.num_hidden_layers)]
        self.norm = RMSNorm(args.hidden_size, args.rms_norm_eps)
        if not args.tie_word_embeddings:
            self.lm_head = nn.Linear(args.hidden_size, args.vocab_size, bias=False)
        self.embed_scale = math.sqrt(args.hidden_size)  # exact, as llama.cpp (HF rounds it to bf16)

    def __call__(self, tokens: mx.array, cache: list[KVCache], capture: Capture | None = None) -> mx.array:
        h = self.embed_tokens(tokens) * self.embed_scale  # (B, L, dim)
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
        """Drop a tied head's copy; a multimodal checkpoint's text tower loses its prefix."""
        weights = {k.removeprefix("language_model.").removeprefix("model."): v for k, v in weights.items()}
        weights = {k: v for k, v in weights.items() if not k.startswith(("vision_tower", "multi_modal"))}
        if self.args.tie_word_embeddings:
            weights = {k: v for k, v in weights.items() if not k.startswith("lm_head.")}
        return weights

    def make_cache(self, kind: str = "plain", window: int | None = None, bits: int = 8) -> list[KVCache]:
        """Local layers: a rotating cache of their window; global layers: `kind`."""
        return windowed_caches([self.args.window(i) for i in range(len(self.layers))], kind, window, bits)


def cached_token(config: Mapping[str, Any]) -> CachedToken:
    """Keys and values in every layer; the local layers keep only their window."""
    args = ModelArgs.from_dict(config)
    return keys_and_values({**config, **args.to_dict()}, windowed=sum(args.window(i) is not None for i in range(args.num_hidden_layers)))


def config_from_gguf(meta: GGUFMeta) -> dict[str, Any]:
    """llama.cpp stores no local RoPE base or layer pattern for Gemma 3: it hard-codes 10000 and
    every sixth layer global, as the released models are; the scale is 1/sqrt(head_dim)."""
    config = llama_like_config(meta)
    config.update(
        sliding_window=int(meta.arch("attention.sliding_window")),
        sliding_window_pattern=6,
        rope_local_base_freq=10_000.0,
        query_pre_attn_scalar=float(config["head_dim"]),
        rms_norm_eps=float(meta.arch("attention.layer_norm_rms_epsilon", 1e-6)),
    )
    return config


GGUF_LAYER_NAMES = {
    "attn_norm": "input_layernorm", "post_attention_norm": "post_attention_layernorm",
    "ffn_norm": "pre_feedforward_layernorm", "post_ffw_norm": "post_feedforward_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
}

ARCHITECTURE = Architecture(
    names=("gemma3", "gemma3_text"),
    hf_classes={"gemma3": "Gemma3ForCausalLM", "gemma3_text": "Gemma3ForCausalLM"},
    args=ModelArgs,
    model=Model,
    gguf=GGUFLayout(GGUF_LAYER_NAMES, norm_shift=1.0),  # llama.cpp stores 1 + γ; NEOX RoPE: no permutation
    config_from_gguf=config_from_gguf,
    cached_token=cached_token,
    chat_template=chat_templates.GEMMA,
    template_name="Gemma",
)
