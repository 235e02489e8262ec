"""What the mixture-of-experts and latent-attention architectures promise beyond equal logits
(those are checked against mlx-lm in test_mlxlm_reference.py): DeepSeek's cache holds only the
compressed latent and the RoPE key, and every reported KV size says so; the routers choose as the
papers say (group-limited, bias for choosing only; renormalised top-k softmax)."""

from __future__ import annotations

import mlx.core as mx
import numpy as np

from engine.cache import cache_nbytes
from engine.generate import GenerationConfig, generate
from engine.loading import WeightPolicy, load
from engine.models import deepseek_v3, qwen3_moe
from engine.sampling import GREEDY
from tests.engine.checkpoints import PROBE_TOKENS, tiny_config, tiny_model, write_hf


def test_the_latent_cache_holds_the_compressed_latent_and_rope_key_only(tmp_path):
    lm = load(write_hf("deepseek_v3", tmp_path / "hf"), WeightPolicy("float32"))
    a = lm.model.args
    per_layer = a.kv_lora_rank + a.qk_rope_head_dim  # 64 + 32 floats
    caches = lm.model.make_cache()
    mx.eval(lm.model(mx.array([PROBE_TOKENS]), caches))
    n = len(PROBE_TOKENS)
    assert [tuple(c.state[0].shape) for c in caches] == [(1, 1, n, a.kv_lora_rank)] * a.num_hidden_layers
    assert [tuple(c.state[1].shape) for c in caches] == [(1, 1, n, a.qk_rope_head_dim)] * a.num_hidden_layers
    assert cache_nbytes(caches) == n * a.num_hidden_layers * per_layer * 4 == n * lm.info.kv_bytes_per_token
    full_kv = 2 * a.num_hidden_layers * a.num_attention_heads * a.head_dim * 4  # per-head K and V (float32)
    assert lm.info.kv_bytes_per_token / full_kv == per_layer / (2 * 4 * 64)  # 37.5 % here; 2.6 % for V3's sizes


def test_generation_reports_the_latent_cache_bytes(tmp_path):
    """The status bar's KV bytes are the events' kv_bytes: the latent's, token by token."""
    lm = load(write_hf("deepseek_v3", tmp_path / "hf"), WeightPolicy("float32"))
    caches = lm.model.make_cache()
    events = [e for e in generate(lm.model, lm.tokenizer, PROBE_TOKENS, caches, GREEDY,
                                  GenerationConfig(max_tokens=4, stop_ids=set())) if e.token is not None]
    held = [e.kv_bytes / lm.info.kv_bytes_per_token for e in events]  # tokens cached when each was shown
    assert all(h.is_integer() and len(PROBE_TOKENS) <= h <= len(PROBE_TOKENS) + 4 for h in held)
    assert events[-1].kv_bytes == cache_nbytes(caches) == caches[0].offset * lm.info.kv_bytes_per_token


def test_a_quantized_latent_cache_stays_close_to_the_float_one():
    model = tiny_model("deepseek_v3")
    tokens = mx.array([PROBE_TOKENS])
    plain = model(tokens, model.make_cache())
    caches = model.make_cache("quantized", bits=8)
    quantized = mx.concatenate([model(tokens[:, i : i + 1], caches) for i in range(tokens.shape[1])], axis=1)
    assert type(caches[0]).__name__ == "QuantizedKVCache"
    gap = mx.abs(plain - quantized)
    # measured: mean 3.4e-3 (Llama's tiny model: 1.4e-3), max 0.13 where 8-bit rounding flips an
    # expert choice; a wrong latent attention (scale, RoPE part, mask) moves logits by ~1
    assert mx.mean(gap).item() < 0.01 and mx.max(gap).item() < 0.25


