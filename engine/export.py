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

from engine.loading import LoadedModel
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
    quant = {
        path: {"group_size": m.group_size, "bits": m.bits}
        for path, m in model.named_modules()
        if isinstance(m, (nn.QuantizedLinear, nn.QuantizedEmbedding))
    }
    if quant:
        first = next(iter(quant.values()))
        config["quantization"] = {**first, **{p: q for p, q in quant.items() if q != first}}
    config["eos_token_id"] = sorted(tok.eos_ids)
    if tok.bos_id is not None:
        config["bos_token_id"] = tok.bos_id
    (out / "config.json").write_text(json.dumps(config, indent=2))
    weights = dict(tree_flatten(model.parameters()))
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
