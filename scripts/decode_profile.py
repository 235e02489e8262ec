"""Profile one decode step of the default model: graph nodes per token and time per step.

    flock /tmp/glassbox-bench.lock .venv/bin/python scripts/decode_profile.py [--context 512]
    GLASSBOX_NO_NATIVE=1 .venv/bin/python scripts/decode_profile.py --weights float32   # before

Prefills `context` tokens, then times `steps` single-token steps (graph build + evaluation, the
next token fed back as the generator does) and counts the nodes of one step's graph (from
`mx.export_to_dot`: every operation and input array that the logits depend on): the second step's,
since the first after a prefill also grows the KV buffers (once per `KVCache.step` tokens). Besides wall
time it prints CPU time (`time.process_time`, all threads, and `time.thread_time` of the Python
thread that builds the graph), which a loaded machine inflates much less than wall time.
"""

from __future__ import annotations

import argparse
import collections
import os
import re
import statistics
import tempfile
import time

import engine  # noqa: F401  (loads OpenBLAS: before mlx)

# isort: split
import mlx.core as mx

from engine import default_model, native
from engine.cache import make_cache
from engine.loading import WeightPolicy, load


def graph_nodes(out: mx.array) -> tuple[int, collections.Counter]:
    """(operations, count per operation name) in the graph that computes `out` (not evaluated)."""
    with tempfile.NamedTemporaryFile("w", suffix=".dot", delete=False) as f:
        path = f.name
    try:
        mx.export_to_dot(path, out)
        text = open(path).read()
    finally:
        os.unlink(path)
    names = re.findall(r'\[label ="([^"]*)", shape=rectangle\]', text)
    return len(names), collections.Counter(names)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--weights", choices=("auto", "float32", "stored"), default="auto")
    p.add_argument("--context", type=int, default=512)
    p.add_argument("--steps", type=int, default=64)
    p.add_argument("--model", default="default", help="default, gemma3-270m, or a GGUF file / folder")
    p.add_argument("--cache", choices=("plain", "quantized8", "quantized4"), default="plain",
                   help="the KV cache kind (a model's sliding-window layers keep their rotating cache)")
    args = p.parse_args()
    lm = load(default_model.resolve(args.model), WeightPolicy(args.weights))
    print(f"weights: {lm.info.held_as}; kernels: {lm.info.cpu_kernels}; native threads: "
          f"{native.threads() if native.available() else '-'}")
    model = lm.model
    kind, bits = ("plain", 8) if args.cache == "plain" else ("quantized", int(args.cache[-1]))
    cache = (model.make_cache(kind, bits=bits) if hasattr(model, "make_cache")
             else make_cache(lm.info.n_layers, kind, bits=bits))
    ids = mx.array([list(range(100, 100 + args.context))])
    mx.eval(model(ids[:, :-2], cache)[:, -1])
    mx.eval(model(ids[:, -2:-1], cache))  # the first step grows the cache buffers for the next ones
    first = model(ids[:, -1:], cache)[:, -1]  # the graph of a steady step, counted, then evaluated
    ops, by_name = graph_nodes(first)
    token = mx.argmax(first, axis=-1, keepdims=True)
    mx.eval(token)
    build, total = [], []
    cpu0, thread0 = time.process_time(), time.thread_time()
    for _ in range(args.steps):
        t0 = time.perf_counter()
        logits = model(token, cache)[:, -1]
        nxt = mx.argmax(logits, axis=-1, keepdims=True)
        t1 = time.perf_counter()
        mx.eval(nxt)
        t2 = time.perf_counter()
        token = nxt
        build.append(t1 - t0)
        total.append(t2 - t0)
    cpu, thread = (time.process_time() - cpu0) / args.steps, (time.thread_time() - thread0) / args.steps
    step = statistics.median(total)
    print(f"graph: {ops} operations per decode step; most common: "
          + ", ".join(f"{name} {n}" for name, n in by_name.most_common(8)))
    print(f"step at {args.context}-token context: {step * 1e3:.2f} ms median ({1 / step:.1f} tok/s), "
          f"graph build {statistics.median(build) * 1e3:.2f} ms")
    print(f"CPU per step: {cpu * 1e3:.2f} ms (Python thread {thread * 1e3:.2f} ms); load average "
          f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
