"""Benchmark: the OpenAI-compatible API under load — concurrent streaming clients on loopback.

Usage: flock /tmp/glassbox-bench.lock .venv/bin/python -m scripts.server_load_bench \
           [--clients 8] [--requests 2] [--max-tokens 32] [--deadline 300] [--json]

Serves the real default model in this process (the same code as `glassbox serve`: uvicorn on
127.0.0.1, a free port, one model thread), then starts `--clients` threads that each send
`--requests` streamed chat completions (different questions, temperature 0, `--max-tokens` each,
usage included) one after another. Bounded: every client stops sending at `--deadline` seconds,
and every request has a read timeout. Meanwhile a probe asks GET /v1/models every 0.25 s: its
latency says whether the server's event loop stays responsive while the model works.

Before the load, one request straight through the session (no HTTP) gives the engine's own speed
on the machine as it is now: the aggregate is reported against it, since this machine is shared.
Prompt caches go to a temporary data dir, removed at the end.

Reports per request: status (done / refused with 429 or 503 / failed / cut at the deadline), time to first token from
the request being sent (queueing included: with one model thread, requests wait their turn) and
tokens; in all: aggregate completion tokens per second of wall time, TTFT p50/p95, probe latency
p50/p95, and what is left afterwards (requests running, jobs waiting, threads) — all zero or back
to the start when nothing leaks.

Leaks are judged from snapshots before the server starts and after it has stopped: threads, open
sockets and file descriptors (back to where they were), MLX's memory in use with the in-memory
prompt cache emptied (it holds KV caches by design; within `MEMORY_SLACK_MB`), and the process's
resident memory (reported, not judged: the allocator keeps freed pages). The last line is the
verdict; the exit status is 1 when a request failed, something was left running, or something
leaked. Requests the bench itself cut at `--deadline` (+60 s) are counted and named in the
verdict, not failures: each was cancelled by its client closing the stream.

The window is not part of this run (the server runs headless, as `glassbox serve` does): the probe
measures the server's responsiveness, not the window's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import stat
import sys
import tempfile
import threading
import time

import engine  # noqa: F401  (OpenBLAS before mlx)

MEMORY_SLACK_MB = 16.0  # MLX memory in use may differ by this much before/after without being a leak

QUESTIONS = [
    "Name three colours of the rainbow.", "What is the capital of France?", "Write a haiku about rain.",
    "Why is the sky blue?", "List two uses of a paperclip.", "What does a cat eat?",
    "Explain what a noun is.", "Give me a name for a goldfish.", "How many legs does a spider have?",
    "What is two plus two?",
]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def stream_one(http, url: str, question: str, max_tokens: int, hard_stop: float = float("inf")) -> dict:
    """One streamed chat request; closed early ("cut", which cancels it) at `hard_stop`, also while
    it still waits in the queue for its first byte (the read timeout runs to `hard_stop`)."""
    import httpx

    body = {"model": "bench", "messages": [{"role": "user", "content": question}], "stream": True,
            "temperature": 0, "max_tokens": max_tokens, "stream_options": {"include_usage": True}}
    sent = time.perf_counter()
    first, tokens, usage, done = None, 0, None, False
    timeout = httpx.Timeout(10.0, read=max(1.0, hard_stop - sent)) if hard_stop != float("inf") else http.timeout
    try:
        with http.stream("POST", f"{url}/chat/completions", json=body, timeout=timeout) as r:
            if r.status_code != 200:
                r.read()
                return {"status": "refused" if r.status_code in (429, 503) else "failed", "code": r.status_code,
                        "message": r.json()["error"]["message"]}
            for line in r.iter_lines():
                if time.perf_counter() > hard_stop:
                    return {"status": "cut", "tokens": tokens}
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    done = True
                    break
                chunk = json.loads(data)
                if "error" in chunk:
                    return {"status": "failed", "message": chunk["error"]["message"]}
                if chunk.get("usage"):
                    usage = chunk["usage"]
                for choice in chunk["choices"]:
                    if choice["delta"].get("content") is not None and choice["logprobs"] is None and \
                            "role" not in choice["delta"]:
                        tokens += 1
                        first = first or time.perf_counter()
    except httpx.ReadTimeout as e:  # at the hard stop: the bench's bound, not the server's failure
        if time.perf_counter() >= hard_stop - 1.0:
            return {"status": "cut", "tokens": tokens}
        return {"status": "failed", "message": f"ReadTimeout: {e}"}
    except Exception as e:  # a client that loses its connection
        return {"status": "failed", "message": f"{type(e).__name__}: {e}"}
    end = time.perf_counter()
    if not done:
        return {"status": "failed", "message": "the stream ended without [DONE]"}
    return {"status": "done", "ttft_s": (first or end) - sent, "elapsed_s": end - sent,
            "tokens": usage["completion_tokens"] if usage else tokens, "prompt_tokens": usage and usage["prompt_tokens"],
            "cached_tokens": usage and usage["prompt_tokens_details"]["cached_tokens"]}


def open_descriptors() -> tuple[int, int]:
    """(open file descriptors, of which sockets) of this process (/proc/self/fd on Linux, /dev/fd elsewhere)."""
    folder = "/proc/self/fd" if os.path.isdir("/proc/self/fd") else "/dev/fd"
    fds, sockets = 0, 0
    for name in os.listdir(folder):
        try:
            mode = os.fstat(int(name)).st_mode
        except (OSError, ValueError):  # the descriptor listdir itself used, closed by now
            continue
        fds += 1
        sockets += stat.S_ISSOCK(mode)
    return fds, sockets


def resident_mb() -> float:
    """The process's resident memory now (Linux), else its peak (getrusage: KiB on Linux, bytes on macOS)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def snapshot(session) -> dict:
    """What a leak would show in: threads, descriptors, sockets, MLX memory in use, resident memory.

    The in-memory prompt cache holds KV caches by design: what it held is reported, then it is
    emptied (and MLX's freed buffers released) so that the memory in use is compared without it."""
    import gc

    import mlx.core as mx

    held = session.cache.memory.nbytes
    session.cache.memory.clear()
    gc.collect()
    mx.clear_cache()
    fds, sockets = open_descriptors()
    return {"threads": threading.active_count(), "fds": fds, "sockets": sockets,
            "mlx_active_mb": round(mx.get_active_memory() / 2**20, 1), "prompt_cache_held_mb": round(held / 2**20, 1),
            "rss_mb": round(resident_mb(), 1)}


