"""Benchmark: decode speed of the llama model with the Inspector's hooks (capture=None) against the
same model file before the hooks, in one process, on the same weights, interleaved.

    flock /tmp/glassbox-bench.lock .venv/bin/python -m scripts.capture_overhead_bench [--before f71feb9~1]

The file before the hooks is read with `git show <commit>:engine/models/llama.py`. Each round runs
`--steps` single-token decode steps of each model on its own cache (after a 256-token prefill);
the per-step time of a round is its median, and the result is the minimum over rounds (the least
disturbed by other work on a shared machine) and the median over rounds, for both.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import engine  # noqa: F401  (OpenBLAS before mlx)

ROOT = Path(__file__).resolve().parent.parent


def old_module(commit: str):
    source = subprocess.run(
        ["git", "show", f"{commit}:engine/models/llama.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "llama_before.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("llama_before", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["llama_before"] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", default="f71feb9~1", help="a commit before the hooks")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--steps", type=int, default=16)
    args = ap.parse_args()

    import mlx.core as mx

    from engine import default_model
    from engine.cache import make_cache
    from engine.generate import prefill
    from engine.loading import load

    lm = load(default_model.resolve("default"))
    now = lm.model
    before_mod = old_module(args.before)
    before = before_mod.Model(before_mod.ModelArgs.from_dict(now.args.to_dict()))
    before.update(now.parameters())
    mx.eval(before.parameters())
    ids = lm.tokenizer.encode("The history of the city is a long one, shaped by its rivers. " * 30)[:256]

    def fresh(model):
        cache = make_cache(len(model.layers))
        prefill(model, ids + [0], cache)
        return cache

    def round_time(model, cache) -> float:
        times, tok = [], mx.array([[ids[-1]]], dtype=mx.int32)
        for _ in range(args.steps):
            t0 = time.perf_counter()
            logits = model(tok, cache)
            mx.eval(logits)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    results = {"hooks": [], "before": []}
    caches = {"hooks": fresh(now), "before": fresh(before)}
    for r in range(args.rounds):
        for name, model in (("hooks", now), ("before", before)) if r % 2 == 0 else (("before", before), ("hooks", now)):
            if caches[name][0].offset > 256 + 4 * args.steps:
                caches[name] = fresh(model)
            results[name].append(round_time(model, caches[name]))
    out = {
        name: {"min_ms": 1000 * min(v), "median_ms": 1000 * statistics.median(v), "tok_s_at_min": 1 / min(v)}
        for name, v in results.items()
    }
    out["ratio_min"] = min(results["before"]) / min(results["hooks"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
