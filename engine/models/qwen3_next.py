"""Qwen3-Next: a hybrid of linear-attention layers (Gated DeltaNet) and gated full attention, with
a sparse mixture of experts and a shared expert as the MLP.

x -> embed -> N x [x + Mixer(RMSNorm(x)); x + MoE(RMSNorm(x))] -> RMSNorm -> LM head (untied).
The mixer of layer i is full attention when i + 1 is a multiple of `full_attention_interval` (every
fourth layer in the released models; `layer_types` says it per layer where a config has it), and
Gated DeltaNet otherwise.

Gated DeltaNet (Yang, Kautz & Hatamizadeh 2024, "Gated Delta Networks"): instead of keys and values
per token, each value head keeps a matrix memory S (value_dim × key_dim), updated per token t by
a decay α_t and the delta rule with a write strength β_t:

    S_t = α_t S_{t-1} (I − β_t k_t k_tᵀ) + β_t v_t k_tᵀ        o_t = S_t q_t

q, k, v come through a depthwise causal convolution (kernel 4) and SiLU, q and k are
L2-normalised (q also scaled by key_dim^-1/2), key heads are shared by value heads as in grouped-
query attention. α_t = exp(A · softplus(a_t + dt_bias)) with A < 0 per head, β_t = σ(b_t). The
output is RMSNorm(o_t) gated by SiLU(z_t), then projected. Its cache is a `RecurrentState`: the
convolution's last inputs and S, the same size whatever the length (engine/cache.py). A prompt is
computed chunkwise (the paper's §3.3: matrix products per 64 tokens), a decoding step token by token.

Full attention: Qwen 3's (q/k RMSNorm, grouped-query) with RoPE on the first
`partial_rotary_factor` of each head's dimensions and an output gate: q_proj gives each head's
query and a gate g, and the heads' output is multiplied by σ(g) before o_proj.

MoE: Qwen 3 MoE's top-k softmax routing over `num_experts` SwiGLU experts, plus a shared SwiGLU
expert every token passes through, weighted by σ(w_shared · x). RMSNorm weights are held as applied
(γ): Hugging Face stores the block and q/k norms zero-centred (γ − 1), the gated norm as is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import mlx.core as mx
import mlx.nn as nn

from engine import chat_templates, kernels
from engine.cache import CachedToken, KVCache, RecurrentState
from engine.capture import LayerCapture
from engine.models import llama, qwen3_moe
from engine.models.base import (
    Architecture,
    ConfigError,
    GGUFLayout,
    GGUFMeta,
    keys_and_values,
    llama_like_config,
    make_rope,
    windowed_caches,
)
from engine.models.experts import stack_experts

LINEAR_WIDTHS = ("linear_num_value_heads", "linear_num_key_heads", "linear_key_head_dim", "linear_value_head_dim")


@dataclass
class ModelArgs(llama.ModelArgs):
    linear_num_value_heads: int | None = None
    linear_num_key_heads: int | None = None
    linear_key_head_dim: int | None = None
    linear_value_head_dim: int | None = None
    linear_conv_kernel_dim: int = 4
    full_attention_interval: int = 4
    layer_types: list[str] | None = None  # "linear_attention" / "full_attention" per layer
    partial_rotary_factor: float = 0.25
    num_experts: int = 0
    num_experts_per_tok: int = 1
    moe_intermediate_size: int = 0
    shared_expert_intermediate_size: int = 0
    decoder_sparse_step: int = 1
    mlp_only_layers: list[int] = field(default_factory=list)
    norm_topk_prob: bool = True  # Hugging Face's default for this architecture
    rms_norm_eps: float = 1e-6
    tie_word_embeddings: bool = False

    def __post_init__(self):
        super().__post_init__()
        missing = [name for name in LINEAR_WIDTHS if getattr(self, name) is None]
        if missing:
            raise ConfigError(f"the configuration has no {', '.join(map(repr, missing))}")
        if self.layer_types is None:
            self.layer_types = [
                "full_attention" if (i + 1) % self.full_attention_interval == 0 else "linear_attention"
                for i in range(self.num_hidden_layers)
            ]
        if len(self.layer_types) != self.num_hidden_layers:
            raise ValueError("layer_types must name every layer")
        if self.linear_num_value_heads % self.linear_num_key_heads:
            raise ValueError("linear_num_value_heads must be a multiple of linear_num_key_heads")
        if self.num_experts and not 0 < self.num_experts_per_tok <= self.num_experts:
            raise ValueError("num_experts_per_tok must be between 1 and num_experts")

    def is_linear(self, layer: int) -> bool:
        return self.layer_types[layer] == "linear_attention"

    def is_sparse(self, layer: int) -> bool:
        return (
            self.num_experts > 0 and layer not in self.mlp_only_layers
            and (layer + 1) % self.decoder_sparse_step == 0
        )


class Attention(nn.Module):
    """Gated full attention: q/k RMSNorm, partial RoPE, output gated per element by σ(gate)."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        dim, self.head_dim = args.hidden_size, args.head_dim
        self.n_heads, self.n_kv_heads = args.num_attention_heads, args.num_key_value_heads
        self.scale = self.head_dim**-0.5
        bias = args.attention_bias
        self.q_proj = nn.Linear(dim, self.n_heads * self.head_dim * 2, bias=bias)  # query and gate per head
        self.k_proj = nn.Linear(dim, self.n_kv_heads * self.head_dim, bias=bias)
        self.v_proj = nn.Linear(dim, self.n_kv_heads * self.head_dim, bias=bias)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, dim, bias=bias)
        self.q_norm = nn.RMSNorm(self.head_dim, eps=args.rms_norm_eps)
        self.k_norm = nn.RMSNorm(self.head_dim, eps=args.rms_norm_eps)
        rotary = int(self.head_dim * args.partial_rotary_factor)
        self.rope = make_rope(rotary, args.rope_theta, False, args.rope_scaling)  # the rest is not rotated

    def __call__(self, x: mx.array, cache: KVCache, capture: LayerCapture | None = None) -> mx.array:
        B, L, _ = x.shape
        q, gate = mx.split(self.q_proj(x).reshape(B, L, self.n_heads, -1), 2, axis=-1)  # (B, L, heads, hd) each
        q = self.q_norm(q).transpose(0, 2, 1, 3)  # (B, heads, L, hd)
        k = self.k_norm(self.k_proj(x).reshape(B, L, self.n_kv_heads, -1)).transpose(0, 2, 1, 3)  # (B, kv, L, hd)
        v = self.v_proj(x).reshape(B, L, self.n_kv_heads, -1).transpose(0, 2, 1, 3)  # (B, kv, L, hd)
        q, k = self.rope(q, offset=cache.offset), self.rope(k, offset=cache.offset)
        mask = cache.make_mask(L)
        k, v = cache.update_and_fetch(k, v)  # (B, kv, S, hd)
        if capture is not None and capture.wants_weights:  # the explicit path, weights recorded
            out = capture.attend(q, k, v, self.scale, mask)  # (B, heads, L, hd)
        else:
            out = cache.attend(q, k, v, scale=self.scale, mask=mask)  # (B, heads, L, hd)
        out = out.transpose(0, 2, 1, 3).reshape(B, L, -1)  # (B, L, heads * hd)
        return self.o_proj(out * mx.sigmoid(gate.reshape(B, L, -1)))  # (B, L, dim)


