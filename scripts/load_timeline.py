"""Where a model load's time goes: a timeline of its pieces, wall and CPU, and which hold the GIL.

    flock /tmp/glassbox-bench.lock .venv/bin/python scripts/load_timeline.py --model default --runs 3

(Run from a checkout's root, it times that checkout's engine. Set GLASSBOX_WEIGHTS_CACHE=off to time
the conversion from the file rather than a load of converted weights kept from an earlier one.)

Each run is a fresh process (imports done first, outside the timeline, as `load_bench.py` and the
peers measure a load). In it, the engine's loading steps are wrapped with timers (wall time and
the thread's own CPU time, `time.thread_time`), and a probe thread wakes every millisecond: a gap
between its wake-ups much longer than that means another thread held the GIL (or, on a busy
machine, that the probe waited for a core) — what the window's event loop feels while its worker
loads a model. Prints `uptime`, then per run the pieces in start order with their thread, wall
ms, CPU ms and the probe's longest gap inside them, and the load's own total (`load_s`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, sys, threading, time
from functools import wraps

import mlx.core as mx
from engine import gguf, loading, tokenizer
from engine.default_model import resolve

T0 = time.perf_counter()
spans = []  # (name, thread, start s, end s, cpu s)
gaps = []  # (start s, end s) of probe gaps > 3 ms


def timed(name, fn):
    @wraps(fn)
    def wrapper(*a, **k):
        start, cpu = time.perf_counter(), time.thread_time()
        try:
            return fn(*a, **k)
        finally:
            spans.append((name, threading.current_thread().name, start, time.perf_counter(), time.thread_time() - cpu))
    return wrapper


def patch(module, attr, name=None):
    setattr(module, attr, timed(name or attr, getattr(module, attr)))


class Proxy:
    def __init__(self, target, **wrapped):
        self._target, self._wrapped = target, wrapped

    def __getattr__(self, attr):
        return self._wrapped.get(attr) or getattr(self._target, attr)


# the loader's own steps
for attr in ("read_gguf_contents", "_describe_storage", "_expand_unquantizable", "_count_params",
             "_requantize", "_quantize_like", "_float32_scales_on_cpu", "classify", "_chat_template",
             "_load_weights", "use_native_kernels", "terms_file_beside", "_kernel_names", "_gguf_config"):
    patch(loading, attr)
loading.mx = Proxy(mx, eval=timed("mx.eval (loader)", mx.eval))
real_get_arch = loading.get_architecture


def get_architecture(name):
    import dataclasses
    arch = timed("get_architecture (imports the model file)", real_get_arch)(name)
    model = timed("model built (arch.model(args))", arch.model)
    return dataclasses.replace(arch, model=model)


loading.get_architecture = get_architecture
# the reader's
patch(gguf, "_read_header", "GGUF header")
patch(gguf, "_read_native", "tensors converted (native, one call)")
patch(gguf, "_read_tensor", "tensor read (numpy path)")
gguf.mx = Proxy(mx, eval=timed("mx.eval (transformed tensors)", mx.eval))
# the tokenizer's
patch(loading, "tokenizer_from_gguf", "tokenizer (whole)")
for attr in ("_pre_tokenizer", "_control_ids", "_template"):
    patch(tokenizer, attr)
for attr in ("bpe_backend", "bpe_tables", "merge_pairs", "bpe_vocab"):
    if hasattr(tokenizer, attr):
        patch(tokenizer, attr)
try:  # the converted-weights cache, where this checkout has one
    from engine.weights_cache import WeightsCache
    for attr in ("key", "get", "put"):
        setattr(WeightsCache, attr, timed(f"weights cache: {attr}", getattr(WeightsCache, attr)))
except ImportError:
    pass
tokenizer.models = Proxy(tokenizer.models, BPE=timed("models.BPE(vocab, merges)", tokenizer.models.BPE))
if hasattr(tokenizer, "native") and hasattr(tokenizer.native, "byte_pair_model"):  # the native BPE
    tokenizer.native = Proxy(tokenizer.native, byte_pair_model=timed("native BytePairModel", tokenizer.native.byte_pair_model))


def probe():
    last = time.perf_counter()
    while not done:
        time.sleep(0.001)
        now = time.perf_counter()
        if now - last > 0.003:
            gaps.append((last, now))
        last = now


path = resolve(sys.argv[1])
done = False
threading.Thread(target=probe, daemon=True, name="probe").start()
time.sleep(0.05)
start, cpu = time.perf_counter(), time.process_time()
lm = loading.load(path)
end, cpu = time.perf_counter(), time.process_time() - cpu
done = True
time.sleep(0.01)


def max_gap(a, b):
    inside = [min(e, b) - max(s, a) for s, e in gaps if e > a and s < b]
    return max(inside, default=0.0)


rows = [
    {"name": n, "thread": th.replace("glassbox-", "").replace("MainThread", "load"), "start_ms": (s - start) * 1e3,
     "wall_ms": (e - s) * 1e3, "cpu_ms": c * 1e3, "max_gap_ms": max_gap(s, e) * 1e3}
    for n, th, s, e, c in sorted(spans, key=lambda r: r[2])
]
print(json.dumps({"load_s": lm.info.load_s, "wall_s": end - start, "cpu_s": cpu, "rows": rows,
                  "max_gap_ms": max_gap(start, end) * 1e3,
                  "gaps_over_20ms": [((s - start) * 1e3, (e - s) * 1e3) for s, e in gaps if s >= start and e - s > 0.02]}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true", help="one JSON object per run instead of tables")
    args = ap.parse_args()
    print("uptime before:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-c", CHILD, args.model], capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(out.stderr)
        run = json.loads(out.stdout.strip().splitlines()[-1])
        if args.json:
            print(json.dumps(run))
            continue
        print(f"\nload_s {run['load_s'] * 1e3:.0f} ms, CPU {run['cpu_s'] * 1e3:.0f} ms (all threads), "
              f"longest probe gap {run['max_gap_ms']:.0f} ms")
        print(f"{'start':>7} {'wall':>7} {'CPU':>7} {'gap':>6}  {'thread':<10} piece")
        reads = [r for r in run["rows"] if r["name"] == "tensor read (numpy path)"]
        if reads:  # small tensors (norms) read one by one: summed on one line
            print(f"{reads[0]['start_ms']:7.1f} {sum(r['wall_ms'] for r in reads):7.1f} "
                  f"{sum(r['cpu_ms'] for r in reads):7.1f} {max(r['max_gap_ms'] for r in reads):6.1f}  "
                  f"{'load':<10} {len(reads)} tensors read (numpy path), summed")
        for r in run["rows"]:
            if r in reads:
                continue
            print(f"{r['start_ms']:7.1f} {r['wall_ms']:7.1f} {r['cpu_ms']:7.1f} {r['max_gap_ms']:6.1f}  "
                  f"{r['thread']:<10} {r['name']}")
        print("probe gaps > 20 ms (start, length):", ", ".join(f"{s:.0f}+{n:.0f}" for s, n in run["gaps_over_20ms"]))
    print("uptime after: ", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
