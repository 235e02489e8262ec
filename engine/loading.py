"""Find a model's format, read its weights and tokenizer, and build the model.

Formats: a GGUF file (read by engine/gguf.py: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, F16, BF16, F32 exactly;
K-quants and IQ4 through llama.cpp's `gguf` package), or a Hugging Face / MLX folder (`config.json` +
`*.safetensors`, float or MLX-quantized). Everything architecture-specific (GGUF names, row
permutations, config from metadata, chat-template fallback) comes from the architecture's own
file in engine/models/; the CPU policy decides how the weights are held (see `WeightPolicy`).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlx.core as mx
import mlx.nn as nn

from engine import _blas, native
from engine.cache import CachedToken
from engine.gguf import GGUFCorrupt, GGUFHeader, GGUFTruncated, GGUFUnsupported, read_gguf_contents
from engine.licences import terms_file_beside
from engine.model_kind import classify
from engine.models import UnsupportedArchitecture, get_architecture
from engine.models.base import Architecture, ConfigError, GGUFMeta
from engine.native_modules import use_native_kernels
from engine.tokenizer import (
    ChatTemplate,
    Tokenizer,
    TokenizerError,
    tokenizer_from_folder,
    tokenizer_from_gguf,
)
from engine.weights_cache import WeightsCache

GGUF_FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 25: "IQ4_NL", 30: "IQ4_XS", 32: "BF16", 38: "MXFP4_MOE",
}
# Tensors stored in a block format MLX has no layout for are expanded to float32 when read; held
# "as stored" (Metal) they are re-quantized to MLX's affine layout, group 32, with these bits:
# where a format's groups are 16 wide (Q2_K, Q3_K, Q6_K: two scales in one MLX group) or its grid
# is non-linear (IQ4), 8 bits, so re-quantizing adds little error. (Q4_K and Q5_K are affine per
# 32 values: engine/gguf.py reads them into MLX's layout exactly, like Q4_0 … Q8_0. Where
# Glassbox's CPU kernels run, Q6_K is read exactly too, as 6-bit codes in groups of 16.)
REQUANTIZE_BITS = {"Q2_K": 8, "Q3_K": 8, "Q6_K": 8, "IQ4_NL": 8, "IQ4_XS": 8}
REQUANTIZE_GROUP = 32
EXACT_GGUF_TYPES = ("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q4_K", "Q5_K")
MLX_GROUPS = (32, 64, 128)  # the group sizes MLX's own quantized operations take
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
    sliding_window: int | None = None  # widest window a layer is limited to (None: all layers see all)
    chat_template: str | None = None  # "the file's own", or the family template used instead
    base_model: bool = False  # pre-trained, not instruction-tuned (engine/model_kind.py): for completion
    base_model_reason: str = ""  # which signals decided base_model, in one sentence
    license: str | None = None  # the licence the file declares (GGUF general.license), e.g. "gemma"
    license_file: str | None = None  # its full text beside the model (<file>.license.*), if present
    cpu_kernels: str | None = None  # Glassbox's native CPU kernels in use (e.g. "avx2 quantized matmul, ..."), or None
    cached_token: CachedToken | None = None  # what one token costs in the KV cache, as the architecture says

    @property
    def kv_bytes_per_token(self) -> int:
        """Plain-cache bytes per token over all layers, from the architecture's own layout (keys and
        values per KV head; multi-head latent attention caches a compressed latent instead)."""
        return self.cached_token.bytes("plain") if self.cached_token else 0


@dataclass
class LoadedModel:
    model: nn.Module
    tokenizer: Tokenizer
    info: ModelInfo


@dataclass
class _Source:
    """What a format reader found, before the model is built."""

    arch: Architecture
    config: dict[str, Any]
    weights: dict[str, mx.array]
    make_tokenizer: Callable[[], Tokenizer]
    format: str  # "gguf" or "safetensors"
    requantize: dict[str, int] = field(default_factory=dict)  # layer path -> bits, for "stored"
    groups: dict[str, int] = field(default_factory=dict)  # layer path -> group size, where not 32 (GGUF)
    license: str | None = None
    finetune: str | None = None  # GGUF general.finetune, when the file names one


def load(path: str | os.PathLike, policy: WeightPolicy | None = None) -> LoadedModel:
    """Load a GGUF file or a model folder. Raises ModelLoadError with a clear message."""
    with _collector_paused():
        return _load(path, policy)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a model loads (and back on after, if it was on).

    A load makes ~0.3 million objects that live as long as the model (the vocabulary and merges'
    strings and tuples, the modules), and while they are made the collector runs every 700 of them,
    each time walking the young ones again: ~30 ms of a load's GIL-bound work
    (docs/benchmarks.md, "Load, cpu-5"). Memory freed by reference counting is freed as before; the
    collection deferred runs once, after the load."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def _load(path: str | os.PathLike, policy: WeightPolicy | None) -> LoadedModel:
    policy = policy or WeightPolicy()
    p = Path(path).expanduser()
    t0 = time.perf_counter()
    if not p.exists():
        raise ModelLoadError(f"model not found: {p}")
    try:
        if p.is_dir():
            src = _read_folder(p)
        elif p.suffix.lower() == ".gguf" or _has_gguf_magic(p):
            src = _read_gguf(p)
        else:
            raise ModelLoadError(f"{p}: not a GGUF file or a model folder")
        config, arch = src.config, src.arch
        try:
            args = arch.args.from_dict(config)
            model = arch.model(args)
        except ConfigError as e:
            raise ModelLoadError(f"{p}: {e}") from e
        except ValueError as e:  # inconsistent hyper-parameters, an unsupported rope_scaling, ...
            raise ModelLoadError(f"{p}: invalid model configuration: {e}") from e
        weights = model.sanitize(src.weights)
        stored_as, quant = _describe_storage(weights, src.format, config, src.groups)
        weights = _expand_unquantizable(model, weights, quant)
        n_params = _count_params(weights, quant)
        expand = policy.expand(n_params * 4, quantized=bool(quant.layers))
        if expand:
            weights = _to_float32(weights, quant)
            mx.async_eval(weights)  # expand on MLX's thread while Python builds the tokenizer
            quantized = quant.layers or src.requantize
            held_as = "float32" + (f" (expanded from {stored_as} for CPU speed)" if quantized else "")
        else:
            weights = _requantize(weights, quant, src.requantize)
            _quantize_like(model, weights, quant)
            weights = _float32_scales_on_cpu(weights, quant)
            held_as = f"as stored ({stored_as})"
            if src.requantize:
                held_as += f", {len(src.requantize)} matrices re-quantized to MLX's affine layout"
        tokenizer = src.make_tokenizer()
        if tokenizer.vocab_size > args.vocab_size:
            # ids past the embedding table would index out of bounds on every such token
            raise ModelLoadError(
                f"{p}: the tokenizer has {tokenizer.vocab_size} tokens but the model only "
                f"{args.vocab_size} embeddings: the tokenizer does not belong to these weights"
            )
        kind = classify(tokenizer.chat_template is not None, config.get("_name_or_path") or config.get("name"), src.finetune)
        template_used = _chat_template(tokenizer, arch)
        _load_weights(model, weights, p)
        mx.eval(list(weights.values()))  # every parameter (checked by _load_weights)
        cpu_kernels = _kernel_names(_Quant({}) if expand else quant) if use_native_kernels(model) else None
    except (UnsupportedArchitecture, TokenizerError, ConfigError) as e:
        raise ModelLoadError(f"{p}: {e}") from e
    except (KeyError, TypeError) as e:
        raise ModelLoadError(f"{p}: missing or malformed model metadata ({e})") from e
    model.eval()
    license_file = terms_file_beside(p)
    info = ModelInfo(
        name=config.get("name") or p.stem,
        path=str(p),
        format=src.format,
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
        chat_template=template_used,
        base_model=kind.base,
        base_model_reason=kind.reason,
        license=src.license,
        license_file=str(license_file) if license_file else None,
        cpu_kernels=cpu_kernels,
        cached_token=arch.cached_token({**config, **args.to_dict()}),  # the args fill in derived widths
    )
    return LoadedModel(model, tokenizer, info)


def _chat_template(tokenizer: Tokenizer, arch: Architecture) -> str | None:
    """Give a tokenizer without a template its family's standard one; say which is used."""
    if tokenizer.chat_template is not None:
        return "the file's own"
    if arch.chat_template is None:
        return None
    bos = tokenizer.pieces[tokenizer.bos_id] if tokenizer.bos_id is not None else ""
    eos = tokenizer.pieces[min(tokenizer.eos_ids)] if tokenizer.eos_ids else ""
    tokenizer.chat_template = ChatTemplate(arch.chat_template, bos, eos)
    return f"{arch.template_name} (the family's standard; the file has none)"


