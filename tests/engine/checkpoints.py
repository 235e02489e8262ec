"""Tiny random-weight checkpoints of every architecture, written to disk in each format.

Run as `python -m tests.engine.checkpoints DIR` it writes every architecture's Hugging Face folder
to DIR/<name> with DIR/manifest.json (probe tokens, weight digests): the input of
scripts/make_golden_mlxlm.py, which runs mlx-lm on them in a venv of its own.

`write_hf(arch_name, folder)`: a Hugging Face folder (config.json, model.safetensors with HF names,
a byte-level tokenizer.json). `write_gguf(arch_name, path)`: a GGUF written with llama.cpp's own
`gguf` writer, with the metadata keys llama.cpp's converter writes (spelled out here, not taken from
the loader) and the tensors as its converter stores them (`GGUFLayout.to_gguf`: Q/K rows permuted
for Llama, 1 + γ norms for Gemma). Both come from the same random model, so they must agree.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import mlx.core as mx
import numpy as np
from mlx.utils import tree_flatten

from engine.models import get_architecture

VOCAB = 300  # 256 byte tokens + 44 control tokens
N_CONTROL = VOCAB - 256

# Per architecture: the tiny hyper-parameters (as config.json spells them) and the GGUF keys
# beyond the common ones that llama.cpp writes for it.
TINY: dict[str, dict[str, Any]] = {
    "llama": dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                  tie_word_embeddings=True),
    "mistral": dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, sliding_window=8,
                    tie_word_embeddings=False),
    "qwen2": dict(num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, rope_theta=1e6,
                  tie_word_embeddings=True),
    "qwen3": dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                  tie_word_embeddings=True),
    "phi3": dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, sliding_window=8,
                 tie_word_embeddings=False),
    # six layers: llama.cpp hard-codes Gemma 3's pattern (every sixth layer global, local base 1e4)
    "gemma3": dict(num_hidden_layers=6, num_attention_heads=2, num_key_value_heads=1, head_dim=32,
                   sliding_window=8, query_pre_attn_scalar=32, rope_local_base_freq=10000.0,
                   rope_theta=1e6, rms_norm_eps=1e-6),
    "qwen3_moe": dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                      num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32, norm_topk_prob=True,
                      decoder_sparse_step=1, mlp_only_layers=[], tie_word_embeddings=True),
    # layer 0 dense, layers 1-2 experts; 8 experts in 4 groups, the best 2 groups eligible
    "deepseek_v3": dict(num_hidden_layers=3, num_attention_heads=4, kv_lora_rank=64, q_lora_rank=64,
                        qk_rope_head_dim=32, qk_nope_head_dim=32, v_head_dim=32, n_routed_experts=8,
                        n_shared_experts=1, num_experts_per_tok=2, n_group=4, topk_group=2,
                        routed_scaling_factor=2.5, moe_intermediate_size=32, first_k_dense_replace=1,
                        norm_topk_prob=True, rms_norm_eps=1e-6, tie_word_embeddings=False,
                        rope_scaling={"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16,
                                      "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 0.7, "mscale_all_dim": 0.7}),
    # V2-Lite's shape: queries not low-rank; softmax routing limited to the 2 best of 4 groups,
    # gates scaled (not renormalised); two shared experts
    "deepseek_v2": dict(num_hidden_layers=3, num_attention_heads=4, kv_lora_rank=64, q_lora_rank=None,
                        qk_rope_head_dim=32, qk_nope_head_dim=32, v_head_dim=32, n_routed_experts=8,
                        n_shared_experts=2, num_experts_per_tok=2, n_group=4, topk_group=2,
                        topk_method="group_limited_greedy", scoring_func="softmax", norm_topk_prob=False,
                        routed_scaling_factor=1.5, moe_intermediate_size=32, first_k_dense_replace=1,
                        rms_norm_eps=1e-6, tie_word_embeddings=False,
                        rope_scaling={"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16,
                                      "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 0.707, "mscale_all_dim": 0.707}),
    # sliding (window 8) and full layers alternating; 8 experts, 2 per token; attention biases and sinks
    "gpt_oss": dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                    sliding_window=8, num_local_experts=8, num_experts_per_tok=2, tie_word_embeddings=False,
                    attention_bias=True, rope_theta=150000.0),
    # linear-attention (Gated DeltaNet) layers 0 and 2, gated full attention 1 and 3; two value heads
    # per key head; layer 2 dense, the others 8 experts (2 per token) and a shared expert
    "qwen3_next": dict(num_hidden_layers=4, full_attention_interval=2, num_attention_heads=4, num_key_value_heads=2,
                       head_dim=32, partial_rotary_factor=0.25, linear_num_key_heads=2, linear_num_value_heads=4,
                       linear_key_head_dim=32, linear_value_head_dim=32, linear_conv_kernel_dim=4, num_experts=8,
                       num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=64,
                       decoder_sparse_step=1, mlp_only_layers=[2], norm_topk_prob=True, rms_norm_eps=1e-6,
                       tie_word_embeddings=False),
}
ARCHITECTURES = tuple(TINY)
PROBE_TOKENS = [(i * 37 + 11) % 256 for i in range(24)]  # longer than the tiny windows (8)
GGUF_ARCHITECTURE = {"qwen3_next": "qwen3next", "gpt_oss": "gpt-oss", "qwen3_moe": "qwen3moe", "deepseek_v3": "deepseek2", "deepseek_v2": "deepseek2"}  # llama.cpp's


def tiny_config(name: str) -> dict[str, Any]:
    return dict(model_type=name, hidden_size=64, intermediate_size=128, vocab_size=VOCAB,
                max_position_embeddings=256, **{"rms_norm_eps": 1e-5, "rope_theta": 10000.0, **TINY[name]})


def tiny_model(name: str, seed: int = 0):
    """The architecture's Model with random weights (norm weights random too, so a wrong
    1 + γ convention or a missing norm shows), evaluated in float32."""
    arch = get_architecture(name)
    model = arch.model(arch.args.from_dict(tiny_config(name)))
    mx.random.seed(seed)
    params = [(k, mx.random.normal(v.shape) * 0.2) for k, v in tree_flatten(model.parameters())]
    # a linear-attention decay rate is negative (A = −exp(A_log)): a positive one would grow the memory
    params = [(k, -mx.exp(v) if k.endswith("linear_attn.A") else v) for k, v in params]
    model.load_weights(params)
    mx.eval(model.parameters())
    return model


def weights_digest(name: str, seed: int = 0) -> str:
    """sha256 of the tiny model's float32 weights (names sorted): says a fixture was made from them."""
    import hashlib

    digest = hashlib.sha256()
    for key, value in sorted(tree_flatten(tiny_model(name, seed).parameters())):
        digest.update(key.encode())
        digest.update(np.array(value.astype(mx.float32)).tobytes())
    return digest.hexdigest()


