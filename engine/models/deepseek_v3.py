"""DeepSeek V3 and V2: multi-head latent attention and a mixture of experts with a shared expert.

x -> embed -> N x [x + MLA(RMSNorm(x)); x + FFN(RMSNorm(x))] -> RMSNorm -> LM head, where FFN is a
dense SwiGLU in the first `first_k_dense_replace` layers and a mixture of experts after.

Multi-head latent attention (DeepSeek-V2 paper, §2.1): keys and values are not cached per head.
Each token is compressed to one latent c = RMSNorm(W^DKV x) of `kv_lora_rank` values plus one
RoPE key k^R = RoPE(W^KR x) of `qk_rope_head_dim` values shared by all heads; only (c, k^R) is
cached. Head h's key is [W^UK_h c ; k^R] and its value W^UV_h c. Instead of expanding them, the
up-projections are absorbed (§2.1.2): q^C_h·(W^UK_h c) = (W^UK_h^T q^C_h)·c, so each query's
non-RoPE part is mapped into latent space (`embed_q`, W^UK), attention runs against the latent
itself, and the attended latent is mapped out per head afterwards (`unembed_out`, W^UV). Queries
may be low-rank too (q_lora_rank: W^UQ RMSNorm(W^DQ x)). RoPE here is the interleaved
("traditional") form. The cache holds (kv_lora_rank + qk_rope_head_dim) floats per token and
layer, against 2 x heads x head_dim for full keys and values.

Mixture of experts (DeepSeek-V3 paper, §2.1.2): each token's affinity to expert i is
s_i = sigmoid(u·e_i). A bias b_i (learned for load balance) takes part only in choosing: the
experts split into `n_group` groups, each group scored by the sum of its two best s_i + b_i,
only the best `topk_group` groups stay eligible, and the top `num_experts_per_tok` experts by
s_i + b_i among them are chosen. Their gates are the unbiased s_i, normalised to sum to one (when
`norm_topk_prob`) and multiplied by `routed_scaling_factor`. The output adds the shared experts
(one SwiGLU of n_shared_experts x moe_intermediate_size), which every token passes through.

DeepSeek V2 (and V2-Lite, Coder-V2) differs only in routing (DeepSeek-V2 paper, §2.2):
softmax affinities, no bias; "greedy" takes the top k, "group_limited_greedy" first keeps the
`topk_group` groups holding the highest single affinity; the gates are renormalised when
`norm_topk_prob`, else multiplied by `routed_scaling_factor` (Hugging Face's reference code).
"""

from __future__ import annotations

import math
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
    BaseModelArgs,
    GGUFLayout,
    GGUFMeta,
    llama_like_config,
    make_rope,
    windowed_caches,
    yarn_mscale,
)
from engine.models.experts import SwitchGLU, stack_experts

# (scoring_func, topk_method): V3's, V2's two
ROUTINGS = (("sigmoid", "noaux_tc"), ("softmax", "greedy"), ("softmax", "group_limited_greedy"))


@dataclass
class ModelArgs(BaseModelArgs):
    hidden_size: int
    num_hidden_layers: int
    intermediate_size: int
    num_attention_heads: int
    vocab_size: int
    kv_lora_rank: int
    qk_rope_head_dim: int
    qk_nope_head_dim: int
    v_head_dim: int
    q_lora_rank: int | None = None
    moe_intermediate_size: int = 0
    n_routed_experts: int | None = None
    n_shared_experts: int | None = None
    num_experts_per_tok: int = 1
    n_group: int = 1
    topk_group: int = 1
    routed_scaling_factor: float = 1.0
    norm_topk_prob: bool = True
    scoring_func: str | None = None  # default: V3's "sigmoid", V2's "softmax"
    topk_method: str | None = None  # default: V3's "noaux_tc", V2's "greedy"
    first_k_dense_replace: int = 0
    moe_layer_freq: int = 1
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: dict[str, Any] | None = None
    max_position_embeddings: int = 4096
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    num_key_value_heads: int = 1  # one latent, shared by every head (what ModelInfo reports)
    head_dim: int | None = None  # the query/key head width: qk_nope_head_dim + qk_rope_head_dim
    sliding_window: int | None = None

    def __post_init__(self):
        self.head_dim = self.qk_nope_head_dim + self.qk_rope_head_dim
        self.num_key_value_heads = 1
        v2 = self.model_type == "deepseek_v2"
        self.scoring_func = self.scoring_func or ("softmax" if v2 else "sigmoid")
        self.topk_method = {"gready": "greedy"}.get(self.topk_method, self.topk_method)  # HF V2's default, misspelt
        self.topk_method = self.topk_method or ("greedy" if v2 else "noaux_tc")
        routing = (self.scoring_func, self.topk_method)
        if routing not in ROUTINGS:
            known = ", ".join(f"{s}/{m}" for s, m in ROUTINGS)
            raise ValueError(f"unsupported DeepSeek routing {'/'.join(routing)} (supported: {known})")
        if self.n_routed_experts and self.n_routed_experts % self.n_group:
            raise ValueError("n_routed_experts must be a multiple of n_group")

    def is_sparse(self, layer: int) -> bool:
        return bool(self.n_routed_experts) and layer >= self.first_k_dense_replace and layer % self.moe_layer_freq == 0