def _router(n_group: int, topk_group: int, top_k: int, bias: list[float] | None, family: str = "deepseek_v3",
            scaling: float = 1.0) -> deepseek_v3.Router:
    config = {**tiny_config(family), "n_group": n_group, "topk_group": topk_group,
              "num_experts_per_tok": top_k, "routed_scaling_factor": scaling}
    router = deepseek_v3.Router(deepseek_v3.ModelArgs.from_dict(config))
    router.weight = mx.eye(8, 64)  # token x's affinity logit to expert i is x[i]
    if bias is not None:
        router.e_score_correction_bias = mx.array(bias)
    return router


def _x(logits: list[float]) -> mx.array:
    return mx.array([[logits + [0.0] * 56]])  # (1, 1, 64)


def test_deepseek_routing_keeps_only_the_best_groups():
    # groups of two: {0,1} {2,3} {4,5} {6,7}; group scores (sum of both) decide which groups stay
    logits = [3.0, -3.0, 1.0, 1.0, 2.5, -4.0, 0.5, 0.4]
    experts, _ = _router(4, 1, 2, [0.0] * 8)(_x(logits))
    assert sorted(experts.tolist()[0][0]) == [2, 3]  # group {2,3} (sum 1.46) beats {0,1} (1.00) and the rest
    experts, _ = _router(4, 4, 2, [0.0] * 8)(_x(logits))
    assert sorted(experts.tolist()[0][0]) == [0, 4]  # every group eligible: the two best experts


def test_deepseek_bias_chooses_but_does_not_weigh():
    logits = [2.0, 1.0, 0.0, -1.0, -2.0, -3.0, -4.0, -5.0]
    bias = [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 10.0]
    experts, gates = _router(1, 1, 2, bias)(_x(logits))
    chosen = experts.tolist()[0][0]
    assert sorted(chosen) == [0, 7]  # the bias brought expert 7 in
    s = 1 / (1 + np.exp(-np.array(logits)))  # the gates are the unbiased sigmoids, renormalised
    expected = {e: s[e] / (s[0] + s[7]) for e in (0, 7)}
    assert np.allclose([gates.tolist()[0][0][chosen.index(e)] for e in (0, 7)], [expected[0], expected[7]], atol=1e-6)


def test_qwen3_moe_routes_to_the_top_k_softmax_experts_renormalised():
    block = tiny_model("qwen3_moe").layers[0].mlp
    assert isinstance(block, qwen3_moe.SparseMoeBlock) and block.norm_topk_prob
    x = mx.random.normal((1, 5, 64), key=mx.random.key(3))
    probs = np.array(mx.softmax(block.gate(x), axis=-1))[0]  # (5, E)
    experts = np.argsort(-probs, axis=-1)[:, : block.top_k]
    w = np.take_along_axis(probs, experts, -1)
    w /= w.sum(-1, keepdims=True)
    expert_out = np.array(block.switch_mlp(x, mx.array(experts[None])))[0]  # (5, k, dim)
    expected = (expert_out * w[..., None]).sum(1)
    assert np.abs(np.array(block(x))[0] - expected).max() < 1e-5


def test_deepseek_v2_routing_keeps_the_groups_with_the_best_single_expert_and_scales_softmax_gates():
    # groups {0,1} {2,3} {4,5} {6,7}: by their best expert {0,1} wins (V3's two-best sum would pick {2,3})
    logits = [2.0, -5.0, 1.5, 1.5, 0.0, 0.0, 1.9, -5.0]
    router = _router(4, 1, 2, None, family="deepseek_v2", scaling=1.5)
    assert "e_score_correction_bias" not in dict(router.parameters())  # V2 has no balance bias
    experts, gates = router(_x(logits))
    chosen = experts.tolist()[0][0]
    assert sorted(chosen) == [0, 1]
    p = np.exp(np.array(logits)) / np.exp(np.array(logits)).sum()  # softmax over the 8 experts, not renormalised
    assert np.allclose([gates.tolist()[0][0][chosen.index(e)] for e in (0, 1)], [1.5 * p[0], 1.5 * p[1]], atol=1e-6)
