"""Tiny random-weight checkpoints of every architecture, written to disk in each format.

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
    "qwen2": dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=32, rope_theta=1e6,
                  tie_word_embeddings=True),
    "qwen3": dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                  tie_word_embeddings=True),
    "phi3": dict(num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4, sliding_window=8,
                 tie_word_embeddings=False),
    # six layers: llama.cpp hard-codes Gemma 3's pattern (every sixth layer global, local base 1e4)
    "gemma3": dict(num_hidden_layers=6, num_attention_heads=2, num_key_value_heads=1, head_dim=32,
                   sliding_window=8, query_pre_attn_scalar=32, rope_local_base_freq=10000.0,
                   rope_theta=1e6, rms_norm_eps=1e-6),
}
ARCHITECTURES = tuple(TINY)


def tiny_config(name: str) -> dict[str, Any]:
    return dict(model_type=name, hidden_size=64, intermediate_size=128, vocab_size=VOCAB,
                max_position_embeddings=256, **TINY[name])


def tiny_model(name: str, seed: int = 0):
    """The architecture's Model with random weights (norm weights random too, so a wrong
    1 + γ convention or a missing norm shows), evaluated in float32."""
    arch = get_architecture(name)
    model = arch.model(arch.args.from_dict(tiny_config(name)))
    mx.random.seed(seed)
    params = [(k, mx.random.normal(v.shape) * 0.2) for k, v in tree_flatten(model.parameters())]
    model.load_weights(params)
    mx.eval(model.parameters())
    return model


def _tokens() -> list[str]:
    from engine.tokenizer import byte_decoder

    by_byte = {b: ch for ch, b in byte_decoder().items()}
    return [by_byte[b] for b in range(256)] + [f"<|control_{i}|>" for i in range(N_CONTROL)]


def write_hf(name: str, folder: Path, seed: int = 0) -> Path:
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    folder.mkdir(parents=True, exist_ok=True)
    model = tiny_model(name, seed)
    (folder / "config.json").write_text(json.dumps(tiny_config(name)))
    weights = {k if k.startswith("lm_head") else f"model.{k}": v for k, v in tree_flatten(model.parameters())}
    mx.save_safetensors(str(folder / "model.safetensors"), weights)
    tokens = _tokens()
    backend = Tokenizer(models.BPE({t: i for i, t in enumerate(tokens[:256])}, []))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in tokens[256:]])
    backend.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({"eos_token": tokens[256]}))
    return folder


def write_gguf(name: str, path: Path, seed: int = 0, tensor_type=None) -> Path:
    """`tensor_type` (a gguf.GGMLQuantizationType) quantizes the matrices with gguf's quantizer."""
    import gguf

    arch, config, model = get_architecture(name), tiny_config(name), tiny_model(name, seed)
    args = model.args
    w = gguf.GGUFWriter(str(path), name)
    w.add_name(f"tiny {name}")
    w.add_block_count(args.num_hidden_layers)
    w.add_context_length(config["max_position_embeddings"])
    w.add_embedding_length(args.hidden_size)
    w.add_feed_forward_length(args.intermediate_size)
    w.add_head_count(args.num_attention_heads)
    w.add_head_count_kv(args.num_key_value_heads)
    w.add_key_length(args.head_dim)
    w.add_value_length(args.head_dim)
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
    params = dict(tree_flatten(model.parameters()))
    for gguf_name, value in arch.gguf.to_gguf(params, config).items():
        data = np.array(value.astype(mx.float32))
        if tensor_type is not None and data.ndim == 2:
            w.add_tensor(gguf_name, gguf.quants.quantize(data, tensor_type), raw_dtype=tensor_type)
        else:
            w.add_tensor(gguf_name, data)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
