"""Glassbox's CPU kernels (engine/native.py) against MLX's own operations, and the proof that the
engine uses them where this machine can build them.

Bounds: the kernels accumulate in float32 in another order than MLX, so results agree to float32
rounding of the sums: relative to the output's largest magnitude, 1e-5 for the matrix products
(K up to a few hundred) and 1e-5 for the attention, norm and rotary outputs.
"""

from __future__ import annotations

import platform
import shutil
import sys
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest
from mlx.utils import tree_flatten

from engine import native
from engine.cache import make_cache
from engine.kernels import attention
from engine.models.base import Llama3RoPE
from engine.native_modules import (
    NativeLlama3RoPE,
    NativeQuantizedEmbedding,
    NativeQuantizedLinear,
    NativeRMSNorm,
    NativeRoPE,
    use_native_kernels,
)

needs_kernels = pytest.mark.skipif(not native.available(), reason="Glassbox's CPU kernels are not built here")
REL = 1e-5


def _cpu_has_avx2_fma() -> bool:
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    return " avx2 " in flags and " fma " in flags


def rel_err(out: mx.array, ref: mx.array) -> float:
    return (mx.abs(out - ref).max() / mx.maximum(mx.abs(ref).max(), 1e-30)).item()


@pytest.mark.skipif(
    not (sys.platform == "linux" and platform.machine() == "x86_64" and shutil.which("cmake") and _cpu_has_avx2_fma()),
    reason="only a Linux x86-64 machine with cmake and AVX2/FMA must have the fast path",
)
def test_the_fast_path_is_built_and_chosen_on_this_machine():
    """`make test` builds the kernels before the tests: on a machine that can, they must load."""
    assert native.available(), native.advice()
    assert native.advice() is None
    for bits in (2, 3, 4, 5, 6, 8):
        for group in (16, 32, 64, 128):
            assert native.kernel_name(bits, group) == "avx2"
    assert native.kernel_name(4, 8) == "scalar"  # groups of 8: the portable kernel


@needs_kernels
def test_the_kernels_leave_a_core_to_the_python_thread():
    import os

    if os.environ.get("GLASSBOX_KERNEL_THREADS"):
        pytest.skip("GLASSBOX_KERNEL_THREADS overrides the default")
    assert native.threads() == native.default_threads() == max(1, len(os.sched_getaffinity(0)))


def quantized(n: int, k: int, group: int, bits: int, seed: int = 0):
    w = mx.random.normal((n, k), key=mx.random.key(seed))
    wq, scales, biases = mx.quantize(w, group_size=group, bits=bits)
    return wq, scales.astype(mx.float32), biases.astype(mx.float32)


@needs_kernels
@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6, 8])
@pytest.mark.parametrize("group", [32, 64, 128])
@pytest.mark.parametrize("rows", [1, 2, 7, 64, 65])
def test_quantized_matmul_equals_mlx(bits, group, rows):
    n, k = 67, 3 * 128  # an odd number of output rows, several groups per row
    wq, scales, biases = quantized(n, k, group, bits)
    x = mx.random.normal((rows, k), key=mx.random.key(1))
    ref = mx.quantized_matmul(x, wq, scales, biases, transpose=True, group_size=group, bits=bits)
    dense = x @ mx.dequantize(wq, scales, biases, group_size=group, bits=bits).T
    out = native.quantized_matmul(x, wq, scales, biases, group, bits)
    assert out.shape == (rows, n) and out.dtype == mx.float32
    assert rel_err(out, ref) <= REL
    assert rel_err(out, dense) <= REL


@needs_kernels
def test_quantized_matmul_keeps_leading_axes_and_reads_strided_inputs():
    wq, scales, biases = quantized(96, 256, 64, 4)
    x = mx.random.normal((2, 3, 256), key=mx.random.key(2))
    ref = mx.quantized_matmul(x, wq, scales, biases, transpose=True, group_size=64, bits=4)
    assert rel_err(native.quantized_matmul(x, wq, scales, biases, 64, 4), ref) <= REL
    xt = mx.random.normal((256, 5), key=mx.random.key(3)).T  # a transposed view, not row-major
    ref = mx.quantized_matmul(xt, wq, scales, biases, transpose=True, group_size=64, bits=4)
    assert rel_err(native.quantized_matmul(xt, wq, scales, biases, 64, 4), ref) <= REL


