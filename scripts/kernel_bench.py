"""Micro-benchmark of the quantized matrix-vector kernel: GB/s of weights read per product.

    flock /tmp/glassbox-bench.lock .venv/bin/python -m scripts.kernel_bench [--model gemma3]
        [--threads 1 2] [--repeats 200]

For a model's matrix shapes (default: SmolLM2-135M, 576 -> 576/192/1536, 1536 -> 576, and the
49,152-row tied head at 8 bits; `--model gemma3`: Gemma 3 270M Q4_K_M's layouts as Glassbox holds
them: Q5_0 as 5-bit, Q4_K as 4-bit, Q8_0 as 8-bit, Q6_K as 6-bit in groups of 16, and the
262,144-row tied head at 8 bits), times one decode-step product (a single input row) through
Glassbox's kernel, MLX's own `mx.quantized_matmul` and a float32 matmul (BLAS), and prints the
bytes of weights (codes + float32 scales and biases) each reads per second. Medians of `repeats`
(wall time; `cpu` is the process's CPU time per product, all threads, which a busy machine
disturbs less). MLX has no 16-value groups: "-" in its column.
"""

from __future__ import annotations

import argparse
import statistics
import time

import engine  # noqa: F401  (loads OpenBLAS: before mlx)

# isort: split
import mlx.core as mx
import numpy as np

from engine import native
from engine.gguf import pack_affine

SHAPES = {  # model -> [(name, out rows N, in features K, bits, group)]
    "smollm2": [
        ("q/o 576x576", 576, 576, 4, 32),
        ("k/v 192x576", 192, 576, 4, 32),
        ("gate/up 1536x576", 1536, 576, 4, 32),
        ("down 576x1536", 576, 1536, 4, 32),
        ("head 49152x576 (8-bit)", 49152, 576, 8, 32),
    ],
    "gemma3": [
        ("q 1024x640 Q5_0", 1024, 640, 5, 32),
        ("k 256x640 Q5_0", 256, 640, 5, 32),
        ("v 256x640 Q8_0", 256, 640, 8, 32),
        ("o 640x1024 Q4_K", 640, 1024, 4, 32),
        ("gate/up 2048x640 Q5_0", 2048, 640, 5, 32),
        ("down 640x2048 Q4_K", 640, 2048, 4, 32),
        ("down 640x2048 Q6_K", 640, 2048, 6, 16),
        ("head 262144x640 Q8_0", 262144, 640, 8, 32),
    ],
}


def median_s(fn, repeats: int) -> tuple[float, float]:
    """(median wall seconds, median process CPU seconds) of one evaluated call."""
    mx.eval(fn())
    times, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        mx.eval(fn())
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(times), statistics.median(cpu)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=200)
    p.add_argument("--model", choices=sorted(SHAPES), default="smollm2")
    args = p.parse_args()
    if not native.available():
        raise SystemExit(f"the kernels are not available: {native.advice()}")
    print(f"{'matrix':<24} {'MB':>6} " + " ".join(f"{f'kernel {t}T':>32}" for t in args.threads)
          + f" {'mx.quantized_matmul':>20} {'float32 BLAS':>16}")
    for name, n, k, bits, group in SHAPES[args.model]:
        print(bench_shape(name, n, k, bits, group, args.threads, args.repeats))


def random_affine(n: int, k: int, bits: int, group: int) -> tuple[mx.array, mx.array, mx.array]:
    """Random codes, scales and biases in the affine layout (any group size, 16 included)."""
    rng = np.random.default_rng(0)
    q = rng.integers(0, 1 << bits, (n, k), dtype=np.uint8)
    scales = rng.normal(size=(n, k // group)).astype(np.float32)
    biases = rng.normal(size=(n, k // group)).astype(np.float32)
    return mx.array(pack_affine(q, bits)), mx.array(scales), mx.array(biases)


def bench_shape(name: str, n: int, k: int, bits: int, group: int, threads: list[int], repeats: int) -> str:
    """One table row: GB/s and time per product for the kernel (per thread count), MLX and BLAS."""
    wq, scales, biases = random_affine(n, k, bits, group)
    w = native.dequantize(wq, scales, biases, group, bits)
    x = mx.random.normal((1, k))
    mx.eval(w, wq, scales, biases, x)
    nbytes = wq.nbytes + scales.nbytes + biases.nbytes
    cells = []
    for t in threads:
        native.set_threads(t)
        s, cpu = median_s(lambda: native.quantized_matmul(x, wq, scales, biases, group, bits), repeats)
        cells.append(f"{nbytes / s / 1e9:5.1f} GB/s {s * 1e6:6.0f}us cpu {cpu * 1e6:6.0f}us")
    mlx_cell = "-"
    if group in (32, 64, 128):
        s_mlx, _ = median_s(lambda: mx.quantized_matmul(x, wq, scales, biases, group_size=group, bits=bits),
                            max(3, repeats // 20))
        mlx_cell = f"{nbytes / s_mlx / 1e9:5.1f} GB/s {s_mlx * 1e6:6.0f}us"
    s_f32, _ = median_s(lambda: x @ w.T, max(3, repeats // 5))
    return (f"{name:<24} {nbytes / 1e6:6.2f} " + " ".join(f"{c:>32}" for c in cells)
            + f" {mlx_cell:>20} {w.nbytes / s_f32 / 1e9:5.1f} GB/s {s_f32 * 1e6:6.0f}us")

if __name__ == "__main__":
    main()
