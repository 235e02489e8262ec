"""`python -m engine bench`: the numbers the peers are compared on (see ../shared/bench).

Load, warm up (16 prompt tokens, 4 generated), then a fresh cache, a `prompt_tokens` prompt and
`gen_tokens + 1` greedy tokens through the product's own generation path, timing each token:
ttft_s = prefill + first token; prefill_tps = prompt tokens / ttft_s;
decode_tps = gen_tokens / (last token time - first token time). Plus the time to the first token
of a short chat message, the way the app sends one. With $PEERS_PROMPT_IDS set (peers.sh does),
the exact prompt ids the peers use are fed.
"""

from __future__ import annotations

import json
import os
import resource
import time

PROSE = (
    "The history of the city is a long one, shaped by its rivers, its markets and the people who "
    "came to trade in them. Every generation rebuilt the bridges and widened the streets, and the "
    "old quarter still keeps the narrow lanes where craftsmen once worked late into the night. "
)


def _prompt_ids(tokenizer, n: int) -> list[int]:
    path = os.environ.get("PEERS_PROMPT_IDS")
    if path:
        with open(path) as f:
            ids = json.load(f)["ids"]
        if len(ids) >= n:
            return ids[:n]
    ids: list[int] = []
    repeat = 1
    while len(ids) < n:
        ids = tokenizer.encode(PROSE * repeat)
        repeat += 1
    return ids[:n]


def run_bench(model_spec: str, prompt_tokens: int = 512, gen_tokens: int = 128) -> dict:
    t0 = time.perf_counter()
    import mlx.core as mx

    from engine import default_model
    from engine.generate import GenerationConfig, generate
    from engine.loading import load
    from engine.sampling import GREEDY

    t1 = time.perf_counter()
    lm = load(default_model.resolve(model_spec))
    t2 = time.perf_counter()
    model, tok, info = lm.model, lm.tokenizer, lm.info

    def greedy_stamps(ids, n):
        cache = model.make_cache()
        config = GenerationConfig(max_tokens=n, stop_ids=set(), context_length=None)
        config.stop_ids = set()
        stamps, toks, start = [], [], time.perf_counter()
        tok_eos, tok.eos_ids = tok.eos_ids, set()  # time exactly n tokens, like the peers
        try:
            for ev in generate(model, tok, ids, cache, GREEDY, config):
                stamps.append(time.perf_counter())
                toks.append(ev.token)
        finally:
            tok.eos_ids = tok_eos
        return start, stamps, toks, cache

    ids = _prompt_ids(tok, prompt_tokens)
    greedy_stamps(ids[:16], 4)  # warm-up
    start, stamps, toks, cache = greedy_stamps(ids, gen_tokens + 1)
    ttft = stamps[0] - start
    chat_ids = tok.encode_chat([{"role": "user", "content": "What is the capital of France?"}])
    c0 = time.perf_counter()
    chat_stamps = greedy_stamps(chat_ids, 1)[1]
    mx.eval(mx.zeros(1))
    return {
        "prompt_tokens": len(ids),
        "gen_tokens": gen_tokens,
        "import_s": t1 - t0,
        "load_s": t2 - t1,
        "ttft_s": ttft,
        "prefill_tps": len(ids) / ttft,
        "decode_tps": gen_tokens / (stamps[-1] - stamps[0]),
        "chat_prompt_tokens": len(chat_ids),
        "chat_ttft_s": chat_stamps[0] - c0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        "kv_bytes_per_token": info.kv_bytes_per_token,
        "weights": info.held_as,
        "cpu_kernels": info.cpu_kernels,
        "blas": info.blas,
        "first_tokens": toks[:8],
    }
