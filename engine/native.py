"""Glassbox's CPU kernels (the C++ MLX extension in engine/_native), when they are built.

On the CPU, MLX's quantized matmul is single-threaded and slow, and its fused attention, RMSNorm
and RoPE expand into dozens of small operations each. The extension does each of these as one MLX
operation with its own threads: a quantized matrix product that reads the weights at close to the
memory bandwidth, so the model can stay in its file's 4- or 8-bit form. When it is missing (no
compiler at install time, another platform) everything here reports `available() is False` and
the engine keeps MLX's own operations, saying so once (`advice()`).

Set GLASSBOX_NO_NATIVE=1 to turn it off (for A/B benchmarks); GLASSBOX_KERNEL_THREADS=n sets the
threads a kernel call uses. The default leaves one core to the Python thread, which builds the next
decode step's graph while the kernels run the current one: on 2 cores one kernel thread decodes
faster than two (docs/benchmarks.md).
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys
from types import ModuleType

import mlx.core as mx

from engine._native import build

HOW_TO_GET_IT = "run `make run` or `python -m engine._native.build` (needs cmake and g++)"
# Quantized products with more input rows than this go through dequantize + BLAS matmul instead.
MAX_KERNEL_ROWS = 64

_missing_reason: str | None = None

# A rotary embedding as the kernels take it: (inverse frequencies (dims / 2,) float32, dims,
# traditional pairs, position scale); see engine/native_modules.py:NativeRoPE.rotation.
Rotation = tuple[mx.array, int, bool, float]
# A per-head RMSNorm as the kernels take it: (weight (head_dim,) float32 as multiplied, eps); see
# engine/native_modules.py:NativeRMSNorm.native_norm (Gemma's 1 + γ already added).
Norm = tuple[mx.array, float]


@functools.cache
def _module() -> ModuleType | None:
    global _missing_reason
    if os.environ.get("GLASSBOX_NO_NATIVE"):
        _missing_reason = "turned off by GLASSBOX_NO_NATIVE"
        return None
    path = build.built_module()
    if path is None:
        _missing_reason = "not built for these sources and this MLX version"
        return None
    module = sys.modules.get(build.MODULE_NAME)
    if module is None or getattr(module, "__file__", None) != str(path):  # an extension is loaded once
        try:
            spec = importlib.util.spec_from_file_location(build.MODULE_NAME, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)  # mlx.core is imported above: libmlx.so is already loaded
        except (ImportError, OSError) as e:
            _missing_reason = f"could not be loaded ({e})"
            return None
        sys.modules[build.MODULE_NAME] = module
    if not os.environ.get("GLASSBOX_KERNEL_THREADS"):
        module.set_threads(default_threads())
    return module


def loaded_module() -> ModuleType | None:
    """The native module when it is built and MLX computes on the CPU, for the loader's helpers
    (GGUF string tables, block conversion); None otherwise."""
    return _module() if mx.default_device() == mx.cpu else None


def default_threads() -> int:
    """Kernel threads when GLASSBOX_KERNEL_THREADS is not set: every usable core. (Until the decode
    step was fused, one core was left to the Python thread building the next step's graph, ~17 ms of
    it; now ~4 ms, and two threads decode 1.28x faster than one on 2 cores: docs/benchmarks.md,
    "Session 5 on an idle machine"; the window's stalls stay under 100 ms either way.)"""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores)


def available() -> bool:
    """True when the kernels are built and loadable and MLX computes on the CPU."""
    return mx.default_device() == mx.cpu and _module() is not None


def advice() -> str | None:
    """One line telling how to get the fast CPU kernels, or None when they are in use or not relevant."""
    if sys.platform == "darwin" or mx.default_device() != mx.cpu or _module() is not None:
        return None
    return f"Glassbox's CPU kernels are {_missing_reason}, so decoding is several times slower; {HOW_TO_GET_IT}."


def kernel_name(bits: int, group_size: int) -> str:
    """The quantized-matmul kernel this CPU runs for (bits, group_size): "avx2" or "scalar"."""
    return _module().kernel_name(bits, group_size)


def quantized_matmul(x: mx.array, w: mx.array, scales: mx.array, biases: mx.array, group_size: int,
                     bits: int) -> mx.array:
    """x (..., K) @ W.T for W in MLX's affine layout (w (N, K*bits/32) uint32, scales/biases
    (N, K/group_size)) -> (..., N) float32. Up to MAX_KERNEL_ROWS rows of x go through the
    multi-threaded kernel; more through a dense copy of W and MLX's (BLAS) matmul."""
    lib = _module()
    rows = x.size // x.shape[-1] if x.ndim else 0
    if rows <= MAX_KERNEL_ROWS:
        return lib.quantized_matmul(x, w, scales, biases, group_size, bits)
    dense = lib.dequantize(w, scales, biases, group_size, bits)  # (N, K)
    return x.astype(mx.float32) @ dense.T


def quantized_matmuls(x: mx.array, weights: list[mx.array], group_size: int, bits: int) -> list[mx.array]:
    """[x @ W_i.T] for quantized matrices sharing x, as one graph operation; weights holds
    (w, scales, biases) per matrix, all at (group_size, bits). For decode sizes (few rows of x)."""
    return _module().quantized_matmuls(x, weights, group_size, bits)


def quantized_swiglu(x: mx.array, gate: list[mx.array], up: list[mx.array], group_size: int, bits: int,
                     gelu: bool = False) -> mx.array:
    """silu(x @ G.T) * (x @ U.T) for quantized G and U (each [w, scales, biases]), one operation;
    with `gelu`, GeGLU's gelu_tanh(x @ G.T) * (x @ U.T) (GELU's tanh approximation)."""
    return _module().quantized_swiglu(x, gate, up, group_size, bits, gelu)


def quantized_take(w: mx.array, scales: mx.array, biases: mx.array, ids: mx.array, group_size: int,
                   bits: int) -> mx.array:
    """Rows `ids` of a quantized (N, K) matrix, dequantized: (ids..., K) float32 (an embedding
    lookup; an id outside 0 .. N - 1 gives zeros)."""
    return _module().quantized_take(w, scales, biases, ids, group_size, bits)


def dequantize(w: mx.array, scales: mx.array, biases: mx.array, group_size: int, bits: int) -> mx.array:
    """The (N, K) float32 matrix of a quantized one, multi-threaded."""
    return _module().dequantize(w, scales, biases, group_size, bits)


def decode_attention(q: mx.array, k: mx.array, v: mx.array, scale: float) -> mx.array:
    """softmax(q k^T * scale) v for one query per head, no mask: q (B, H, 1, D), k (B, Hkv, S, D),
    v (B, Hkv, S, Dv) -> (B, H, 1, Dv). k and v may be views into a larger cache buffer."""
    return _module().decode_attention(q, k, v, scale)


def prefill_attention(q: mx.array, k: mx.array, v: mx.array, scale: float, band: tuple[int, int, int] | None) -> mx.array:
    """softmax(q k^T * scale) v for many queries: q (B, H, L, D), k (B, Hkv, S, D), v (B, Hkv, S, Dv)
    -> (B, H, L, Dv) float32, grouped-query heads, one operation on the kernel threads (flash
    attention's blocking: no (L, S) score matrix). `band` (q0, k0, window): query i at position
    q0 + i sees key j at position k0 + j when k0 + j <= q0 + i, and with window > 0 only when
    k0 + j > q0 + i - window; None: every key. k and v may be views into a cache buffer."""
    if band is None:
        return _module().prefill_attention(q, k, v, scale, False, 0, 0, 0)
    q0, k0, window = band
    return _module().prefill_attention(q, k, v, scale, True, q0, k0, window)


def gated_activation(g: mx.array, u: mx.array, gelu: bool = False) -> mx.array:
    """silu(g) * u (with `gelu`, gelu_tanh(g) * u: GeGLU) elementwise -> float32 of their shape,
    spread over the kernel threads (MLX's elementwise kernels run on one)."""
    return _module().gated_activation(g, u, gelu)


def kv_write(buf: mx.array, x: mx.array, row: int, rotation: Rotation | None = None, position: int = 0,
             norm: Norm | None = None) -> mx.array:
    """The cache buffer `buf` (B, heads, capacity, D) with row `row` of every head replaced by x
    (B, 1, heads * D), each head RMS-normalised by `norm` first when one is given, then turned by
    `rotation` at `position` when one is given (a key). Writes in place when nothing else holds
    `buf` (MLX's donation); otherwise the result is a copy."""
    weight, eps = norm if norm is not None else (None, 0.0)
    if rotation is None:
        return _module().kv_write(buf, x, row, None, 0, False, 1.0, 0, weight, eps)
    inv_freq, dims, traditional, scale = rotation
    return _module().kv_write(buf, x, row, inv_freq, dims, traditional, scale, position, weight, eps)


def rotary_decode_attention(q: mx.array, k_buf: mx.array, v_buf: mx.array, rotation: Rotation, position: int,
                            first_row: int, n_rows: int, scale: float, norm: Norm | None = None) -> mx.array:
    """One decode step's attention from the projected query q (B, 1, H * D), each head
    RMS-normalised by `norm` first when one is given, turned by `rotation` at `position`, over rows
    first_row .. first_row + n_rows - 1 of the cache buffers k_buf (B, Hkv, capacity, D) and v_buf
    (B, Hkv, capacity, Dv) -> (B, 1, H * Dv)."""
    inv_freq, dims, traditional, rope_scale = rotation
    weight, eps = norm if norm is not None else (None, 0.0)
    return _module().rotary_decode_attention(q, k_buf, v_buf, inv_freq, dims, traditional, rope_scale, position,
                                             first_row, n_rows, scale, weight, eps)


def quantized_kv_write(buf: list[mx.array], x: mx.array, row: int, group_size: int, bits: int,
                       rotation: Rotation | None = None, position: int = 0, norm: Norm | None = None) -> list[mx.array]:
    """kv_write for a quantized cache: buf is [w (B, heads, capacity, D * bits / 32) uint32,
    scales, biases (B, heads, capacity, D / group_size) float32] (mx.quantize's layout, bits 4 or
    8); row `row` of every head becomes x (B, 1, heads * D), normed and turned first when asked,
    quantized exactly as mx.quantize would. Returns the three buffers (each written in place when
    nothing else holds it)."""
    weight, eps = norm if norm is not None else (None, 0.0)
    inv_freq, dims, traditional, scale = rotation if rotation is not None else (None, 0, False, 1.0)
    return _module().quantized_kv_write(buf, x, row, group_size, bits, inv_freq, dims, traditional, scale, position,
                                        weight, eps)


def quantized_rotary_decode_attention(q: mx.array, k_buf: list[mx.array], v_buf: list[mx.array], group_size: int,
                                      bits: int, rotation: Rotation, position: int, first_row: int, n_rows: int,
                                      scale: float, norm: Norm | None = None) -> mx.array:
    """rotary_decode_attention over quantized key and value buffers (each [w, scales, biases] as
    quantized_kv_write's): the rows are dequantized (scale * q + bias) as they are read."""
    inv_freq, dims, traditional, rope_scale = rotation
    weight, eps = norm if norm is not None else (None, 0.0)
    return _module().quantized_rotary_decode_attention(q, k_buf, v_buf, group_size, bits, inv_freq, dims, traditional,
                                                       rope_scale, position, first_row, n_rows, scale, weight, eps)


def kv_write_copies() -> int:
    """Cache buffers `kv_write` had to copy rather than write in place, since the module loaded."""
    return _module().kv_write_copies()


def rms_norm(x: mx.array, weight: mx.array, eps: float) -> mx.array:
    """x (..., D) / sqrt(mean(x^2) + eps) * weight (D,) in one pass."""
    return _module().rms_norm(x, weight, eps)


def rope(x: mx.array, inv_freq: mx.array, dims: int, traditional: bool, scale: float, offset: int) -> mx.array:
    """Rotary embedding of x (..., L, D) at positions offset .. offset + L - 1: the first `dims`
    features turn by (position * scale * inv_freq[i]) in rotate-half (or traditional) pairs."""
    return _module().rope(x, inv_freq, dims, traditional, scale, offset)


def threads() -> int:
    return _module().threads()


def set_threads(n: int) -> None:
    _module().set_threads(n)


def byte_pair_model(tokens: list[str], merges: list[str], ignore_merges: bool = False):
    """A native byte-level BPE model (engine/_native/bpe.h) of `tokens` (id = index) and `merges`
    ("left right", rank = index), built without the GIL; None when the module is not built (on any
    device: tokenizing runs on the CPU). Its `encode(pieces)` merges pre-tokenized pieces into ids;
    with `ignore_merges` a piece that is itself a token is taken whole (Llama 3's vocabularies).
    Raises ValueError when a merge has no space or names a token not in the vocabulary, TypeError
    naming an entry of either list that is not a str."""
    module = _module()
    return None if module is None else module.BytePairModel(tokens, merges, ignore_merges)