@needs_kernels
def test_more_threads_than_rows():
    wq, scales, biases = quantized(3, 128, 32, 4)
    x = mx.random.normal((2, 128), key=mx.random.key(4))
    ref = mx.quantized_matmul(x, wq, scales, biases, transpose=True, group_size=32, bits=4)
    before = native.threads()
    try:
        native.set_threads(8)
        assert native.threads() == 8
        assert rel_err(native.quantized_matmul(x, wq, scales, biases, 32, 4), ref) <= REL
        assert rel_err(native.quantized_matmul(x[:1], wq, scales, biases, 32, 4), ref[:1]) <= REL
    finally:
        native.set_threads(before)


@needs_kernels
def test_mismatched_shapes_are_refused_with_a_message():
    wq, scales, biases = quantized(8, 128, 32, 4)
    with pytest.raises(ValueError, match="features"):
        native.quantized_matmul(mx.zeros((1, 96)), wq, scales, biases, 32, 4)
    with pytest.raises(ValueError, match="bits"):
        native.quantized_matmul(mx.zeros((1, 128)), wq, scales, biases, 32, 7)


@needs_kernels
@pytest.mark.parametrize("bits", [4, 8, 3])
def test_dequantize_equals_mlx(bits):
    wq, scales, biases = quantized(33, 256, 32, bits)
    ref = mx.dequantize(wq, scales, biases, group_size=32, bits=bits)
    assert rel_err(native.dequantize(wq, scales, biases, 32, bits), ref) <= 1e-6  # a fused multiply-add


def reference_attention(q, k, v, scale):
    rep = q.shape[1] // k.shape[1]
    k, v = mx.repeat(k, rep, axis=1), mx.repeat(v, rep, axis=1)
    return mx.softmax((q * scale) @ k.swapaxes(-1, -2), axis=-1, precise=True) @ v


@needs_kernels
@pytest.mark.parametrize(("heads", "kv_heads", "keys"), [(9, 3, 1), (9, 3, 300), (4, 4, 17), (8, 1, 64)])
def test_decode_attention_over_a_cache_buffer_equals_softmax_attention(heads, kv_heads, keys):
    d = 64
    q = mx.random.normal((2, heads, 1, d), key=mx.random.key(5)) * 3
    buffer_k = mx.random.normal((2, kv_heads, 512, d), key=mx.random.key(6))
    buffer_v = mx.random.normal((2, kv_heads, 512, d), key=mx.random.key(7))
    k, v = buffer_k[:, :, :keys], buffer_v[:, :, :keys]  # views, as the plain cache returns them
    out = native.decode_attention(q, k, v, d**-0.5)
    assert out.shape == (2, heads, 1, d)
    assert rel_err(out, reference_attention(q, k, v, d**-0.5)) <= REL


@needs_kernels
@pytest.mark.parametrize("kind", ["plain", "rotating"])
def test_decoding_attention_takes_the_fused_op_through_each_cache(kind, monkeypatch):
    """engine.kernels.attention (what the caches call) uses the fused op for one query, no mask."""
    calls = []
    fused = native.decode_attention
    monkeypatch.setattr(native, "decode_attention", lambda *a: calls.append(1) or fused(*a))
    cache = make_cache(1, kind, window=8)[0]
    for step in range(12):
        k = mx.random.normal((1, 2, 1, 32), key=mx.random.key(10 + step))
        v = mx.random.normal((1, 2, 1, 32), key=mx.random.key(40 + step))
        q = mx.random.normal((1, 4, 1, 32), key=mx.random.key(70 + step))
        mask = cache.make_mask(1)
        keys, values = cache.update_and_fetch(k, v)
        out = cache.attend(q, keys, values, scale=32**-0.5, mask=mask)
        assert rel_err(out, reference_attention(q, keys, values, 32**-0.5)) <= REL
    assert len(calls) == 12


@needs_kernels
def test_attention_of_several_causal_queries_equals_mlx():
    q = mx.random.normal((1, 4, 3, 32), key=mx.random.key(13))
    k = mx.random.normal((1, 2, 5, 32), key=mx.random.key(14))
    out = attention(q, k, k, 32**-0.5, "causal")
    ref = mx.fast.scaled_dot_product_attention(q, k, k, scale=32**-0.5, mask="causal")
    assert rel_err(out, ref) <= REL