def _tokens() -> list[str]:
    from engine.tokenizer import byte_decoder

    by_byte = {b: ch for ch, b in byte_decoder().items()}
    return [by_byte[b] for b in range(256)] + [f"<|control_{i}|>" for i in range(N_CONTROL)]


def hf_tensors(name: str, params: dict[str, mx.array]) -> dict[str, mx.array]:
    """Our parameter names -> Hugging Face's: one tensor per expert (`mlp.experts.E.gate_proj`),
    DeepSeek's per-head W^UK / W^UV as the one `kv_b_proj` they were split from, and Qwen3-Next's
    fused in_proj_qkvz, A_log, (C, 1, K) convolution and zero-centred norms."""
    config, out = tiny_config(name), {}
    for key, value in params.items():
        if name == "qwen3_next" and (hf := _qwen3_next_hf(key, value, params)) is not None:
            out.update(hf)
        elif ".switch_mlp." in key:
            for e in range(value.shape[0]):
                out[key.replace(".switch_mlp.", f".experts.{e}.")] = value[e]
        elif key.endswith("self_attn.embed_q.weight"):  # (H, rank, nope) + (H, v, rank) -> (H * (nope + v), rank)
            w_uv = params[key.replace("embed_q", "unembed_out")]
            kv_b = mx.concatenate([value.swapaxes(-1, -2), w_uv], axis=1)
            out[key.replace("embed_q", "kv_b_proj")] = kv_b.reshape(-1, config["kv_lora_rank"])
        elif not key.endswith("self_attn.unembed_out.weight"):
            out[key] = value
    return out