class MultiLinear(nn.Module):
    """One matrix per head, weight (heads, out, in): x (..., heads, L, in) -> (..., heads, L, out)."""

    def __init__(self, input_dims: int, output_dims: int, num_heads: int):
        super().__init__()
        scale = math.sqrt(1.0 / input_dims)
        self.weight = mx.random.uniform(-scale, scale, (num_heads, output_dims, input_dims))

    def __call__(self, x: mx.array) -> mx.array:
        return x @ self.weight.swapaxes(-1, -2)

    def to_quantized(self, group_size: int = 64, bits: int = 4, mode: str = "affine", **_) -> QuantizedMultiLinear:
        ql = QuantizedMultiLinear(group_size, bits)
        ql.weight, ql.scales, ql.biases = mx.quantize(self.weight, group_size, bits)
        return ql


class QuantizedMultiLinear(nn.Module):
    def __init__(self, group_size: int, bits: int):
        super().__init__()
        self.group_size, self.bits = group_size, bits
        self.weight = self.scales = self.biases = None
        self.freeze()

    def __call__(self, x: mx.array) -> mx.array:
        return mx.quantized_matmul(
            x, self["weight"], self["scales"], self["biases"], transpose=True,
            group_size=self.group_size, bits=self.bits,
        )


class Attention(nn.Module):
    """Multi-head latent attention with the up-projections absorbed (see the module docstring)."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        dim, self.n_heads = args.hidden_size, args.num_attention_heads
        self.n_kv_heads = 1  # one latent (and one RoPE key) shared by every head
        self.nope, self.rope_dim, self.rank = args.qk_nope_head_dim, args.qk_rope_head_dim, args.kv_lora_rank
        q_width = self.n_heads * (self.nope + self.rope_dim)
        if args.q_lora_rank is None:
            self.q_proj = nn.Linear(dim, q_width, bias=False)
        else:
            self.q_a_proj = nn.Linear(dim, args.q_lora_rank, bias=args.attention_bias)  # W^DQ
            self.q_a_layernorm = nn.RMSNorm(args.q_lora_rank, eps=1e-6)
            self.q_b_proj = nn.Linear(args.q_lora_rank, q_width, bias=False)  # W^UQ and W^QR
        self.kv_a_proj_with_mqa = nn.Linear(dim, self.rank + self.rope_dim, bias=args.attention_bias)  # W^DKV, W^KR
        self.kv_a_layernorm = nn.RMSNorm(self.rank, eps=1e-6)
        self.embed_q = MultiLinear(self.nope, self.rank, self.n_heads)  # W^UK_h^T: query -> latent space
        self.unembed_out = MultiLinear(self.rank, args.v_head_dim, self.n_heads)  # W^UV_h: latent -> value
        self.o_proj = nn.Linear(self.n_heads * args.v_head_dim, dim, bias=args.attention_bias)
        self.scale = (self.nope + self.rope_dim) ** -0.5
        if (args.rope_scaling or {}).get("mscale_all_dim"):  # YaRN: the softmax temperature too
            self.scale *= yarn_mscale(args.rope_scaling["factor"], args.rope_scaling["mscale_all_dim"]) ** 2
        self.rope = make_rope(self.rope_dim, args.rope_theta, True, args.rope_scaling)

    def queries(self, x: mx.array) -> mx.array:
        if hasattr(self, "q_proj"):
            return self.q_proj(x)
        return self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x)))

    def __call__(self, x: mx.array, cache: KVCache, capture: LayerCapture | None = None) -> mx.array:
        B, L, _ = x.shape
        q = self.queries(x).reshape(B, L, self.n_heads, -1).transpose(0, 2, 1, 3)  # (B, H, L, nope + rope)
        q_nope, q_rope = mx.split(q, [self.nope], axis=-1)  # (B, H, L, nope), (B, H, L, rope)
        latent, k_rope = mx.split(self.kv_a_proj_with_mqa(x), [self.rank], axis=-1)  # (B, L, rank), (B, L, rope)
        latent = self.kv_a_layernorm(latent)[:, None]  # (B, 1, L, rank): c, one "head" for all
        k_rope = k_rope[:, None]  # (B, 1, L, rope)
        q_rope, k_rope = self.rope(q_rope, offset=cache.offset), self.rope(k_rope, offset=cache.offset)
        mask = cache.make_mask(L)
        latent, k_rope = cache.update_and_fetch(latent, k_rope)  # (B, 1, S, rank), (B, 1, S, rope)
        q_latent = self.embed_q(q_nope)  # (B, H, L, rank): W^UK absorbed into the query
        if capture is not None and capture.wants_weights:  # the explicit path, weights recorded
            q_all, k_all = mx.concatenate([q_latent, q_rope], -1), mx.concatenate([latent, k_rope], -1)
            out = capture.attend(q_all, k_all, latent, self.scale, mask)  # (B, H, L, rank)
        else:
            out = cache.attend_latent(q_latent, q_rope, latent, k_rope, self.scale, mask)  # (B, H, L, rank)
        out = self.unembed_out(out)  # (B, H, L, v_head_dim): W^UV absorbed into the output
        return self.o_proj(out.transpose(0, 2, 1, 3).reshape(B, L, -1))  # (B, L, dim)


class Router(nn.Module):
    """Affinities, a group-limited top-k choice, gates (see the module docstring for V3 and V2)."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.top_k, self.n_group, self.topk_group = args.num_experts_per_tok, args.n_group, args.topk_group
        self.norm_topk_prob, self.scaling = args.norm_topk_prob, args.routed_scaling_factor
        self.v3 = args.topk_method == "noaux_tc"
        self.limit_groups = self.n_group > 1 and args.topk_method != "greedy"
        self.weight = mx.zeros((args.n_routed_experts, args.hidden_size))  # e_i
        if self.v3:
            self.e_score_correction_bias = mx.zeros((args.n_routed_experts,))  # b_i

    def __call__(self, x: mx.array) -> tuple[mx.array, mx.array]:
        """x (B, L, dim) -> chosen experts (B, L, k) and their gates (B, L, k)."""
        logits = (x @ self.weight.T).astype(mx.float32)  # (B, L, E)
        if self.v3:
            scores = mx.sigmoid(logits)  # s_i
            choice = scores + self.e_score_correction_bias  # s_i + b_i, for choosing only
        else:
            scores = choice = mx.softmax(logits, axis=-1, precise=True)
        if self.limit_groups:
            groups = mx.unflatten(choice, -1, (self.n_group, -1))  # (B, L, G, E/G)
            if self.v3:  # a group's score: its two best
                group_scores = mx.topk(groups, 2, axis=-1).sum(axis=-1, keepdims=True)  # (B, L, G, 1)
            else:  # its best
                group_scores = groups.max(axis=-1, keepdims=True)  # (B, L, G, 1)
            dropped = mx.argpartition(group_scores, kth=self.n_group - self.topk_group - 1, axis=-2)
            dropped = dropped[..., : self.n_group - self.topk_group, :]  # (B, L, G - topk_group, 1)
            choice = mx.flatten(mx.put_along_axis(groups, dropped, mx.array(0.0), axis=-2), -2, -1)
        experts = mx.argpartition(-choice, kth=self.top_k - 1, axis=-1)[..., : self.top_k]  # (B, L, k)
        gates = mx.take_along_axis(scores, experts, axis=-1)  # (B, L, k)
        normalise = self.top_k > 1 and self.norm_topk_prob
        if normalise:
            gates = gates / gates.sum(axis=-1, keepdims=True)
        if self.v3 or not normalise:  # V2 scales only gates it did not renormalise
            gates = gates * self.scaling
        return experts, gates


