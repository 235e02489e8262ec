"""Benchmark: decode speed of the default model with the Inspector's hooks idle (capture=None),
against the same model file with the hooks compiled out, and while capturing, in one process.

    flock /tmp/glassbox-bench.lock .venv/bin/python -m scripts.capture_overhead_bench [--rounds 8] [--steps 16]

"No hooks" is today's engine/models/llama.py with its three hook sites replaced by `if False:` /
`None` before compiling (Python drops those branches), so the comparison isolates the hooks and
nothing else; the script checks that the compiled code no longer names them. The three variants
share the same weights (a second load, its modules switched to the hook-free classes) and run
interleaved: each round runs `--steps` single-token decode steps of each on its own cache (after a
256-token prefill). A round's time is its median step; reported are the minimum over rounds (the
least disturbed by other work on a shared machine) and the median. "capturing" is the Inspector's
own step: every layer's residuals, updates and attention weights recorded for the new token.
"""

from __future__ import annotations

import argparse
import dis
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import engine  # noqa: F401  (OpenBLAS before mlx)

ROOT = Path(__file__).resolve().parent.parent
HOOKS = {  # hook site -> what replaces it (each must be found)
    "if capture is not None and capture.wants_weights:": "if False:",
    "if capture is not None:": "if False:",
    "capture.layer(i) if capture is not None else None": "None",
}


def _uses_capture(function) -> bool:
    """Whether `function` tests `capture` (is None) or reads an attribute of it; only passing it on
    (a plain argument, always None here) is left."""
    code = list(dis.get_instructions(function))
    for i, ins in enumerate(code[:-1]):
        if ins.opname == "LOAD_FAST" and ins.argval == "capture":
            after = code[i + 1]
            if after.opname in ("LOAD_ATTR", "LOAD_METHOD") or (after.opname == "LOAD_CONST" and after.argval is None):
                return True
    return False


def hook_free_module():
    """engine/models/llama.py with the hooks compiled out (checked in the bytecode)."""
    source = (ROOT / "engine" / "models" / "llama.py").read_text()
    for site, replacement in HOOKS.items():
        if site not in source:
            sys.exit(f"engine/models/llama.py changed: no {site!r} (update HOOKS in this script)")
        source = source.replace(site, replacement)
    path = Path(tempfile.mkdtemp()) / "llama_no_hooks.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("llama_no_hooks", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["llama_no_hooks"] = module
    spec.loader.exec_module(module)
    functions = (module.Model.__call__, module.Block.__call__, module.Attention.__call__)
    if any(_uses_capture(f) for f in functions):
        sys.exit("the hook-free llama still tests or calls its capture")
    return module


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--steps", type=int, default=16)
    args = ap.parse_args()

    import mlx.core as mx

    from engine import default_model
    from engine.cache import make_cache
    from engine.capture import Recorder
    from engine.generate import prefill
    from engine.loading import load
    from engine.models import llama

    path = default_model.resolve("default")
    lm = load(path)
    hooks = lm.model
    if type(hooks) is not llama.Model:
        sys.exit(f"the default model is a {type(hooks).__name__}, not llama's Model: this script compares llama.py")
    bare = hook_free_module()
    plain = load(path).model  # the same weights, as loaded; then its modules switch to the hook-free classes
    plain.__class__ = bare.Model
    for block in plain.layers:
        block.__class__, block.self_attn.__class__ = bare.Block, bare.Attention
    ids = lm.tokenizer.encode("The history of the city is a long one, shaped by its rivers. " * 30)[:256]
    n_layers = len(hooks.layers)

    def fresh(model):
        cache = make_cache(len(model.layers))
        prefill(model, ids + [0], cache)
        return cache

    def step(name, model, cache, tok):
        if name == "capturing":
            rec = Recorder(offset=cache[0].offset, rows=[0], weight_layers=frozenset(range(n_layers)))
            logits = model(tok, cache, rec)
            rec.evaluate()
        else:
            logits = model(tok, cache)
        mx.eval(logits)

    def round_time(name, model, cache) -> float:
        times, tok = [], mx.array([[ids[-1]]], dtype=mx.int32)
        for _ in range(args.steps):
            t0 = time.perf_counter()
            step(name, model, cache, tok)
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    variants = {"no_hooks": plain, "hooks_idle": hooks, "capturing": hooks}
    check = mx.array([ids[:8]], dtype=mx.int32)
    if not mx.allclose(plain(check, make_cache(n_layers)), hooks(check, make_cache(n_layers)), atol=1e-4).item():
        sys.exit("the hook-free model does not compute what the model computes")
    results = {name: [] for name in variants}
    caches = {name: fresh(model) for name, model in variants.items()}
    order = list(variants)
    for r in range(args.rounds):
        for name in order[r % 3 :] + order[: r % 3]:  # rotate who goes first
            if caches[name][0].offset > 256 + 4 * args.steps:
                caches[name] = fresh(variants[name])
            results[name].append(round_time(name, variants[name], caches[name]))
    out = {
        name: {"min_ms": 1000 * min(v), "median_ms": 1000 * statistics.median(v), "tok_s_at_min": 1 / min(v)}
        for name, v in results.items()
    }
    out["hooks_idle_vs_no_hooks_min"] = min(results["no_hooks"]) / min(results["hooks_idle"])
    out["capturing_vs_no_hooks_min"] = min(results["no_hooks"]) / min(results["capturing"])
    print(json.dumps(out))


if __name__ == "__main__":
    main()