# ---------------------------------------------------------------------------------------------
# GGUF


def _has_gguf_magic(p: Path) -> bool:
    with open(p, "rb") as f:
        return f.read(4) == b"GGUF"


def _read_gguf(p: Path) -> _Source:
    if not _has_gguf_magic(p):
        raise ModelLoadError(f"{p}: not a GGUF file (bad magic bytes)")
    found: dict[str, Architecture] = {}
    tokenizer: list[Callable[[], Tokenizer]] = []

    def check(meta: dict[str, Any]) -> None:
        architecture = meta.get("general.architecture")
        if architecture is None:
            raise ModelLoadError(f"{p}: the GGUF file does not declare general.architecture")
        # name an unsupported model before converting tensors
        found["arch"] = get_architecture(str(architecture))

    configs: list[dict[str, Any]] = []

    def to_model(header: GGUFHeader, parts: dict[str, mx.array]) -> dict[str, mx.array]:
        """The model's names and values, one tensor at a time (never a second copy of the model)."""
        if not configs:
            configs.append(_gguf_config(found["arch"], header.metadata, {t.name for t in header.tensors}))
        return found["arch"].gguf.to_model(parts, configs[0])

    on_cpu = mx.default_device() == mx.cpu
    options = {"float32_scales": on_cpu, "kernel_layouts": native.loaded_module() is not None}
    cache = WeightsCache.default()
    keys: list[str] = []

    def converted(header: GGUFHeader) -> dict[str, mx.array] | None:
        """The arrays of an earlier load of this very file by this very code, if kept; and the
        tokenizer's thread started. The tokenizer needs only the metadata, and its ~0.2 s (Python
        and Rust holding the GIL) is most of a load: it is built while the tensors are converted,
        or while the kept ones are mapped and checked (without the GIL), once the key is known
        (its Python would otherwise wait behind the tokenizer's)."""
        if cache is not None:
            architecture_file = Path(sys.modules[found["arch"].model.__module__].__file__)
            keys.append(cache.key(p, (architecture_file,), options))
        tokenizer.append(_in_background(lambda: tokenizer_from_gguf(header.metadata)))
        return cache.get(keys[0]) if cache is not None else None

    try:
        contents = read_gguf_contents(p, check, **options, transform=to_model, converted=converted)
    except GGUFUnsupported as e:  # a sound file of a kind we cannot read: never "corrupt"
        raise ModelLoadError(f"{p}: {e}") from e
    except GGUFTruncated as e:  # it says how much is missing
        raise ModelLoadError(f"{p}: the GGUF file is {e}") from e
    except GGUFCorrupt as e:
        raise ModelLoadError(f"{p}: the GGUF file is corrupt or truncated: {e}") from e
    arch = found["arch"]
    if cache is not None and configs:  # converted now (a kept entry never reaches to_model): keep it,
        cache.put_in_background(keys[0], contents.tensors)  # written while the model is built and used
    config = configs[0] if configs else _gguf_config(arch, contents.metadata, set(contents.types))
    weights = contents.tensors  # already in the model's names
    requantize = {
        arch.gguf.model_name(name).removesuffix(".weight"): REQUANTIZE_BITS.get(kind, 8)
        for name, kind in contents.types.items()
        if kind not in EXACT_GGUF_TYPES and name not in contents.groups  # those were read quantized
    }
    groups = {arch.gguf.model_name(name).removesuffix(".weight"): g for name, g in contents.groups.items()}
    metadata = contents.metadata
    return _Source(
        arch, config, weights, tokenizer[0], "gguf", requantize, groups,
        license=str(metadata["general.license"]) if "general.license" in metadata else None,
        finetune=str(metadata["general.finetune"]) if "general.finetune" in metadata else None,
    )


