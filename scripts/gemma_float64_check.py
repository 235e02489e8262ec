"""Where Gemma 3 270M's gap to llama.cpp comes from: our forward pass against float64 numpy.

    .venv/bin/python scripts/gemma_float64_check.py [--llama-cpp-gelu] [PROMPT NAME ...]

Runs the same weights (the Q4_K_M file expanded to float32 by our loader, bit-identical to
llama.cpp's own F32 expansion) through Gemma 3 written out in float64 numpy: embedding × √d, four
(1 + γ) RMSNorms a block, q/k norm, rotate-half RoPE with the local/global bases, 512-token
windows on five of six layers, GELU-tanh gated MLP, tied head. It prints, per golden prompt
(tests/fixtures/golden_gemma3), max |Δ logprob| over llama.cpp's top 10 for numpy vs llama.cpp
and for numpy vs Glassbox. With --llama-cpp-gelu the numpy GELU is llama.cpp's CPU one: the
input rounded to float16 and the result looked up in a float16 table (ggml-cpu/vec.h,
GGML_GELU_FP16). Needs ~3 GB of memory (the 262k x 640 embedding in float64).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from engine import model_catalog  # noqa: E402
from engine.loading import WeightPolicy, load  # noqa: E402
from tests.engine.test_golden import compare, full_logprobs  # noqa: E402
from tests.engine.test_golden_gemma import CASES  # noqa: E402


def gelu(x: np.ndarray, llama_cpp_table: bool) -> np.ndarray:
    if not llama_cpp_table:
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    x16 = x.astype(np.float16).astype(np.float32)
    c, a = np.float32(0.7978845608028654), np.float32(0.044715)
    y = (0.5 * x16 * (1 + np.tanh(c * x16 * (1 + a * x16 * x16)))).astype(np.float16).astype(np.float64)
    return np.where(x <= -10, 0, np.where(x >= 10, x, y))


def forward(W: dict[str, np.ndarray], args, ids: list[int], llama_cpp_gelu: bool) -> np.ndarray:
    """Next-token log-probabilities (vocab,) in float64."""

    def rms(x, w):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + args.rms_norm_eps) * (1 + w)

    def rope(x, base):  # (H, L, D), rotate-half
        D, L = x.shape[-1], x.shape[1]
        angle = np.arange(L)[:, None] * base ** (-np.arange(0, D, 2) / D)[None]
        cos, sin = np.cos(angle), np.sin(angle)
        x1, x2 = x[..., : D // 2], x[..., D // 2 :]
        return np.concatenate([x1 * cos - x2 * sin, x1 * sin + x2 * cos], -1)

    L = len(ids)
    h = W["embed_tokens.weight"][ids] * np.sqrt(args.hidden_size)
    for i in range(args.num_hidden_layers):
        p = f"layers.{i}."
        x = rms(h, W[p + "input_layernorm.weight"])
        q = (x @ W[p + "self_attn.q_proj.weight"].T).reshape(L, args.num_attention_heads, -1).transpose(1, 0, 2)
        k = (x @ W[p + "self_attn.k_proj.weight"].T).reshape(L, args.num_key_value_heads, -1).transpose(1, 0, 2)
        v = (x @ W[p + "self_attn.v_proj.weight"].T).reshape(L, args.num_key_value_heads, -1).transpose(1, 0, 2)
        q, k = rms(q, W[p + "self_attn.q_norm.weight"]), rms(k, W[p + "self_attn.k_norm.weight"])
        window = args.window(i)
        base = args.rope_local_base_freq if window else args.rope_theta
        q, k = rope(q, base), rope(k, base)
        scores = q @ k.transpose(0, 2, 1) * args.query_pre_attn_scalar**-0.5  # (H, L, L), one KV head
        qp, kp = np.arange(L)[:, None], np.arange(L)[None]
        seen = (kp <= qp) & ((kp > qp - window) if window else True)
        scores = np.where(seen, scores, -np.inf)
        weights = np.exp(scores - scores.max(-1, keepdims=True))
        weights /= weights.sum(-1, keepdims=True)
        attn = (weights @ v).transpose(1, 0, 2).reshape(L, -1) @ W[p + "self_attn.o_proj.weight"].T
        h = h + rms(attn, W[p + "post_attention_layernorm.weight"])
        x = rms(h, W[p + "pre_feedforward_layernorm.weight"])
        gate = gelu(x @ W[p + "mlp.gate_proj.weight"].T, llama_cpp_gelu)
        mlp = (gate * (x @ W[p + "mlp.up_proj.weight"].T)) @ W[p + "mlp.down_proj.weight"].T
        h = h + rms(mlp, W[p + "post_feedforward_layernorm.weight"])
    logits = rms(h[-1], W["norm.weight"]) @ W["embed_tokens.weight"].T
    top = logits.max()
    return logits - (top + np.log(np.exp(logits - top).sum()))


def main() -> None:
    import mlx.core as mx
    from mlx.utils import tree_flatten

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--llama-cpp-gelu", action="store_true", help="llama.cpp's float16-table GELU")
    ap.add_argument("prompts", nargs="*", default=["plain_capital", "plain_multilingual", "chat_code"])
    args = ap.parse_args()
    lm = load(model_catalog.path_of(model_catalog.GEMMA3_270M), WeightPolicy("float32"))
    W = {k: np.array(v.astype(mx.float32), dtype=np.float64) for k, v in tree_flatten(lm.model.parameters())}
    for name in args.prompts:
        ids = CASES[name]["ids"]
        ref = forward(W, lm.model.args, ids, args.llama_cpp_gelu)
        ours = full_logprobs(lm, ids)
        top10 = np.argsort(-ref)[:10]
        print(f"{name:>20} ({len(ids)} tokens): numpy float64 vs llama.cpp F32 "
              f"{compare(ref, CASES[name], 'f32').gap:.1e}, vs Glassbox {np.abs(ref - ours)[top10].max():.1e}")


if __name__ == "__main__":
    main()