def _qwen3_next_hf(key: str, value: mx.array, params: dict[str, mx.array]) -> dict[str, mx.array] | None:
    """Hugging Face's form of one Qwen3-Next parameter ({} when another one carries it), or None."""
    from engine.models.qwen3_next import ModelArgs, fuse_qkvz

    if key.endswith("linear_attn.in_proj_qkv.weight"):
        args = ModelArgs.from_dict(tiny_config("qwen3_next"))
        z = params[key.replace("in_proj_qkv", "in_proj_z")]
        return {key.replace("in_proj_qkv", "in_proj_qkvz"): fuse_qkvz(value, z, args)}
    if key.endswith("linear_attn.in_proj_z.weight"):
        return {}
    if key.endswith("linear_attn.A"):
        return {key + "_log": mx.log(-value)}
    if key.endswith("linear_attn.conv1d.weight"):
        return {key: value[:, None, :]}
    if key.endswith("norm.weight") and not key.endswith("linear_attn.norm.weight"):
        return {key: value - 1.0}
    return None


def write_hf(name: str, folder: Path, seed: int = 0) -> Path:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    folder.mkdir(parents=True, exist_ok=True)
    model = tiny_model(name, seed)
    (folder / "config.json").write_text(json.dumps(tiny_config(name)))
    params = hf_tensors(name, dict(tree_flatten(model.parameters())))
    weights = {k if k.startswith("lm_head") else f"model.{k}": v for k, v in params.items()}
    mx.save_safetensors(str(folder / "model.safetensors"), weights)
    tokens = _tokens()
    backend = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens[:256])}, []))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in tokens[256:]])
    backend.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"eos_token": tokens[256]}))
    return folder