def _in_background(build: Callable[[], Tokenizer]) -> Callable[[], Tokenizer]:
    """Start build() on a thread of its own; the returned callable waits for its result (raising
    what build raised). On 2 cores the tokenizer (~0.1-0.2 s, mostly the `tokenizers` BPE tables,
    which hold the GIL) is built while the tensors are read and converted in native code that
    does not; the load's own thread keeps MLX's arrays and streams."""
    done: Future[Tokenizer] = Future()

    def run() -> None:
        try:
            done.set_result(build())
        except BaseException as e:  # handed to the loading thread, which raises it
            done.set_exception(e)

    threading.Thread(target=run, name="glassbox-tokenizer", daemon=True).start()
    return done.result


def _gguf_config(arch: Architecture, metadata: dict[str, Any], names: set[str]) -> dict[str, Any]:
    meta = GGUFMeta(metadata, names)
    config = arch.config_from_gguf(meta)
    config["file_type"] = GGUF_FILE_TYPES.get(int(meta.get("general.file_type", -1)), "unknown")
    return config


# ---------------------------------------------------------------------------------------------
# Hugging Face / MLX folders


def _read_folder(p: Path) -> _Source:
    config_path = p / "config.json"
    if not config_path.exists():
        raise ModelLoadError(f"{p}: no config.json in this folder")
    try:
        config = json.loads(config_path.read_text())
    except json.JSONDecodeError as e:
        raise ModelLoadError(f"{config_path}: not valid JSON ({e})") from e
    if not isinstance(config, dict) or "model_type" not in config:
        raise ModelLoadError(f"{config_path}: no model_type")
    arch = get_architecture(config["model_type"])  # an unknown architecture is the problem to report
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
    return _Source(arch, config, weights, lambda: tokenizer_from_folder(p, config), "safetensors")


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