@needs_kernels
def test_rms_norm_equals_mlx():
    x = mx.random.normal((2, 5, 576), key=mx.random.key(8)) * 10
    w = mx.random.normal((576,), key=mx.random.key(9))
    assert rel_err(native.rms_norm(x, w, 1e-5), mx.fast.rms_norm(x, w, 1e-5)) <= REL


@needs_kernels
@pytest.mark.parametrize("traditional", [False, True])
@pytest.mark.parametrize(("dims", "offset", "length"), [(64, 0, 7), (64, 513, 1), (32, 9, 3)])
def test_rope_equals_mlx(traditional, dims, offset, length):
    rope = nn.RoPE(dims, traditional=traditional, base=10000.0, scale=0.5)
    x = mx.random.normal((1, 3, length, 64), key=mx.random.key(11))
    ref = rope(x, offset=offset)
    rope.__class__ = NativeRoPE
    assert rel_err(rope(x, offset=offset), ref) <= REL


@needs_kernels
def test_llama3_rope_equals_mlx():
    scaling = {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8192}
    rope = Llama3RoPE(64, 500000.0, False, scaling)
    x = mx.random.normal((1, 2, 4, 64), key=mx.random.key(12))
    ref = rope(x, offset=9000)
    rope.__class__ = NativeLlama3RoPE
    assert rel_err(rope(x, offset=9000), ref) <= REL


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(256, 128)
        self.proj = nn.Linear(128, 96, bias=True)
        self.norm = nn.RMSNorm(96)
        self.rope = nn.RoPE(32)

    def __call__(self, tokens):
        h = self.embed(tokens)  # (1, L, 128)
        x = self.rope(self.norm(self.proj(h)).reshape(1, 3, -1, 32), offset=5)  # (1, 3, L, 32)
        return x, self.embed.as_linear(h)  # (1, L, 256)


@needs_kernels
def test_the_module_pass_swaps_in_kernels_without_changing_results_or_parameters():
    model = _Tiny()
    nn.quantize(model, group_size=32, bits=4)
    tokens = mx.array([[1, 7, 200]])
    before = model(tokens)
    names = sorted(k for k, _ in tree_flatten(model.parameters()))
    assert use_native_kernels(model) == 4  # proj, embed (its as_linear), norm, rope
    assert isinstance(model.proj, NativeQuantizedLinear) and isinstance(model.embed, NativeQuantizedEmbedding)
    assert isinstance(model.norm, NativeRMSNorm) and isinstance(model.rope, NativeRoPE)
    after = model(tokens)
    for a, b in zip(after, before, strict=True):
        assert rel_err(a, b) <= REL
    assert sorted(k for k, _ in tree_flatten(model.parameters())) == names


def test_without_the_kernels_the_engine_keeps_mlx_and_says_how_to_get_them(monkeypatch):
    """A machine where the build failed: float32 expansion as before, MLX's modules, one note."""
    from engine.loading import WeightPolicy

    monkeypatch.setenv("GLASSBOX_NO_NATIVE", "1")
    native._module.cache_clear()
    try:
        assert not native.available()
        assert "GLASSBOX_NO_NATIVE" in native.advice() and "make run" in native.advice()
        assert WeightPolicy().expand(10**6, quantized=True)  # small quantized model: float32
        model = _Tiny()
        nn.quantize(model, group_size=32, bits=4)
        assert use_native_kernels(model) == 0
        assert type(model.proj) is nn.QuantizedLinear and type(model.norm) is nn.RMSNorm
    finally:
        monkeypatch.delenv("GLASSBOX_NO_NATIVE")
        native._module.cache_clear()
    assert native.available() == (native._module() is not None)


@needs_kernels
def test_with_the_kernels_auto_keeps_a_quantized_file_quantized():
    from engine.loading import WeightPolicy

    assert not WeightPolicy().expand(10**6, quantized=True)
    assert WeightPolicy().expand(10**6, quantized=False)  # float16/bfloat16 files still widen
    assert WeightPolicy("float32").expand(10**6, quantized=True)