class GatedRMSNorm(nn.Module):
    """RMSNorm(o) · SiLU(z) per value head (its weight is stored as applied, not zero-centred)."""

    def __init__(self, dims: int, eps: float):
        super().__init__()
        self.weight = mx.ones((dims,))
        self.eps = eps

    def __call__(self, o: mx.array, z: mx.array) -> mx.array:
        normed = mx.fast.rms_norm(o, self.weight, self.eps).astype(mx.float32)
        return (kernels.silu(z.astype(mx.float32)) * normed).astype(o.dtype)


CHUNK = 64  # tokens per chunk of the chunkwise form (prompts)
CHUNKWISE_FROM = 8  # fewer tokens (a decoding step) go through the recurrence one at a time


def gated_delta_rule(q, k, v, log_alpha, beta, S):
    """The recurrence of the module docstring over L tokens: token by token for a few tokens,
    chunkwise for more (`chunked_gated_delta_rule`, the same values to float32 rounding).

    q, k: (B, L, Hv, Dk) (key heads already repeated to the value heads); v: (B, L, Hv, Dv);
    log_alpha (log α_t ≤ 0), beta: (B, L, Hv); S: (B, Hv, Dv, Dk) float32, the memory before the
    first token. Returns (o (B, L, Hv, Dv), S after the last token).
    """
    if q.shape[1] >= CHUNKWISE_FROM:
        return chunked_gated_delta_rule(q, k, v, log_alpha, beta, S)
    alpha = mx.exp(log_alpha)
    outs = []
    for t in range(q.shape[1]):
        S = S * alpha[:, t, :, None, None]  # α_t S
        recalled = (S @ k[:, t, :, :, None])[..., 0]  # (B, Hv, Dv): S k_t, what the memory says for k_t
        delta = beta[:, t, :, None] * (v[:, t] - recalled)  # (B, Hv, Dv): β_t (v_t − S k_t)
        S = S + delta[..., None] * k[:, t, :, None, :]  # S + β_t (v_t − S k_t) k_tᵀ
        outs.append((S @ q[:, t, :, :, None])[..., 0])  # (B, Hv, Dv): o_t = S_t q_t
    return mx.stack(outs, axis=1).astype(v.dtype), S