class MoE(nn.Module):
    def __init__(self, args: ModelArgs):
        super().__init__()
        self.gate = Router(args)
        self.switch_mlp = SwitchGLU(args.hidden_size, args.moe_intermediate_size, args.n_routed_experts)
        if args.n_shared_experts:
            hidden = args.moe_intermediate_size * args.n_shared_experts
            self.shared_experts = llama.MLP(_mlp_args(args, hidden))

    def __call__(self, x: mx.array) -> mx.array:
        experts, gates = self.gate(x)  # (B, L, k) each
        y = (self.switch_mlp(x, experts) * gates[..., None]).sum(axis=-2).astype(x.dtype)  # (B, L, dim)
        if hasattr(self, "shared_experts"):
            y = y + self.shared_experts(x)
        return y


def _mlp_args(args: ModelArgs, hidden: int) -> llama.ModelArgs:
    """A SwiGLU MLP of width `hidden` (Llama's module, no biases)."""
    return llama.ModelArgs(
        model_type="llama", hidden_size=args.hidden_size, num_hidden_layers=1, intermediate_size=hidden,
        num_attention_heads=1, vocab_size=1,
    )


class Block(llama.Block):
    attention = Attention

    def feed_forward_of(self, args: ModelArgs, layer: int) -> nn.Module:
        return MoE(args) if args.is_sparse(layer) else llama.MLP(_mlp_args(args, args.intermediate_size))


