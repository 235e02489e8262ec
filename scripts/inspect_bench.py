"""Benchmark: inspecting one step of a 1,000-token conversation with the default model.

Usage: flock /tmp/glassbox-bench.lock .venv/bin/python -m scripts.inspect_bench [--tokens 1000] [--repeats 3] [--json]

What the Inspector's worker does when a token is clicked, timed end to end: `app.inspection.step_report`
(every view's numbers: the logit lens, residual norms, the attention row of every layer and head,
the next-token distribution and its tail, the embedding and its neighbours, the vocabulary's merges
and word splits, RoPE, the training loss of the user's message) on a copy of the conversation's KV
cache trimmed to the step, as the app's prompt cache hands it over. The loss of the user's message
is recomputed in every repeat (the app keeps it per prompt, so this is the first click's cost).

The conversation: alternating user/assistant turns rendered with the chat template, ending in a
user message and a reply; the KV cache is built once (as the app holds it after the reply). Timed:
- `reply_step_s`: a reply token (the last step of the 1,000-token context), median and max;
- `message_step_s`: a position in the user's own last message;
- `recomputed_step_s`: the same reply step with no cache (after a restart: from the tokens);
- `warm_up_s`: the once-per-model tables (the tokenizer's merges, the unit embedding matrix) that
  the worker builds when idle after a load (`app.inspection.warm_up`), per piece: the longest a
  reply asked for during the warm-up waits;
- `first_step_s`, `first_step_extra_s`: the first inspection after that warm-up, and what it adds
  to the median (the target: the first inspection too within 1 s); `--cold` skips the warm-up, as
  before it existed (the first step then builds the tables itself);
- `full_map_s`: one head's full T×T map (layer 15, chunked, as the Inspector's "Full map" button);
- `decode_step_s`: one plain decode step at the same context, the yardstick on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import dataclass

import engine  # noqa: F401  (OpenBLAS before mlx)


@dataclass(frozen=True)
class _Generate:
    """The part of a GenerateRequest step_report reads."""

    user_message: str


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--cold", action="store_true", help="no warm-up: the first step builds the tables")
    args = ap.parse_args()

    import mlx.core as mx

    from app.inspection import InspectorState, StepRequest, step_report, warm_up
    from engine import default_model
    from engine.bench import PROSE
    from engine.cache import trim_cache
    from engine.generate import prefill
    from engine.inspect import attention_map, fresh_cache
    from engine.loading import load

    lm = load(default_model.resolve("default"))
    model, tok = lm.model, lm.tokenizer
    question = "Could you summarise what this text says about the rivers, in two sentences?"
    turns: list[dict[str, str]] = []
    while True:
        messages = turns + [{"role": "user", "content": question}]
        prompt = tok.encode_chat(messages)
        if len(prompt) >= args.tokens - 40:
            break
        turns += [{"role": "user", "content": PROSE[:600]}, {"role": "assistant", "content": PROSE[600:1200]}]
    reply = tok.encode(PROSE[:400], add_bos=False)[: max(1, args.tokens - len(prompt))]
    ids = prompt + reply  # the whole conversation: ~args.tokens
    conversation = fresh_cache(model)
    prefill(model, ids + [0], conversation)  # holds all of ids
    mx.eval([c.state for c in conversation])

    def peek(tokens):
        if not tokens or list(ids[: len(tokens)]) != list(tokens):
            return None
        cache = [c.copy() for c in conversation]
        trim_cache(cache, cache[0].offset - len(tokens))
        return cache

    generate = _Generate(question)
    state = InspectorState()
    last = StepRequest(generate, tuple(reply), len(reply) - 1)
    mine = StepRequest(generate, tuple(reply), 0, message_char=question.index("rivers"))

    def timed(request, with_cache: bool = True) -> float:
        state.losses = None  # the user's message scored again, as on a conversation's first click
        t0 = time.perf_counter()
        report = step_report(lm, state, prompt, messages, request, peek if with_cache else (lambda t: None))
        elapsed = time.perf_counter() - t0
        assert len(report["step"]["attention"]) == len(model.layers)
        return elapsed

    def decode_step() -> float:
        cache = [c.copy() for c in conversation]
        mx.eval([c.state for c in cache])
        t0 = time.perf_counter()
        mx.eval(model(mx.array([[ids[-1]]], dtype=mx.int32), cache))
        return time.perf_counter() - t0

    results: dict = {"tokens": len(ids), "prompt_tokens": len(prompt)}
    results["decode_step_s"] = statistics.median(decode_step() for _ in range(args.repeats))
    if not args.cold:
        pieces, t0 = {}, time.perf_counter()
        for name in warm_up(lm, state):
            pieces[name] = round(time.perf_counter() - t0, 3)
            t0 = time.perf_counter()
        results["warm_up_s"] = pieces
    first = timed(last)
    results["first_step_s"] = first
    for name, request in (("reply_step", last), ("message_step", mine)):
        times = [timed(request) for _ in range(args.repeats)]
        results[f"{name}_s"] = statistics.median(times)
        results[f"{name}_max_s"] = max(times)
    results["first_step_extra_s"] = max(0.0, first - results["reply_step_s"])
    results["recomputed_step_s"] = timed(last, with_cache=False)
    t0 = time.perf_counter()
    attention_map(model, ids, layer=15, head=4)
    results["full_map_s"] = time.perf_counter() - t0
    if args.json:
        print(json.dumps(results))
    else:
        for k, v in results.items():
            print(f"{k:>22}: {v:.3f}" if isinstance(v, float) else f"{k:>22}: {v}")


if __name__ == "__main__":
    main()
