"""Micro-benchmark of the quantized matrix-vector kernel: GB/s of weights read per product.

    flock /tmp/glassbox-bench.lock .venv/bin/python scripts/kernel_bench.py [--threads 1 2] [--repeats 200]

For the default model's matrix shapes (SmolLM2-135M: 576 -> 576/192/1536, 1536 -> 576, and the
49,152-row tied head at 8 bits), times one decode-step product (a single input row) through
Glassbox's kernel, MLX's own `mx.quantized_matmul` and a float32 matmul (BLAS), and prints the
bytes of weights (codes + float32 scales and biases) each reads per second. Medians of `repeats`.
"""

from __future__ import annotations

import argparse
import statistics
import time

import engine  # noqa: F401  (loads OpenBLAS: before mlx)

# isort: split
import mlx.core as mx

from engine import native

SHAPES = [  # (name, out rows N, in features K, bits)
    ("q/o 576x576", 576, 576, 4),
    ("k/v 192x576", 192, 576, 4),
    ("gate/up 1536x576", 1536, 576, 4),
    ("down 576x1536", 576, 1536, 4),
    ("head 49152x576 (8-bit)", 49152, 576, 8),
]
GROUP = 32


def median_s(fn, repeats: int) -> float:
    mx.eval(fn())
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        mx.eval(fn())
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=200)
    args = p.parse_args()
    if not native.available():
        raise SystemExit(f"the kernels are not available: {native.advice()}")
    print(f"{'matrix':<24} {'MB':>6} " + " ".join(f"{f'kernel {t}T':>16}" for t in args.threads)
          + f" {'mx.quantized_matmul':>20} {'float32 BLAS':>16}")
    for name, n, k, bits in SHAPES:
        print(bench_shape(name, n, k, bits, args.threads, args.repeats))


def bench_shape(name: str, n: int, k: int, bits: int, threads: list[int], repeats: int) -> str:
    """One table row: GB/s and time per product for the kernel (per thread count), MLX and BLAS."""
    w = mx.random.normal((n, k))
    wq, scales, biases = mx.quantize(w, group_size=GROUP, bits=bits)
    scales, biases = scales.astype(mx.float32), biases.astype(mx.float32)
    x = mx.random.normal((1, k))
    mx.eval(w, wq, scales, biases, x)
    nbytes = wq.nbytes + scales.nbytes + biases.nbytes
    cells = []
    for t in threads:
        native.set_threads(t)
        s = median_s(lambda: native.quantized_matmul(x, wq, scales, biases, GROUP, bits), repeats)
        cells.append(f"{nbytes / s / 1e9:6.1f} GB/s {s * 1e6:5.0f}us")
    s_mlx = median_s(lambda: mx.quantized_matmul(x, wq, scales, biases, group_size=GROUP, bits=bits),
                     max(3, repeats // 20))
    s_f32 = median_s(lambda: x @ w.T, repeats)
    return (f"{name:<24} {nbytes / 1e6:6.2f} " + " ".join(f"{c:>16}" for c in cells)
            + f" {nbytes / s_mlx / 1e9:9.1f} GB/s {s_mlx * 1e6:5.0f}us"
            + f" {w.nbytes / s_f32 / 1e9:5.1f} GB/s {s_f32 * 1e6:5.0f}us")

if __name__ == "__main__":
    main()