class Model(llama.Model):
    block = Block

    def sanitize(self, weights: dict[str, mx.array]) -> dict[str, mx.array]:
        """From a Hugging Face checkpoint: experts stacked; kv_b_proj split into W^UK (transposed,
        per head) and W^UV; the multi-token-prediction layers past the last block dropped."""
        a = self.args
        weights = stack_experts(weights, a.num_hidden_layers, a.n_routed_experts or 0, "mlp.experts", "mlp.switch_mlp")
        weights = {k: v for k, v in weights.items() if _layer_of(k) is None or _layer_of(k) < a.num_hidden_layers}
        for layer in range(a.num_hidden_layers):
            prefix = f"layers.{layer}.self_attn"
            kv_b = weights.pop(f"{prefix}.kv_b_proj.weight", None)  # (H * (nope + v), rank)
            if kv_b is None:
                continue
            kv_b = kv_b.reshape(a.num_attention_heads, a.qk_nope_head_dim + a.v_head_dim, a.kv_lora_rank)
            weights[f"{prefix}.embed_q.weight"] = mx.contiguous(kv_b[:, : a.qk_nope_head_dim].swapaxes(-1, -2))
            weights[f"{prefix}.unembed_out.weight"] = mx.contiguous(kv_b[:, a.qk_nope_head_dim :])
        return super().sanitize(weights)

    def make_cache(self, kind: str = "plain", window: int | None = None, bits: int = 8) -> list[KVCache]:
        """One cache per layer holding (latent, RoPE key) per token (see `cached_token`)."""
        return windowed_caches([None] * len(self.layers), kind, window, bits)


def cached_token(config: Mapping[str, Any]) -> CachedToken:
    """What MLA caches per token and layer: the compressed latent (kv_lora_rank) as the "keys" and
    the shared RoPE key (qk_rope_head_dim) as the "values", one head each — against
    2 × heads × head_dim for full keys and values."""
    layers, rank, rope = int(config["num_hidden_layers"]), int(config["kv_lora_rank"]), int(config["qk_rope_head_dim"])
    return CachedToken(layers, (1, rank), (1, rope), f"{layers} layers × ({rank} latent + {rope} RoPE key)")


def _layer_of(name: str) -> int | None:
    parts = name.split(".")
    return int(parts[1]) if parts[0] == "layers" and parts[1].isdigit() else None