def _describe_storage(weights, fmt: str, config: dict[str, Any], groups: dict[str, int] | None = None
                      ) -> tuple[str, _Quant]:
    """`groups`: layer path -> group size where it differs from the format's (GGUF Q6_K: 16)."""
    group = 32 if fmt == "gguf" else (config.get("quantization") or {}).get("group_size", 64)
    groups = groups or {}
    layers = {
        path: _quant_params(weights, path, groups.get(path, group))
        for path in (k[: -len(".scales")] for k in weights if k.endswith(".scales"))
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


def _expand_unquantizable(model: nn.Module, weights, quant: _Quant) -> dict[str, mx.array]:
    """A quantized tensor whose module has no quantized form (a MoE router held as a plain matrix,
    which llama.cpp keeps in float but another writer may not) is expanded to float32 here."""
    modules = dict(model.named_modules())
    plain = {path for path in quant.layers if path in modules and not hasattr(modules[path], "to_quantized")}
    if not plain:
        return weights
    expanded = _to_float32({k: v for k, v in weights.items() if k.rsplit(".", 1)[0] in plain}, quant)
    for path in plain:
        del quant.layers[path]
    return {**{k: v for k, v in weights.items() if k.rsplit(".", 1)[0] not in plain}, **expanded}


def _to_float32(weights, quant: _Quant) -> dict[str, mx.array]:
    out: dict[str, mx.array] = {}
    for k, v in weights.items():
        prefix = k.rsplit(".", 1)[0]
        if prefix in quant.layers and k.endswith(".weight"):
            group, bits = quant.layers[prefix]
            # dequantize computes in the scales' dtype: float16 scales would round every weight
            scales = weights[f"{prefix}.scales"].astype(mx.float32)
            biases = weights[f"{prefix}.biases"].astype(mx.float32)
            if group in MLX_GROUPS:
                out[k] = mx.dequantize(v, scales, biases, group_size=group, bits=bits)
            else:  # a layout only Glassbox's kernels read (GGUF Q6_K: groups of 16)
                out[k] = native.dequantize(v, scales, biases, group, bits)
            continue
        if prefix in quant.layers and k.endswith((".scales", ".biases")):
            continue  # the quantization's own parts; a layer's `.bias` stays
        out[k] = v.astype(mx.float32) if mx.issubdtype(v.dtype, mx.floating) else v
    return out


def _requantize(weights, quant: _Quant, requantize: dict[str, int]) -> dict[str, mx.array]:
    """Float32 matrices expanded from a block format MLX lacks -> MLX affine (group 32)."""
    out = dict(weights)
    for path, bits in requantize.items():
        if f"{path}.weight" not in out or out[f"{path}.weight"].ndim != 2:
            continue  # a vector (norm, bias) stays float
        w, scales, biases = mx.quantize(out.pop(f"{path}.weight"), group_size=REQUANTIZE_GROUP, bits=bits)
        out.update({f"{path}.weight": w, f"{path}.scales": scales, f"{path}.biases": biases})
        quant.layers[path] = (REQUANTIZE_GROUP, bits)
    return out


def _quantize_like(model: nn.Module, weights, quant: _Quant) -> None:
    """Turn each quantized layer's module into its quantized kind with the file's group and bits.

    A plain `nn.Linear` or `nn.Embedding` becomes its quantized kind holding the file's own arrays
    directly (`_quantized_module`); any other module quantizes itself (`to_quantized`, through
    `nn.quantize`). A group size MLX refuses (16: GGUF Q6_K for Glassbox's kernels) is built with
    MLX's smallest and then given the real one: its module computes only through the kernels
    (native_modules)."""
    if not quant.layers:
        return
    from mlx.utils import tree_unflatten

    modules = dict(model.named_modules())
    direct = {
        path: _quantized_module(modules[path], weights, path, group, bits)
        for path, (group, bits) in quant.layers.items()
        if type(modules.get(path)) in (nn.Linear, nn.Embedding) and f"{path}.biases" in weights  # affine
    }
    model.update_modules(tree_unflatten(list(direct.items())))
    rest = {path: layer for path, layer in quant.layers.items() if path not in direct}
    if not rest:
        return

    def predicate(path: str, module: nn.Module):
        if path not in rest:
            return False
        group, bits = rest[path]
        return {"group_size": group if group in MLX_GROUPS else MLX_GROUPS[0], "bits": bits}

    nn.quantize(model, class_predicate=predicate)  # lazy: the placeholder arrays are never computed
    modules = dict(model.named_modules())
    for path, (group, _) in rest.items():
        if group not in MLX_GROUPS and path in modules:
            module = modules[path]
            module.group_size = group
            module.scales, module.biases = weights[f"{path}.scales"], weights[f"{path}.biases"]


def _quantized_module(module: nn.Module, weights, path: str, group: int, bits: int) -> nn.Module:
    """The `nn.QuantizedLinear` / `nn.QuantizedEmbedding` of a plain `module`, holding the file's
    arrays (`<path>.weight`, `.scales`, `.biases`) and the module's own bias. What `nn.quantize`
    builds, without its random placeholder weights, their quantization graphs and a tree walk to
    freeze each: the default model's 211 layers in ~16 ms instead of ~33 ms, holding the GIL
    (docs/benchmarks.md, "Load, cpu-5")."""
    kind = nn.QuantizedEmbedding if isinstance(module, nn.Embedding) else nn.QuantizedLinear
    q = kind.__new__(kind)
    nn.Module.__init__(q)
    q.group_size, q.bits, q.mode = group, bits, "affine"
    q.weight, q.scales, q.biases = (weights[f"{path}.{part}"] for part in ("weight", "scales", "biases"))
    if kind is nn.QuantizedEmbedding:
        q.num_embeddings, q.dims = module.weight.shape
    elif "bias" in module:
        q.bias = module.bias
    q.freeze(recurse=False, keys=["weight", "scales", "biases"])  # as from_linear leaves it: the bias not
    return q


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
    # names and shapes are checked above: put the arrays in place without load_weights' second
    # walk over the module tree (~20 ms of a load)
    from mlx.utils import tree_unflatten

    model.update(tree_unflatten(list(weights.items())))


def _flatten(tree, prefix: str = ""):
    from mlx.utils import tree_flatten

    return tree_flatten(tree, prefix=prefix)


def _total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 16 * 1024**3
