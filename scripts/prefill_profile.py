"""Where a prompt's prefill goes: the whole chunk, then one layer's pieces, each timed alone.

    flock /tmp/glassbox-bench.lock .venv/bin/python scripts/prefill_profile.py --model default --tokens 511
    ... --written-out   # attention as it was before the kernel: blocks of scores, MLX's softmax

Loads the model as the app does, then times (best of `--repeats`, wall ms, after one warm-up):
the prefill of `--tokens` prompt tokens into fresh caches (what `engine bench` calls prefill, less
the first token), and for layer 0 on a (1, tokens, hidden) input: the Q/K/V projections, RoPE of
the queries and keys, the attention over the chunk, the output projection, the MLP's matrix
products, its gate (act(g) * u) and a norm. `--written-out` hands the attention an explicit mask
array instead of the cache's band, which takes the pre-kernel path (for a before/after in one run).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import engine._blas  # noqa: E402  (OpenBLAS before mlx, as the app does)

engine._blas.preload()

import mlx.core as mx  # noqa: E402

from engine import cache as cache_module  # noqa: E402
from engine import default_model, kernels  # noqa: E402
from engine.loading import load  # noqa: E402


def best_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def written_out(attention):
    """kernels.attention with the mask spelled out (an array has no band: the pre-kernel path)."""

    def attend(q, k, v, scale, mask, sinks=None):
        if q.shape[2] > 1 and mask is not None:
            mask = kernels.mask_array(mask, q.shape[2], k.shape[2])
        return attention(q, k, v, scale, mask, sinks)

    return attend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--tokens", type=int, default=511)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--written-out", action="store_true", help="attention without the kernel (before)")
    args = parser.parse_args()
    if args.written_out:
        kernels.attention = cache_module.sdpa = written_out(kernels.attention)

    lm = load(default_model.resolve(args.model))
    model, n = lm.model, args.tokens
    print(f"{lm.info.name}: {lm.info.held_as}; kernels: {lm.info.cpu_kernels}; load {os.getloadavg()[0]:.1f}")
    ids = mx.array([[100 + i % 1000 for i in range(n)]], dtype=mx.int32)

    def prefill():
        caches = model.make_cache()
        model(ids, caches)
        mx.eval([c.state for c in caches])

    whole = best_ms(prefill, args.repeats)
    print(f"prefill of {n} tokens: {whole:.0f} ms = {n / whole * 1e3:.0f} tok/s")

    layer = model.layers[0]
    attn, mlp = layer.self_attn, layer.mlp
    dim = model.args.hidden_size
    x = mx.random.normal((1, n, dim))
    q, k, v = kernels.project(x, attn.q_proj, attn.k_proj, attn.v_proj)
    heads, kv_heads = attn.n_heads, attn.n_kv_heads
    qh = q.reshape(1, n, heads, -1).transpose(0, 2, 1, 3)
    kh = k.reshape(1, n, kv_heads, -1).transpose(0, 2, 1, 3)
    vh = v.reshape(1, n, kv_heads, -1).transpose(0, 2, 1, 3)
    out = mx.random.normal((1, n, heads * attn.head_dim))  # what the attention hands the output projection
    g = mlp.gate_proj(x)
    u = mlp.up_proj(x)
    mx.eval(x, qh, kh, vh, out, g, u)
    gelu = "gemma" in type(model).__module__
    rows = [
        ("Q, K, V projections", lambda: mx.eval(kernels.project(x, attn.q_proj, attn.k_proj, attn.v_proj))),
        ("RoPE of queries and keys", lambda: mx.eval(attn.rope(qh, offset=0), attn.rope(kh, offset=0))),
        ("attention over the chunk", lambda: mx.eval(kernels.attention(qh, kh, vh, attn.scale, "causal"))),
        ("output projection", lambda: mx.eval(attn.o_proj(out))),
        ("MLP gate and up products", lambda: mx.eval(mlp.gate_proj(x), mlp.up_proj(x))),
        ("MLP gate act(g) * u", lambda: mx.eval(kernels._gated(g, u, gelu))),
        ("MLP down product", lambda: mx.eval(mlp.down_proj(g))),
        ("one RMSNorm", lambda: mx.eval(layer.input_layernorm(x))),
    ]
    total = 0.0
    print(f"layer 0 of {len(model.layers)}, input (1, {n}, {dim}):")
    for name, fn in rows:
        ms = best_ms(fn, args.repeats)
        total += ms
        print(f"  {name:<28} {ms:7.2f} ms")
    print(f"  {'sum':<28} {total:7.2f} ms (x {len(model.layers)} layers = {total * len(model.layers):.0f} ms)")


if __name__ == "__main__":
    main()