def leaks(before: dict, after: dict) -> list[str]:
    """What did not come back to where it was (empty when nothing leaked)."""
    found = [f"{key}: {before[key]} before, {after[key]} after" for key in ("threads", "fds", "sockets")
             if after[key] > before[key]]
    if after["mlx_active_mb"] - before["mlx_active_mb"] > MEMORY_SLACK_MB:
        found.append(f"MLX memory in use: {before['mlx_active_mb']} MB before, {after['mlx_active_mb']} MB after")
    return found


def engine_alone(session, max_tokens: int) -> float:
    """Decode tokens per second of one request straight through the session (no HTTP, no queue):
    the yardstick for the aggregate on a machine whose load changes."""
    from app.backend import ReplyDone
    from app.server import translate
    from app.server.schemas import ChatCompletionRequest
    from app.settings import CacheConfig

    body = ChatCompletionRequest(messages=[{"role": "user", "content": "Tell me about the moon."}], temperature=0,
                                 max_tokens=max_tokens)
    request = translate.chat_call(body, CacheConfig(on_disk=False)).generate
    start, tokens = time.perf_counter(), 0
    for item in session.stream(request, lambda: False, lambda _d, _t: None):
        if not isinstance(item, ReplyDone) and item.token is not None:
            tokens += 1
    return tokens / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--requests", type=int, default=2, help="streamed requests per client, one after another")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--deadline", type=float, default=300.0,
                    help="seconds after which no client sends again; streams still open 60 s later are closed")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    import httpx

    from app.backend import EngineBackend
    from app.server.background import BackgroundServer
    from app.server.model_thread import ModelThread
    from app.server.request_log import RequestLog
    from app.server.routes import ServedModel, create_app

    data_dir = tempfile.mkdtemp(prefix="glassbox-load-bench-")  # prompt caches: not the user's data dir
    session = EngineBackend(data_dir).load("default", lambda _p, _what: None)
    served = ServedModel(session, "glassbox-default")
    baseline = engine_alone(session, args.max_tokens)
    thread, log = ModelThread(), RequestLog()
    before = snapshot(session)
    results: list[dict] = []
    probes: list[float] = []
    lock = threading.Lock()
    with BackgroundServer(create_app(served, thread, requests=log)) as server:
        url = server.base_url
        with httpx.Client(timeout=30) as warm:  # one request first: lazy set-up is not the load's
            stream_one(warm, url, "Hello", 4)
        start = time.perf_counter()
        stop_at = start + args.deadline
        hard_stop = stop_at + 60
        finished = threading.Event()

        def client(index: int) -> None:
            with httpx.Client(timeout=httpx.Timeout(10.0, read=args.deadline)) as http:
                for n in range(args.requests):
                    if time.perf_counter() > stop_at:
                        return
                    result = stream_one(http, url, QUESTIONS[(index + n * args.clients) % len(QUESTIONS)],
                                        args.max_tokens, hard_stop)
                    with lock:
                        results.append(result | {"client": index})

        def probe() -> None:
            with httpx.Client(timeout=10) as http:
                while not finished.is_set():
                    t = time.perf_counter()
                    http.get(f"{url}/models").raise_for_status()
                    probes.append(time.perf_counter() - t)
                    finished.wait(0.25)

        prober = threading.Thread(target=probe)
        prober.start()
        clients = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        wall = time.perf_counter() - start
        finished.set()
        prober.join()
    thread.close()
    after = snapshot(session)
    shutil.rmtree(data_dir, ignore_errors=True)
    done = [r for r in results if r["status"] == "done"]
    ttfts = [r["ttft_s"] for r in done]
    tokens = sum(r["tokens"] for r in done)
    report = {
        "clients": args.clients, "requests_per_client": args.requests, "max_tokens": args.max_tokens,
        "requests": len(results), "done": len(done),
        "refused": sum(r["status"] == "refused" for r in results),
        "failed": [r["message"] for r in results if r["status"] == "failed"],
        "cut_at_deadline": sum(r["status"] == "cut" for r in results),
        "wall_s": round(wall, 2), "completion_tokens": tokens, "aggregate_tok_per_s": round(tokens / wall, 2),
        "ttft_p50_s": round(percentile(ttfts, 0.5), 3), "ttft_p95_s": round(percentile(ttfts, 0.95), 3),
        "ttft_min_s": round(min(ttfts, default=float("nan")), 3),
        "engine_alone_tok_per_s": round(baseline, 2),
        "aggregate_vs_engine_alone": round(tokens / wall / baseline, 2) if baseline else None,
        "probe_p50_ms": round(1000 * percentile(probes, 0.5), 1), "probe_p95_ms": round(1000 * percentile(probes, 0.95), 1),
        "probes": len(probes),
        "left_running": log.running, "left_waiting": thread.waiting, "model_busy": thread.busy,
        "before": before, "after": after, "leaks": leaks(before, after),
    }
    clean = (not report["failed"] and not report["left_running"] and not report["left_waiting"]
             and not report["model_busy"] and not report["leaks"])
    report["verdict"] = "clean" if clean else "NOT CLEAN"
    if report["cut_at_deadline"]:  # the bench's own bound: each was cancelled, and nothing leaked
        report["verdict"] += (f"; {report['cut_at_deadline']} of {len(results)} requests cut by --deadline (the engine "
                              f"alone decodes {baseline:.2f} tok/s here now)")
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:26} {value}")
    sys.exit(0 if clean else 1)


if __name__ == "__main__":
    main()
