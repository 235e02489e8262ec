"""Find a model's format, read its weights and tokenizer, and build the model.

Formats: a GGUF file (Q4_0, Q4_1, Q8_0, F16, BF16, F32, read by engine/gguf.py), or a Hugging Face / MLX
folder (`config.json` + `*.safetensors`, float or MLX-quantized). Weight names are mapped to the
model's, GGUF's permuted Q/K rows are put back into rotate-half order, and the CPU policy decides
how the weights are held (see `WeightPolicy`).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn

from engine import _blas, native
from engine.gguf import GGUFError, read_gguf
from engine.models import UnsupportedArchitecture, get_architecture
from engine.native_modules import use_native_kernels
from engine.tokenizer import Tokenizer, TokenizerError, tokenizer_from_folder, tokenizer_from_gguf

GGUF_FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 32: "BF16",
}
GGUF_LAYER_NAMES = {
    "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
GGUF_TOP_NAMES = {"token_embd": "embed_tokens", "output_norm": "norm", "output": "lm_head"}
# Expand quantized weights to float32 on the CPU when the expanded model stays this small.
CPU_FLOAT32_LIMIT_BYTES = 4 * 1024**3


class ModelLoadError(ValueError):
    """A model could not be loaded; the message names what is wrong."""


@dataclass
class WeightPolicy:
    """How to hold the weights: "auto", "float32", or "stored" (exactly as the file has them).

    "auto" keeps a quantized file's quantization when it can be computed with fast: on Metal, and
    on a CPU where Glassbox's kernels (engine/native.py) are built. Without them MLX's CPU quantized
    matmul is single-threaded and slow, so a quantized model small enough is expanded to float32."""

    mode: str = "auto"
    float32_limit_bytes: int = CPU_FLOAT32_LIMIT_BYTES

    def expand(self, dense_float32_bytes: int, quantized: bool = True) -> bool:
        if self.mode == "float32":
            return True
        if self.mode == "stored":
            return False
        on_cpu = mx.default_device() == mx.cpu
        if on_cpu and quantized and native.available():
            return False
        return on_cpu and dense_float32_bytes <= min(self.float32_limit_bytes, _total_memory() // 4)


@dataclass
class ModelInfo:
    name: str
    path: str
    format: str  # "gguf" or "safetensors"
    architecture: str
    n_params: int
    stored_as: str  # e.g. "Q4_1 (4-bit), token embedding Q8_0"
    held_as: str  # e.g. "float32 (dequantized from 4-bit for CPU speed)"
    context_length: int
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab_size: int
    load_s: float
    blas: str
    config: dict[str, Any] = field(default_factory=dict)
    speed_advice: str | None = None  # how to get the fast CPU path, when it is missing
    sliding_window: int | None = None  # positions each token attends to, if the model limits it
    cpu_kernels: str | None = None  # Glassbox's native CPU kernels in use (e.g. "avx2"), or None

    @property
    def kv_bytes_per_token(self) -> int:
        """Plain-cache bytes per token: 2 (K and V) x layers x KV heads x head dim x 4 (float32)."""
        return 2 * self.n_layers * self.n_kv_heads * self.head_dim * 4


@dataclass
class LoadedModel:
    model: nn.Module
    tokenizer: Tokenizer
    info: ModelInfo


def load(path: str | os.PathLike, policy: WeightPolicy | None = None) -> LoadedModel:
    """Load a GGUF file or a model folder. Raises ModelLoadError with a clear message."""
    policy = policy or WeightPolicy()
    p = Path(path).expanduser()
    t0 = time.perf_counter()
    if not p.exists():
        raise ModelLoadError(f"model not found: {p}")
    try:
        if p.is_dir():
            config, weights, make_tokenizer, fmt = _read_folder(p)
        elif p.suffix.lower() == ".gguf" or _has_gguf_magic(p):
            config, weights, make_tokenizer, fmt = _read_gguf(p)
        else:
            raise ModelLoadError(f"{p}: not a GGUF file or a model folder")
        arch = get_architecture(config["model_type"])
        try:
            args = arch.ModelArgs.from_dict(config)
            model = arch.Model(args)
        except ValueError as e:  # inconsistent hyper-parameters, an unsupported rope_scaling, ...
            raise ModelLoadError(f"{p}: invalid model configuration: {e}") from e
        weights = model.sanitize(weights)
        stored_as, quant = _describe_storage(weights, fmt, config)
        n_params = _count_params(weights, quant)
        expand = policy.expand(n_params * 4, quantized=bool(quant.layers))
        if expand:
            weights = _to_float32(weights, quant)
            mx.async_eval(weights)  # expand on MLX's thread while Python builds the tokenizer
            held_as = "float32" + (f" (expanded from {stored_as} for CPU speed)" if quant.layers else "")
        else:
            _quantize_like(model, weights, quant)
            weights = _float32_scales_on_cpu(weights, quant)
            held_as = f"as stored ({stored_as})"
        tokenizer = make_tokenizer()
        if tokenizer.vocab_size > args.vocab_size:
            # ids past the embedding table would index out of bounds on every such token
            raise ModelLoadError(
                f"{p}: the tokenizer has {tokenizer.vocab_size} tokens but the model only "
                f"{args.vocab_size} embeddings"
            )
        _load_weights(model, weights, p)
        mx.eval(model.parameters())
        cpu_kernels = _kernel_names(_Quant({}) if expand else quant) if use_native_kernels(model) else None
    except (UnsupportedArchitecture, TokenizerError) as e:
        raise ModelLoadError(f"{p}: {e}") from e
    except (KeyError, TypeError) as e:
        raise ModelLoadError(f"{p}: missing or malformed model metadata ({e})") from e
    model.eval()
    info = ModelInfo(
        name=config.get("name") or p.stem,
        path=str(p),
        format=fmt,
        architecture=config["model_type"],
        n_params=n_params,
        stored_as=stored_as,
        held_as=held_as,
        context_length=int(config.get("max_position_embeddings", 4096)),
        n_layers=args.num_hidden_layers,
        n_heads=args.num_attention_heads,
        n_kv_heads=args.num_key_value_heads,
        head_dim=args.head_dim,
        vocab_size=args.vocab_size,
        load_s=time.perf_counter() - t0,
        blas=_blas.loaded_path or "bundled reference BLAS",
        config=config,
        speed_advice=_speed_advice(),
        sliding_window=getattr(args, "sliding_window", None),
        cpu_kernels=cpu_kernels,
    )
    return LoadedModel(model, tokenizer, info)


# ---------------------------------------------------------------------------------------------
# GGUF


def _has_gguf_magic(p: Path) -> bool:
    with open(p, "rb") as f:
        return f.read(4) == b"GGUF"


def _read_gguf(p: Path):
    if not _has_gguf_magic(p):
        raise ModelLoadError(f"{p}: not a GGUF file (bad magic bytes)")

    def check(meta: dict[str, Any]) -> None:
        architecture = meta.get("general.architecture")
        if architecture is None:
            raise ModelLoadError(f"{p}: the GGUF file does not declare general.architecture")
        get_architecture(str(architecture))  # name an unsupported model before converting tensors

    try:
        weights, meta = read_gguf(p, check)
    except GGUFError as e:
        raise ModelLoadError(f"{p}: the GGUF file is corrupt or truncated: {e}") from e
    config = gguf_config(meta, weights)
    weights = {gguf_to_model_name(k): v for k, v in weights.items()}
    weights = _unpermute_qk(weights, config)
    return config, weights, lambda: tokenizer_from_gguf(meta), "gguf"


def gguf_config(meta: dict[str, Any], weights: dict[str, mx.array]) -> dict[str, Any]:
    """A config.json-style dict from GGUF metadata."""
    arch = str(meta["general.architecture"])

    def get(key, default=None):
        value = meta.get(f"{arch}.{key}", default)
        return value.item() if hasattr(value, "item") else value

    if "rope_freqs.weight" in weights:
        raise ModelLoadError("GGUF files with rope_freqs (Llama 3.1 rope scaling) are not supported yet")
    n_heads = int(get("attention.head_count"))
    hidden = int(get("embedding_length"))
    config: dict[str, Any] = {
        "model_type": arch,
        "name": str(meta.get("general.name", "")),
        "hidden_size": hidden,
        "num_hidden_layers": int(get("block_count")),
        "intermediate_size": int(get("feed_forward_length")),
        "num_attention_heads": n_heads,
        "num_key_value_heads": int(get("attention.head_count_kv", n_heads)),
        "head_dim": int(get("attention.key_length", get("rope.dimension_count", hidden // n_heads))),
        "rms_norm_eps": float(get("attention.layer_norm_rms_epsilon", 1e-5)),
        "rope_theta": float(get("rope.freq_base", 10000.0)),
        "max_position_embeddings": int(get("context_length", 4096)),
        "vocab_size": int(get("vocab_size", len(meta["tokenizer.ggml.tokens"]))),
        "tie_word_embeddings": "output.weight" not in weights,
        "file_type": GGUF_FILE_TYPES.get(int(_item(meta.get("general.file_type", -1))), "unknown"),
    }
    if get("rope.scaling.type") == "linear":
        config["rope_scaling"] = {"type": "linear", "factor": float(get("rope.scaling.factor"))}
    return config


def gguf_to_model_name(name: str) -> str:
    parts = name.split(".")
    if parts[0] == "blk":
        return f"layers.{parts[1]}.{GGUF_LAYER_NAMES.get(parts[2], parts[2])}.{'.'.join(parts[3:])}"
    return ".".join([GGUF_TOP_NAMES.get(parts[0], parts[0]), *parts[1:]])


def _unpermute_qk(weights: dict[str, mx.array], config: dict[str, Any]) -> dict[str, mx.array]:
    """GGUF stores Q/K rows permuted for interleaved RoPE; restore the rotate-half row order.

    llama.cpp's converter did w.reshape(heads, 2, hd/2, ...).swapaxes(1, 2); this is its inverse.
    Quantization groups run along the input dimension, so the packed rows move unchanged.
    """
    heads = {"q_proj": config["num_attention_heads"], "k_proj": config["num_key_value_heads"]}
    out = dict(weights)
    for name, w in weights.items():
        proj = name.split(".")[-2] if name.count(".") >= 2 else ""
        if proj in heads and ".self_attn." in name:
            n = heads[proj]
            rows = w.shape[0]
            out[name] = w.reshape(n, rows // n // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    return out


# ---------------------------------------------------------------------------------------------
# Hugging Face / MLX folders


def _read_folder(p: Path):
    config_path = p / "config.json"
    if not config_path.exists():
        raise ModelLoadError(f"{p}: no config.json in this folder")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as e:
        raise ModelLoadError(f"{config_path}: not valid JSON ({e})") from e
    if not isinstance(config, dict) or "model_type" not in config:
        raise ModelLoadError(f"{config_path}: no model_type")
    get_architecture(config["model_type"])  # an unknown architecture is the problem to report
    files = sorted(p.glob("*.safetensors"))
    if not files:
        raise ModelLoadError(f"{p}: no *.safetensors weight files")
    weights: dict[str, mx.array] = {}
    for f in files:
        try:
            weights.update(mx.load(str(f)))
        except Exception as e:
            raise ModelLoadError(f"{f}: corrupt or truncated safetensors file ({e})") from e
    weights = {k.removeprefix("model."): v for k, v in weights.items()}
    config.setdefault("name", p.name)
    return config, weights, lambda: tokenizer_from_folder(p, config), "safetensors"


# ---------------------------------------------------------------------------------------------
# Quantization and the CPU policy


@dataclass
class _Quant:
    """Per quantized layer path: (group_size, bits)."""

    layers: dict[str, tuple[int, int]]


def _quant_params(weights, prefix: str, group_hint: int | None) -> tuple[int, int]:
    w, s = weights[f"{prefix}.weight"], weights[f"{prefix}.scales"]
    in_features_packed = w.shape[-1] * 32  # bits per row
    n_groups = s.shape[-1]
    if group_hint:
        bits = in_features_packed // (n_groups * group_hint)
        return group_hint, bits
    raise ModelLoadError(f"cannot infer quantization of {prefix}")


def _describe_storage(weights, fmt: str, config: dict[str, Any]) -> tuple[str, _Quant]:
    group = 32 if fmt == "gguf" else (config.get("quantization") or {}).get("group_size", 64)
    layers = {
        k[: -len(".scales")]: _quant_params(weights, k[: -len(".scales")], group)
        for k in weights
        if k.endswith(".scales")
    }
    if fmt == "gguf":
        stored = config.get("file_type", "unknown")
        if "embed_tokens" in layers and layers.get("embed_tokens") != layers.get("layers.0.mlp.up_proj"):
            stored += f", embedding {layers['embed_tokens'][1]}-bit"
    elif layers:
        bits = sorted({b for _, b in layers.values()})
        stored = f"MLX {'/'.join(map(str, bits))}-bit, group {group}"
    else:
        dtypes = sorted({str(v.dtype).split(".")[-1] for v in weights.values()})
        stored = "/".join(dtypes)
    return stored, _Quant(layers)


def _count_params(weights, quant: _Quant) -> int:
    total = 0
    for k, v in weights.items():
        prefix = k.rsplit(".", 1)[0]
        if k.endswith((".scales", ".biases")) and prefix in quant.layers:
            continue
        if prefix in quant.layers and k.endswith(".weight"):
            total += v.size * 32 // quant.layers[prefix][1]
        else:
            total += v.size
    return total


def _to_float32(weights, quant: _Quant) -> dict[str, mx.array]:
    out: dict[str, mx.array] = {}
    for k, v in weights.items():
        prefix = k.rsplit(".", 1)[0]
        if prefix in quant.layers:
            if k.endswith(".weight"):
                group, bits = quant.layers[prefix]
                # dequantize computes in the scales' dtype: float16 scales would round every weight
                scales = weights[f"{prefix}.scales"].astype(mx.float32)
                biases = weights[f"{prefix}.biases"].astype(mx.float32)
                out[k] = mx.dequantize(v, scales, biases, group_size=group, bits=bits)
            continue
        out[k] = v.astype(mx.float32) if mx.issubdtype(v.dtype, mx.floating) else v
    return out


def _quantize_like(model: nn.Module, weights, quant: _Quant) -> None:
    if not quant.layers:
        return

    def predicate(path: str, module: nn.Module):
        if path not in quant.layers:
            return False
        group, bits = quant.layers[path]
        return {"group_size": group, "bits": bits}

    nn.quantize(model, class_predicate=predicate)


def _float32_scales_on_cpu(weights, quant: _Quant) -> dict[str, mx.array]:
    """On the CPU everything computes in float32, but GGUF scales are float16, and a
    QuantizedEmbedding returns rows in its scales' dtype: the residual stream would start rounded
    to float16 (3e-3 off in next-token logprobs against llama.cpp; 3e-5 with float32 scales)."""
    if mx.default_device() != mx.cpu:
        return weights
    return {
        k: v.astype(mx.float32)
        if k.endswith((".scales", ".biases")) and k.rsplit(".", 1)[0] in quant.layers
        else v
        for k, v in weights.items()
    }


def _kernel_names(quant: _Quant) -> str:
    """e.g. "avx2 quantized matmul" or "avx2 quantized matmul, scalar for 6-bit", plus the fused ops."""
    kinds = sorted({(bits, native.kernel_name(bits, group)) for group, bits in quant.layers.values()})
    fast = {name for _, name in kinds if name != "scalar"}
    slow = [f"{bits}-bit" for bits, name in kinds if name == "scalar"]
    text = "/".join(sorted(fast)) + " quantized matmul, " if fast else ""
    text += f"scalar quantized matmul for {'/'.join(slow)}, " if slow else ""
    return text + "fused attention, RMSNorm and RoPE"


def _speed_advice() -> str | None:
    """What would make this CPU faster (OpenBLAS, the native kernels), or None."""
    if mx.default_device() != mx.cpu:
        return None
    notes = [n for n in (_blas.advice(), native.advice()) if n]
    return " ".join(notes) or None


def _load_weights(model: nn.Module, weights: dict[str, mx.array], p: Path) -> None:
    expected = dict(_flatten(model.parameters()))
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing:
        raise ModelLoadError(f"{p}: missing tensors: {', '.join(missing[:5])}{' …' if len(missing) > 5 else ''}")
    if unexpected:
        raise ModelLoadError(f"{p}: unexpected tensors: {', '.join(unexpected[:5])}{' …' if len(unexpected) > 5 else ''}")
    for k, v in expected.items():
        if tuple(weights[k].shape) != tuple(v.shape):
            raise ModelLoadError(f"{p}: tensor {k} has shape {tuple(weights[k].shape)}, expected {tuple(v.shape)}")
    model.load_weights(list(weights.items()), strict=True)


def _flatten(tree, prefix: str = ""):
    from mlx.utils import tree_flatten

    return tree_flatten(tree, prefix=prefix)


def _item(v):
    return v.item() if hasattr(v, "item") else v


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 16 * 1024**3
