"""Benchmark: inspecting one step of a 1,000-token conversation with the default model.

Usage: flock /tmp/glassbox-bench.lock .venv/bin/python -m scripts.inspect_bench [--tokens 1000] [--json]

The conversation's KV cache is built once (as the app holds it after a reply); then, per repeat,
every view's numbers for the step at position P (the user's last message, half-way into the last
reply, the last token): a copy of the cache trimmed to P, `inspect_step` (logit lens, residual
norms, every layer's and head's attention row, next token), embedding neighbours, RoPE angles,
the sampling stages and the training loss of a 30-token span. Also: the same step with no cache
(after a restart: recomputed from the tokens), one head's full T×T map, and one plain decode step
at the same context (`decode_step_s`), the yardstick when the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import engine  # noqa: F401  (OpenBLAS before mlx)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import mlx.core as mx

    from engine import default_model
    from engine.bench import PROSE
    from engine.cache import make_cache, trim_cache
    from engine.generate import prefill
    from engine.inspect import (
        embedding_matrix,
        inspect_prompt,
        inspect_step,
        neighbours,
        rope_angles,
        rope_inverse_frequencies,
        sampling_stages,
        token_losses,
        unit_rows,
    )
    from engine.loading import load
    from engine.sampling import SamplingSettings

    lm = load(default_model.resolve("default"))
    model, tok = lm.model, lm.tokenizer
    turns, ids = [], []
    while len(ids) < args.tokens:
        turns += [{"role": "user", "content": PROSE}, {"role": "assistant", "content": PROSE[::-1]}]
        ids = tok.encode_chat(turns, add_generation_prompt=False)
    ids = ids[: args.tokens]
    conversation = make_cache(len(model.layers))
    prefill(model, ids + [0], conversation)  # holds all of ids
    unit = unit_rows(embedding_matrix(model))  # built once per model, kept by the worker
    mx.eval(unit)
    inv = rope_inverse_frequencies(model.layers[0].self_attn.rope)

    def one_step(position: int, cached: bool) -> float:
        t0 = time.perf_counter()
        cache = None
        if cached:
            cache = [c.copy() for c in conversation]
            trim_cache(cache, cache[0].offset - position)
        step = inspect_step(model, ids, position, top=20, cache=cache)
        neighbours(unit, ids[position], 10)
        rope_angles(position, inv)
        sampling_stages(step.logprobs, SamplingSettings(temperature=0.7, top_p=0.9), ids[-64:])
        span_cache = None
        if cached:
            span_cache = [c.copy() for c in conversation]
            trim_cache(span_cache, span_cache[0].offset - (position - 31))
        token_losses(model, ids, position - 30, position, cache=span_cache)
        return time.perf_counter() - t0

    def decode_step() -> float:
        """One plain decode step on a copy of the conversation's cache: the machine's yardstick."""
        cache = [c.copy() for c in conversation]
        mx.eval([c.state for c in cache])
        t0 = time.perf_counter()
        mx.eval(model(mx.array([[ids[-1]]], dtype=mx.int32), cache))
        return time.perf_counter() - t0

    results = {"tokens": len(ids)}
    results["decode_step_s"] = statistics.median(decode_step() for _ in range(args.repeats))
    one_step(len(ids) // 2, True)  # warm-up
    for name, position in [("middle", len(ids) // 2), ("last", len(ids) - 1)]:
        times = [one_step(position, True) for _ in range(args.repeats)]
        results[f"step_{name}_cached_s"] = statistics.median(times)
        results[f"step_{name}_cached_max_s"] = max(times)
    results["step_middle_in_decode_steps"] = results["step_middle_cached_s"] / results["decode_step_s"]
    results["step_last_recomputed_s"] = one_step(len(ids) - 1, False)
    t0 = time.perf_counter()
    inspect_prompt(model, ids, layer=15, head=4, top=1)
    results["full_map_one_head_s"] = time.perf_counter() - t0
    if args.json:
        print(json.dumps(results))
    else:
        for k, v in results.items():
            print(f"{k:>28}: {v:.3f}" if isinstance(v, float) else f"{k:>28}: {v}")


if __name__ == "__main__":
    main()