def chunked_gated_delta_rule(q, k, v, log_alpha, beta, S, chunk: int = CHUNK):
    """The same recurrence, C = `chunk` tokens at a time with matrix products (Gated DeltaNet
    paper §3.3, the WY representation). Within a chunk, with g_i = Σ_{j≤i} log α_j and
    Γ_ij = exp(g_i − g_j) (j ≤ i), the delta rule's writes are the pseudo-values
    U = T (β v) − W S_0ᵀ with T = (I + strictly-lower(β_i Γ_ij k_i·k_j))⁻¹ and W = T (β e^g k); then
        o = (e^g q) S_0ᵀ + tril(Γ ⊙ q kᵀ) U,     S = e^{g_C} S_0 + Uᵀ (e^{g_C − g} k).
    Padding tokens (α = 1, β = 0) change nothing. Shapes as in `gated_delta_rule`."""
    (B, L, H, _), dtype = q.shape, v.dtype
    pad = -L % chunk
    per_chunk = lambda x: mx.pad(x, [(0, 0), (0, pad)] + [(0, 0)] * (x.ndim - 2)).swapaxes(1, 2).reshape(  # noqa: E731
        B, H, -1, chunk, *x.shape[3:])  # (B, L, H, ...) -> (B, H, N, C, ...)
    q, k, v, log_alpha, beta = (per_chunk(x.astype(mx.float32)) for x in (q, k, v, log_alpha, beta))
    g = mx.cumsum(log_alpha, axis=-1)  # (B, H, N, C)
    causal = mx.tril(mx.ones((chunk, chunk), mx.bool_))
    decay = mx.exp(mx.where(causal, g[..., :, None] - g[..., None, :], -mx.inf))  # Γ, 0 above the diagonal
    k_beta = k * beta[..., None]  # (B, H, N, C, Dk)
    lower = mx.tril((k_beta @ k.swapaxes(-1, -2)) * decay, -1)  # (B, H, N, C, C)
    T = mx.linalg.tri_inv(mx.eye(chunk) + lower, upper=False, stream=mx.cpu)  # a small inverse per chunk
    u = T @ (v * beta[..., None])  # (B, H, N, C, Dv)
    w = T @ (k_beta * mx.exp(g)[..., None])  # (B, H, N, C, Dk)
    scores = mx.where(causal, (q @ k.swapaxes(-1, -2)) * decay, 0.0)  # (B, H, N, C, C)
    St = S.swapaxes(-1, -2)  # (B, H, Dk, Dv)
    outs = []
    for n in range(q.shape[2]):
        fresh = u[:, :, n] - w[:, :, n] @ St  # (B, H, C, Dv): U, what the chunk writes
        outs.append((q[:, :, n] * mx.exp(g[:, :, n])[..., None]) @ St + scores[:, :, n] @ fresh)
        last = g[:, :, n, -1:]  # (B, H, 1)
        St = St * mx.exp(last)[..., None] + (k[:, :, n] * mx.exp(last - g[:, :, n])[..., None]).swapaxes(-1, -2) @ fresh
    o = mx.stack(outs, axis=2).reshape(B, H, -1, v.shape[-1])[:, :, :L].swapaxes(1, 2)  # (B, L, H, Dv)
    return o.astype(dtype), St.swapaxes(-1, -2)