def write_gguf(name: str, path: Path, seed: int = 0, tensor_type=None, strings: dict[str, str] | None = None) -> Path:
    """`tensor_type` (a gguf.GGMLQuantizationType) quantizes the matrices with gguf's quantizer;
    `strings` are further string metadata (e.g. general.license, tokenizer.chat_template)."""
    import gguf

    arch, config, model = get_architecture(name), tiny_config(name), tiny_model(name, seed)
    args = model.args
    w = gguf.GGUFWriter(str(path), GGUF_ARCHITECTURE.get(name, name))
    w.add_name(f"tiny {name}")
    w.add_block_count(args.num_hidden_layers)
    w.add_context_length(config["max_position_embeddings"])
    w.add_embedding_length(args.hidden_size)
    w.add_feed_forward_length(args.intermediate_size)
    w.add_head_count(args.num_attention_heads)
    w.add_head_count_kv(args.num_key_value_heads)
    if name.startswith("deepseek"):  # llama.cpp's converter: MLA as MQA over the latent, head widths apart
        w.add_key_length(args.kv_lora_rank + args.qk_rope_head_dim)
        w.add_value_length(args.kv_lora_rank)
        w.add_key_length_mla(args.head_dim)
        w.add_value_length_mla(args.v_head_dim)
        w.add_kv_lora_rank(args.kv_lora_rank)
        if args.q_lora_rank:
            w.add_q_lora_rank(args.q_lora_rank)
        w.add_rope_dimension_count(args.qk_rope_head_dim)
        w.add_leading_dense_block_count(args.first_k_dense_replace)
        w.add_expert_feed_forward_length(args.moe_intermediate_size)
        w.add_expert_count(args.n_routed_experts)
        w.add_expert_shared_count(args.n_shared_experts)
        w.add_expert_used_count(args.num_experts_per_tok)
        w.add_expert_weights_scale(args.routed_scaling_factor)
        w.add_expert_weights_norm(args.norm_topk_prob)
        w.add_expert_gating_func(getattr(gguf.ExpertGatingFuncType, args.scoring_func.upper()))
        w.add_expert_group_count(args.n_group)
        w.add_expert_group_used_count(args.topk_group)
        if yarn := args.rope_scaling:
            w.add_rope_scaling_type(gguf.RopeScalingType.YARN)
            w.add_rope_scaling_factor(yarn["factor"])
            w.add_rope_scaling_orig_ctx_len(yarn["original_max_position_embeddings"])
            w.add_rope_scaling_yarn_log_mul(0.1 * yarn["mscale_all_dim"])  # llama.cpp's spelling of mscale
    else:
        w.add_key_length(args.head_dim)
        w.add_value_length(args.head_dim)
    if name == "gpt_oss":
        w.add_expert_count(args.num_local_experts)
        w.add_expert_used_count(args.num_experts_per_tok)
        w.add_expert_feed_forward_length(args.intermediate_size)
    if name == "qwen3_next":  # llama.cpp's converter: the DeltaNet widths as SSM keys
        w.add_rope_dimension_count(int(args.head_dim * args.partial_rotary_factor))
        w.add_ssm_conv_kernel(args.linear_conv_kernel_dim)
        w.add_ssm_state_size(args.linear_key_head_dim)
        w.add_ssm_group_count(args.linear_num_key_heads)
        w.add_ssm_time_step_rank(args.linear_num_value_heads)
        w.add_ssm_inner_size(args.linear_value_head_dim * args.linear_num_value_heads)
        w.add_full_attention_interval(args.full_attention_interval)
        w.add_expert_shared_feed_forward_length(args.shared_expert_intermediate_size)
    if name in ("qwen3_moe", "qwen3_next"):
        w.add_expert_count(args.num_experts)
        w.add_expert_used_count(args.num_experts_per_tok)
        w.add_expert_feed_forward_length(args.moe_intermediate_size)
    w.add_layer_norm_rms_eps(args.rms_norm_eps)
    w.add_rope_freq_base(args.rope_theta)
    if getattr(args, "sliding_window", None):
        w.add_sliding_window(args.sliding_window)
    tokens = _tokens()
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types([1] * 256 + [3] * N_CONTROL)
    w.add_token_merges([])
    w.add_eos_token_id(256)
    w.add_add_bos_token(False)
    for key, value in (strings or {}).items():
        w.add_string(key, value)
    params = dict(tree_flatten(model.parameters()))
    for gguf_name, value in arch.gguf.to_gguf(params, config).items():
        data = np.array(value.astype(mx.float32))
        # llama.cpp keeps biases and the short convolution (ssm_conv1d) float
        if tensor_type is not None and data.ndim >= 2 and not gguf_name.endswith((".bias", "ssm_conv1d.weight")):
            w.add_tensor(gguf_name, gguf.quants.quantize(data, tensor_type), raw_dtype=tensor_type)
        else:
            w.add_tensor(gguf_name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def main() -> None:
    import sys

    out = Path(sys.argv[1])
    manifest = {"tokens": PROBE_TOKENS, "architectures": {}}
    for name in ARCHITECTURES:
        write_hf(name, out / name)
        manifest["architectures"][name] = {"weights_sha256": weights_digest(name), "config": tiny_config(name)}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    print(f"wrote {len(ARCHITECTURES)} tiny checkpoints to {out}")


if __name__ == "__main__":
    main()