def config_from_gguf(meta: GGUFMeta) -> dict[str, Any]:
    """llama.cpp's `deepseek2` keys (its converter writes the MLA head widths as key_length_mla /
    value_length_mla, and key_length/value_length as the absorbed kv_lora_rank (+ rope))."""
    config = llama_like_config(meta)
    rope = int(meta.arch("rope.dimension_count"))
    q_lora = meta.arch("attention.q_lora_rank", None)
    sigmoid = int(meta.arch("expert_gating_func", 2)) == 2  # llama.cpp: 1 softmax (V2), 2 sigmoid (V3)
    n_group = int(meta.arch("expert_group_count", 1))
    config.update(
        model_type="deepseek_v3" if sigmoid else "deepseek_v2",
        kv_lora_rank=int(meta.arch("attention.kv_lora_rank")),
        q_lora_rank=int(q_lora) if q_lora else None,
        qk_rope_head_dim=rope,
        qk_nope_head_dim=int(meta.arch("attention.key_length_mla")) - rope,
        v_head_dim=int(meta.arch("attention.value_length_mla")),
        first_k_dense_replace=int(meta.arch("leading_dense_block_count", 0)),
        moe_intermediate_size=int(meta.arch("expert_feed_forward_length", 0)),
        n_routed_experts=int(meta.arch("expert_count", 0)) or None,
        n_shared_experts=int(meta.arch("expert_shared_count", 0)) or None,
        num_experts_per_tok=int(meta.arch("expert_used_count", 1)),
        n_group=n_group,
        topk_group=int(meta.arch("expert_group_used_count", 1)),
        routed_scaling_factor=float(meta.arch("expert_weights_scale", 1.0)),
        norm_topk_prob=bool(meta.arch("expert_weights_norm", False)),
        scoring_func="sigmoid" if sigmoid else "softmax",
        topk_method="noaux_tc" if sigmoid else "group_limited_greedy" if n_group > 1 else "greedy",
    )
    for key in ("head_dim", "num_key_value_heads"):  # set by the architecture, not by these keys
        config.pop(key)
    if meta.arch("rope.scaling.type", None) == "yarn":
        # llama.cpp keeps 0.1 * mscale_all_dim as the log multiplier and uses it for both mscales
        mscale = float(meta.arch("rope.scaling.yarn_log_multiplier", 0.0)) / 0.1
        config["rope_scaling"] = {
            "type": "yarn", "factor": float(meta.arch("rope.scaling.factor")),
            "original_max_position_embeddings": int(meta.arch("rope.scaling.original_context_length")),
            "beta_fast": float(meta.arch("rope.scaling.yarn_beta_fast", 32.0)),
            "beta_slow": float(meta.arch("rope.scaling.yarn_beta_slow", 1.0)),
            "mscale": mscale, "mscale_all_dim": mscale,
        }
    return config


GGUF_LAYER_NAMES = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_q_a": "self_attn.q_a_proj", "attn_q_a_norm": "self_attn.q_a_layernorm",
    "attn_q_b": "self_attn.q_b_proj", "attn_kv_a_mqa": "self_attn.kv_a_proj_with_mqa",
    "attn_kv_a_norm": "self_attn.kv_a_layernorm", "attn_k_b": "self_attn.embed_q",
    "attn_v_b": "self_attn.unembed_out", "attn_output": "self_attn.o_proj",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
    "ffn_gate_inp": "mlp.gate", "ffn_gate_exps": "mlp.switch_mlp.gate_proj",
    "ffn_up_exps": "mlp.switch_mlp.up_proj", "ffn_down_exps": "mlp.switch_mlp.down_proj",
    "ffn_gate_shexp": "mlp.shared_experts.gate_proj", "ffn_up_shexp": "mlp.shared_experts.up_proj",
    "ffn_down_shexp": "mlp.shared_experts.down_proj",
}

ARCHITECTURE = Architecture(
    names=("deepseek_v3", "deepseek_v2", "deepseek2"),
    hf_classes={"deepseek_v3": "DeepseekV3ForCausalLM", "deepseek_v2": "DeepseekV2ForCausalLM"},
    args=ModelArgs,
    model=Model,
    gguf=GGUFLayout(GGUF_LAYER_NAMES, tensor_names={"exp_probs_b.bias": "mlp.gate.e_score_correction_bias"}),
    config_from_gguf=config_from_gguf,
    cached_token=cached_token,
    chat_template=chat_templates.DEEPSEEK_V3,
    template_name="DeepSeek V3",
)