def l2_normalise(x: mx.array, eps: float = 1e-6) -> mx.array:
    return x * mx.rsqrt((x * x).sum(axis=-1, keepdims=True) + eps)


class GatedDeltaNet(nn.Module):
    """The linear-attention mixer (see the module docstring); its cache is a RecurrentState."""

    def __init__(self, args: ModelArgs):
        super().__init__()
        self.n_k, self.n_v = args.linear_num_key_heads, args.linear_num_value_heads
        self.d_k, self.d_v = args.linear_key_head_dim, args.linear_value_head_dim
        self.kernel_size = args.linear_conv_kernel_dim
        key_dim, value_dim = self.n_k * self.d_k, self.n_v * self.d_v
        self.in_proj_qkv = nn.Linear(args.hidden_size, 2 * key_dim + value_dim, bias=False)  # [q | k | v], head-major
        self.in_proj_z = nn.Linear(args.hidden_size, value_dim, bias=False)  # the output gate
        self.in_proj_ba = nn.Linear(args.hidden_size, 2 * self.n_v, bias=False)  # per key head: [b | a] of its value heads
        self.conv1d = CausalConv1d(2 * key_dim + value_dim, self.kernel_size)
        self.A = -mx.ones((self.n_v,))  # A < 0: each value head's decay rate (−exp(A_log))
        self.dt_bias = mx.ones((self.n_v,))
        self.norm = GatedRMSNorm(self.d_v, args.rms_norm_eps)
        self.out_proj = nn.Linear(value_dim, args.hidden_size, bias=False)

    def __call__(self, x: mx.array, cache: RecurrentState, capture: LayerCapture | None = None) -> mx.array:
        B, L, _ = x.shape
        qkv = kernels.silu(self.conv1d(self.in_proj_qkv(x), cache))  # (B, L, 2 key_dim + value_dim)
        q, k, v = mx.split(qkv, [self.n_k * self.d_k, 2 * self.n_k * self.d_k], axis=-1)
        q = l2_normalise(q.reshape(B, L, self.n_k, self.d_k)) * self.d_k**-0.5  # (B, L, Hk, Dk)
        k = l2_normalise(k.reshape(B, L, self.n_k, self.d_k))  # (B, L, Hk, Dk)
        q, k = (mx.repeat(t, self.n_v // self.n_k, axis=2) for t in (q, k))  # (B, L, Hv, Dk): shared key heads
        v = v.reshape(B, L, self.n_v, self.d_v)  # (B, L, Hv, Dv)
        b, a = mx.split(self.in_proj_ba(x).reshape(B, L, self.n_k, -1), 2, axis=-1)  # (B, L, Hk, Hv/Hk) each
        beta = mx.sigmoid(b.reshape(B, L, self.n_v))  # (B, L, Hv): write strength β_t
        log_alpha = self.A.astype(mx.float32) * nn.softplus(a.reshape(B, L, self.n_v) + self.dt_bias)  # log of the decay α_t
        S = cache.recurrent if cache.recurrent is not None else mx.zeros((B, self.n_v, self.d_v, self.d_k), mx.float32)
        o, S = gated_delta_rule(q, k, v, log_alpha, beta, S)  # (B, L, Hv, Dv)
        cache.advance(S, L)
        z = self.in_proj_z(x).reshape(B, L, self.n_v, self.d_v)  # (B, L, Hv, Dv)
        return self.out_proj(self.norm(o, z).reshape(B, L, -1))  # (B, L, dim)


class CausalConv1d(nn.Module):
    """Depthwise causal convolution: channel c's output at t is Σ_j w[c, j] x[t − K + 1 + j, c],
    the K − 1 inputs before this call's first token coming from the cache. weight: (C, K)."""

    def __init__(self, channels: int, kernel_size: int):
        super().__init__()
        self.kernel_size = kernel_size
        self.weight = mx.zeros((channels, kernel_size))

    def __call__(self, x: mx.array, cache: RecurrentState) -> mx.array:
        """x (B, L, C) -> (B, L, C)."""
        window = cache.conv_window(x, self.kernel_size)  # (B, K − 1 + L, C)
        return mx.conv1d(window, self.weight[:, :, None], groups=x.shape[-1])  # (B, L, C)


class SparseMoeBlock(qwen3_moe.SparseMoeBlock):
    """Qwen 3 MoE's routed experts plus a shared expert, gated by σ(w_shared · x)."""

    def __init__(self, args: ModelArgs):
        super().__init__(args)
        self.shared_expert = llama.MLP(replace(args, intermediate_size=args.shared_expert_intermediate_size))
        self.shared_expert_gate = nn.Linear(args.hidden_size, 1, bias=False)

    def __call__(self, x: mx.array) -> mx.array:
        shared = mx.sigmoid(self.shared_expert_gate(x)) * self.shared_expert(x)  # (B, L, dim)
        return super().__call__(x) + shared  # (B, L, dim)


class Block(nn.Module):
    def __init__(self, args: ModelArgs, layer: int = 0):
        super().__init__()
        self.is_linear = args.is_linear(layer)
        if self.is_linear:
            self.linear_attn = GatedDeltaNet(args)
        else:
            self.self_attn = Attention(args)
        self.mlp = SparseMoeBlock(args) if args.is_sparse(layer) else llama.MLP(args)
        self.input_layernorm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)
        self.post_attention_layernorm = nn.RMSNorm(args.hidden_size, eps=args.rms_norm_eps)

    def __call__(self, x: mx.array, cache, capture: LayerCapture | None = None) -> mx.array:
        mixer = self.linear_attn if self.is_linear else self.self_attn
        attn = mixer(self.input_layernorm(x), cache, capture)  # (B, L, dim)
        h = x + attn
        mlp = self.mlp(self.post_attention_layernorm(h))  # (B, L, dim)
        out = h + mlp
        if capture is not None:  # a linear-attention layer never calls capture.attend: no weights
            capture.block(attn, mlp, out)
        return out


class Model(llama.Model):
    block = Block

    def sanitize(self, weights: dict[str, mx.array]) -> dict[str, mx.array]:
        """Hugging Face and mlx-lm folders -> this model (a GGUF is already in its layout).

        Both hold `in_proj_qkvz` (rows grouped per key head: q, k, v, z), split here into
        [q | k | v] and z, and A_log, held as A = −exp(A_log); the convolution (C, 1, K) or
        (C, K, 1) becomes (C, K). Hugging Face's folder (its convolution is (C, 1, K)) also has
        per-expert tensors, stacked here, and zero-centred norms, to which 1 is added; mlx-lm
        added it when it converted. The multi-token-prediction layers (`mtp.*`) are dropped."""
        a = self.args
        hugging_face = any(
            k.endswith("linear_attn.conv1d.weight") and v.ndim == 3 and v.shape[1] == 1 for k, v in weights.items()
        )
        weights = {k: v for k, v in weights.items() if not k.startswith("mtp.")}
        weights = stack_experts(weights, a.num_hidden_layers, a.num_experts, "mlp.experts", "mlp.switch_mlp")
        out = {}
        for name, w in weights.items():
            if ".linear_attn.in_proj_qkvz." in name:
                qkv, z = split_qkvz(w, a)
                out[name.replace("in_proj_qkvz", "in_proj_qkv")], out[name.replace("in_proj_qkvz", "in_proj_z")] = qkv, z
            elif name.endswith("linear_attn.A_log"):
                out[name.removesuffix("_log")] = -mx.exp(w.astype(mx.float32))
            elif name.endswith("linear_attn.conv1d.weight") and w.ndim == 3:
                out[name] = w.reshape(w.shape[0], -1)
            elif hugging_face and name.endswith("norm.weight") and not name.endswith("linear_attn.norm.weight"):
                out[name] = w + 1.0
            else:
                out[name] = w
        return super().sanitize(out)

    def export_weights(self, weights: dict[str, mx.array]) -> dict[str, mx.array]:
        """This model's tensors in mlx-lm's layout, which `sanitize` reads back: in_proj_qkv and
        in_proj_z fused into in_proj_qkvz (every quantized part), A as A_log, the convolution
        (C, K, 1). engine/export.py writes them, so an exported folder loads in mlx-lm too. Two
        projections held with different quantizations (a GGUF's mix kept as stored) cannot share
        one tensor: they stay split, which Glassbox reads back but mlx-lm does not."""
        def fusable(qkv_name: str) -> bool:
            parts = [n for n in weights if n.startswith(qkv_name.rsplit(".", 1)[0] + ".")]
            z_of = lambda n: weights.get(n.replace("in_proj_qkv", "in_proj_z"))  # noqa: E731
            return all(z_of(n) is not None and z_of(n).shape[1:] == weights[n].shape[1:] for n in parts)

        out = {}
        for name, w in weights.items():
            if ".linear_attn.in_proj_qkv." in name and fusable(name):
                z = weights[name.replace("in_proj_qkv", "in_proj_z")]
                out[name.replace("in_proj_qkv", "in_proj_qkvz")] = fuse_qkvz(w, z, self.args)
            elif ".linear_attn.in_proj_z." in name and fusable(name.replace("in_proj_z", "in_proj_qkv")):
                continue  # fused above
            elif name.endswith("linear_attn.A"):
                out[name + "_log"] = mx.log(-w)
            elif name.endswith("linear_attn.conv1d.weight"):
                out[name] = w[:, :, None]
            else:
                out[name] = w
        return out

    def make_cache(self, kind: str = "plain", window: int | None = None, bits: int = 8) -> list:
        """Linear-attention layers: a RecurrentState (fixed size, whatever `kind`); full-attention
        layers: `kind` (see `windowed_caches`)."""
        kv = windowed_caches([None] * len(self.layers), kind, window, bits)
        return [RecurrentState() if layer.is_linear else c for layer, c in zip(self.layers, kv, strict=True)]


def split_qkvz(w: mx.array, a: ModelArgs) -> tuple[mx.array, mx.array]:
    """Rows of Hugging Face's in_proj_qkvz (any part: weight, scales, biases), grouped per key head
    as [q_h (Dk), k_h (Dk), v_h (Hv/Hk × Dv), z_h (Hv/Hk × Dv)], -> [q | k | v] rows and z rows.
    Quantization groups run along the input dimension, so packed rows move unchanged."""
    d_k, per_head_v = a.linear_key_head_dim, a.linear_num_value_heads // a.linear_num_key_heads * a.linear_value_head_dim
    grouped = w.reshape(a.linear_num_key_heads, -1, *w.shape[1:])  # (Hk, 2 Dk + 2 r Dv, ...)
    q, k, v, z = mx.split(grouped, [d_k, 2 * d_k, 2 * d_k + per_head_v], axis=1)
    rows = lambda t: t.reshape(-1, *w.shape[1:])  # noqa: E731
    return mx.concatenate([rows(q), rows(k), rows(v)]), rows(z)


def fuse_qkvz(qkv: mx.array, z: mx.array, a: ModelArgs) -> mx.array:
    """The inverse of `split_qkvz`: Hugging Face's in_proj_qkvz from [q | k | v] and z rows."""
    n_k, d_k = a.linear_num_key_heads, a.linear_key_head_dim
    q, k, v = mx.split(qkv, [n_k * d_k, 2 * n_k * d_k])
    per_head = [t.reshape(n_k, -1, *qkv.shape[1:]) for t in (q, k, v, z)]
    return mx.concatenate(per_head, axis=1).reshape(-1, *qkv.shape[1:])


def cached_token(config: Mapping[str, Any]) -> CachedToken:
    """Keys and values in the full-attention layers only; the linear-attention layers hold a fixed
    state (convolution inputs and the delta rule's memory, float32) whatever the length."""
    args = ModelArgs.from_dict(config)
    full = sum(not args.is_linear(i) for i in range(args.num_hidden_layers))
    token = keys_and_values({**config, **args.to_dict(), "num_hidden_layers": full, "sliding_window": None})
    channels = 2 * args.linear_num_key_heads * args.linear_key_head_dim + args.linear_num_value_heads * args.linear_value_head_dim
    per_layer = channels * (args.linear_conv_kernel_dim - 1) + args.linear_num_value_heads * args.linear_value_head_dim * args.linear_key_head_dim
    formula = token.formula.replace(f"{full} layers", f"{full} full-attention layers")
    return replace(token, state_bytes=4 * per_layer * (args.num_hidden_layers - full), formula=formula)


def config_from_gguf(meta: GGUFMeta) -> dict[str, Any]:
    """llama.cpp's `qwen3next` keys: the DeltaNet widths as its SSM keys (state_size = key head
    width, group_count = key heads, time_step_rank = value heads, inner_size = all value widths).
    Which layers are linear and which sparse is read from the tensors each block holds."""
    config = llama_like_config(meta)
    n_layers, names = config["num_hidden_layers"], meta.tensor_names
    value_heads = int(meta.arch("ssm.time_step_rank"))
    config.update(
        model_type="qwen3_next",
        linear_conv_kernel_dim=int(meta.arch("ssm.conv_kernel")),
        linear_key_head_dim=int(meta.arch("ssm.state_size")),
        linear_num_key_heads=int(meta.arch("ssm.group_count")),
        linear_num_value_heads=value_heads,
        linear_value_head_dim=int(meta.arch("ssm.inner_size")) // value_heads,
        full_attention_interval=int(meta.arch("full_attention_interval", 4)),
        layer_types=["linear_attention" if f"blk.{i}.ssm_a" in names else "full_attention" for i in range(n_layers)],
        partial_rotary_factor=int(meta.arch("rope.dimension_count")) / config["head_dim"],
        num_experts=int(meta.arch("expert_count", 0)),
        num_experts_per_tok=int(meta.arch("expert_used_count", 1)),
        moe_intermediate_size=int(meta.arch("expert_feed_forward_length", 0)),
        shared_expert_intermediate_size=int(meta.arch("expert_shared_feed_forward_length", 0)),
        mlp_only_layers=[i for i in range(n_layers) if f"blk.{i}.ffn_gate_inp.weight" not in names],
        norm_topk_prob=True,  # llama.cpp always renormalises (it stores no flag)
    )
    return config


GGUF_LAYER_NAMES = {
    "attn_norm": "input_layernorm", "post_attention_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "attn_q_norm": "self_attn.q_norm", "attn_k_norm": "self_attn.k_norm",
    "attn_qkv": "linear_attn.in_proj_qkv", "attn_gate": "linear_attn.in_proj_z",
    "ssm_in": "linear_attn.in_proj_qkvz",  # llama.cpp's first converter kept Hugging Face's fused rows
    "ssm_ba": "linear_attn.in_proj_ba", "ssm_conv1d": "linear_attn.conv1d", "ssm_norm": "linear_attn.norm",
    "ssm_out": "linear_attn.out_proj",
    "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj",
    "ffn_gate_inp": "mlp.gate", "ffn_gate_exps": "mlp.switch_mlp.gate_proj",
    "ffn_up_exps": "mlp.switch_mlp.up_proj", "ffn_down_exps": "mlp.switch_mlp.down_proj",
    "ffn_gate_shexp": "mlp.shared_expert.gate_proj", "ffn_up_shexp": "mlp.shared_expert.up_proj",
    "ffn_down_shexp": "mlp.shared_expert.down_proj", "ffn_gate_inp_shexp": "mlp.shared_expert_gate",
}

ARCHITECTURE = Architecture(
    names=("qwen3_next", "qwen3next"),
    hf_classes={"qwen3_next": "Qwen3NextForCausalLM"},
    args=ModelArgs,
    model=Model,
    gguf=GGUFLayout(GGUF_LAYER_NAMES, tensor_names={"ssm_a": "linear_attn.A", "ssm_dt.bias": "linear_attn.dt_bias"}),
    config_from_gguf=config_from_gguf,
    cached_token=cached_token,
    chat_template=chat_templates.CHATML,
    template_name="ChatML",
)
