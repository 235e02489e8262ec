"""Export a loaded model to a Hugging Face / MLX style folder.

config.json, model.safetensors (weights as held: float32, or MLX-quantized with the quantization in
config.json), tokenizer.json and tokenizer_config.json (with the chat template). The folder loads
back through `engine.loading.load` and in mlx-lm.
"""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
from mlx.utils import tree_flatten

from engine import native
from engine.loading import MLX_GROUPS, LoadedModel
from engine.models import get_architecture
from engine.tokenizer import HFTokenizer


def export_folder(lm: LoadedModel, out: str | Path) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model, tok, info = lm.model, lm.tokenizer, lm.info
    if not isinstance(tok, HFTokenizer):
        raise ValueError("only tokenizers backed by `tokenizers` can be exported as tokenizer.json")
    config = model.args.to_dict()
    config["architectures"] = [get_architecture(config["model_type"]).hf_class(config["model_type"])]
    quantized = {path: m for path, m in model.named_modules() if isinstance(m, (nn.QuantizedLinear, nn.QuantizedEmbedding))}
    readable = {path: _mlx_readable(m) for path, m in quantized.items()}
    quant = {path: {"group_size": r[3], "bits": r[4]} for path, r in readable.items()}
    if quant:
        first = next(iter(quant.values()))
        config["quantization"] = {**first, **{p: q for p, q in quant.items() if q != first}}
    config["eos_token_id"] = sorted(tok.eos_ids)
    if tok.bos_id is not None:
        config["bos_token_id"] = tok.bos_id
    (out / "config.json").write_text(json.dumps(config, indent=2))
    weights = dict(tree_flatten(model.parameters()))
    for path, (w, scales, biases, _, _) in readable.items():
        weights.update({f"{path}.weight": w, f"{path}.scales": scales, f"{path}.biases": biases})
    if hasattr(model, "export_weights"):  # an architecture whose own layout differs from mlx-lm's
        weights = model.export_weights(weights)
    weights = {f"model.{k}" if not k.startswith("lm_head") else k: v for k, v in weights.items()}
    mx.save_safetensors(str(out / "model.safetensors"), weights, metadata={"format": "mlx"})
    tok.backend.save(str(out / "tokenizer.json"))
    tconf = {
        "add_bos_token": tok.add_bos,
        "bos_token": tok.pieces[tok.bos_id] if tok.bos_id is not None else None,
        "eos_token": tok.pieces[min(tok.eos_ids)] if tok.eos_ids else None,
        "chat_template": tok.chat_template.source if tok.chat_template else None,
        "source_model": info.path,
    }
    (out / "tokenizer_config.json").write_text(json.dumps(tconf, indent=2, ensure_ascii=False))
    return out


READABLE_BITS = 8  # what a layer whose group MLX cannot read is re-quantized to (finer than the 6 bits of GGUF Q6_K)


def _mlx_readable(m: nn.Module) -> tuple[mx.array, mx.array, mx.array, int, int]:
    """A quantized layer's (packed weight, scales, biases, group size, bits) in a layout MLX and
    mlx-lm read. A group MLX's operations refuse (16: GGUF Q6_K as Glassbox's kernels hold it,
    exactly) is dequantized by the kernels and re-quantized to READABLE_BITS bits in groups of 32:
    not bit-exact, but within 8-bit rounding of the held weights."""
    if m.group_size in MLX_GROUPS:
        return m.weight, m.scales, m.biases, m.group_size, m.bits
    full = native.dequantize(m.weight, m.scales.astype(mx.float32), m.biases.astype(mx.float32), m.group_size, m.bits)
    w, scales, biases = mx.quantize(full, group_size=MLX_GROUPS[0], bits=READABLE_BITS)
    return w, scales, biases, MLX_GROUPS[0], READABLE_BITS