def random_codes(n: int, k: int, group: int, bits: int, seed: int):
    """A random matrix straight in the affine layout (any group size, 16 included, which
    `mx.quantize` refuses): (w, scales, biases) as MLX arrays and the dense matrix in float64."""
    from engine.gguf import pack_affine

    rng = np.random.default_rng(seed)
    q = rng.integers(0, 1 << bits, (n, k), dtype=np.uint8)
    scales = rng.normal(size=(n, k // group)).astype(np.float32)
    biases = rng.normal(size=(n, k // group)).astype(np.float32)
    dense = q.astype(np.float64) * np.repeat(scales, group, axis=1) + np.repeat(biases, group, axis=1)
    return mx.array(pack_affine(q, bits)), mx.array(scales), mx.array(biases), dense


@needs_kernels
@pytest.mark.parametrize("bits", [2, 3, 4, 5, 6, 8])
@pytest.mark.parametrize("group", [8, 16, 32, 128])  # 8: the portable kernel; the rest AVX2 where it runs
@pytest.mark.parametrize(("n", "k", "rows"), [(1, 128, 1), (37, 256, 3), (131, 640, 64), (5, 384, 65), (67, 128, 17)])
def test_quantized_matmul_equals_dequantize_then_matmul_for_every_width_and_group(bits, group, n, k, rows):
    """Against a float64 product of the dense matrix: rows 1..64 go through the kernel (65 through
    the dense copy), odd row counts, and 4 threads for fewer rows than that (n = 1)."""
    wq, scales, biases, dense = random_codes(n, k, group, bits, seed=bits * 1000 + group + n)
    x = np.random.default_rng(n + k).normal(size=(rows, k)).astype(np.float32)
    ref = x.astype(np.float64) @ dense.T
    before = native.threads()
    try:
        native.set_threads(4)
        out = np.array(native.quantized_matmul(mx.array(x), wq, scales, biases, group, bits))
        deq = np.array(native.dequantize(wq, scales, biases, group, bits))
    finally:
        native.set_threads(before)
    assert out.shape == (rows, n)
    assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max()
    assert np.abs(deq - dense).max() <= 1e-6 * np.abs(dense).max()  # one fused multiply-add each


@needs_kernels
def test_gemma_rms_norm_takes_the_kernel_and_follows_new_weights():
    from engine.models.gemma3 import RMSNorm as GemmaRMSNorm
    from engine.native_modules import NativeGemmaRMSNorm

    norm = GemmaRMSNorm(640, 1e-6)
    norm.weight = mx.random.normal((640,), key=mx.random.key(20))
    x = mx.random.normal((1, 3, 640), key=mx.random.key(21)) * 4
    ref = norm(x)
    assert use_native_kernels(norm) == 1 and isinstance(norm, NativeGemmaRMSNorm)
    assert rel_err(norm(x), ref) <= REL
    norm.update({"weight": mx.zeros((640,))})  # a new load: 1 + γ is recomputed, never stale
    assert rel_err(norm(x), mx.fast.rms_norm(x, mx.ones((640,)), 1e-6)) <= REL


def test_gelu_approx_equals_the_formula_on_the_cpu_path_and_at_the_extremes():
    """engine.kernels.gelu_approx (Gemma's MLP): the compiled form for large inputs, MLX's own
    below kernels.MIN_ELEMENTS. Against the tanh formula in float64, to float32 rounding at the
    input's magnitude, as nn.gelu_approx (whose 1 + tanh(u) cancels for negative x: it is the less
    accurate of the two in the negative tail)."""
    from engine import kernels

    x = mx.concatenate([mx.random.normal((kernels.MIN_ELEMENTS,), key=mx.random.key(30)) * 4,
                        mx.array([0.0, -0.0, 1e-30, -1e-30, 19.9, -19.9, 30.0, -30.0, 1e4, -1e4, 3e38, -3e38])])
    x64 = np.array(x, np.float64)
    with np.errstate(over="ignore"):
        truth = 0.5 * x64 * (1 + np.tanh(np.sqrt(2 / np.pi) * (x64 + 0.044715 * x64**3)))
    bound = 1e-6 * np.abs(x64) + 1e-37
    for out in (kernels.gelu_approx(x), nn.gelu_approx(x)):
        assert np.all(np.abs(np.array(out, np.float64) - truth) <= bound)
    small = x[:100]  # MLX's own below the size the compiled path pays off
    assert rel_err(kernels.gelu_approx(small), nn.gelu_approx(small)) <= REL
