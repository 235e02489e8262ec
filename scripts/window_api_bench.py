"""Benchmark: the same reply through the window and through the API, at the same moment.

Usage: flock /tmp/glassbox-bench.lock .venv/bin/python -m scripts.window_api_bench \
           [--rounds 3] [--max-tokens 60] [--prompt "Write a long story about a cat."] [--inspector]

Starts the real app with its window (offscreen; `QT_QPA_PLATFORM` is set if unset) on a temporary
profile with the default model and the API server on (127.0.0.1, a free port), the way Preferences →
Server runs it: both paths run on the window's one model worker. Then, `--rounds` times, in turn:
the prompt sent through the API (a non-streamed chat completion with the window's system prompt,
the same seed, temperature and max tokens) and the same prompt typed into the window (a new
conversation each time, so no prompt cache helps either). Interleaving gives both the same load on
a shared machine.

Each reply's decoding speed is the engine's own number, computed the same way for both: (tokens −
1) / (time from the first token to the last) — `tokens_per_s` of the window's reply stats and of the
API's request log. Prints one JSON object with every round and the medians; the verdict compares
the medians (the window within 20 % of the API, or not).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import replace

SEED = 1234
TEMPERATURE = 0.7


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(done, timeout_s: float) -> bool:
    """Run the Qt event loop until `done()` is true (or `timeout_s` passes)."""
    from PySide6.QtCore import QCoreApplication, QEventLoop

    end = time.perf_counter() + timeout_s
    while not done():
        if time.perf_counter() > end:
            return False
        QCoreApplication.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        time.sleep(0.005)
    return True


def api_round(core, url: str, body: dict) -> dict:
    """One chat completion through the API: a client on another thread, the window's event loop
    running meanwhile; the engine's numbers from the API's request log."""
    import httpx

    answer: list = []
    started = time.perf_counter()
    thread = threading.Thread(target=lambda: answer.append(httpx.post(url, json=body, timeout=600)))
    thread.start()
    if not wait_until(lambda: not thread.is_alive(), 900) or not answer or answer[0].status_code != 200:
        raise SystemExit(f"the API request failed: {answer[0].text if answer else 'no answer'}")
    wall = time.perf_counter() - started
    served = max(core.api.requests.recent(), key=lambda r: r.id)
    return {"tokens": served.tokens_out, "tokens_per_s": round(served.tokens_per_s, 2),
            "ttft_s": round(served.ttft_s, 3), "wall_s": round(wall, 2)}


def window_round(window, controller, prompt: str) -> dict:
    """The prompt sent in a new conversation as Enter sends it; the reply's own numbers."""
    controller.new_chat()
    finished: list = []
    slot = lambda _index, stats: finished.append(stats)  # noqa: E731
    controller.reply_finished.connect(slot)
    started = time.perf_counter()
    window._send(prompt)
    if not wait_until(lambda: bool(finished), 900):
        raise SystemExit("the window's reply did not finish")
    controller.reply_finished.disconnect(slot)
    wall = time.perf_counter() - started
    stats = finished[0]
    return {"tokens": int(stats.get("generated_tokens", 0)),
            "tokens_per_s": round(float(stats.get("tokens_per_s", float("nan"))), 2),
            "ttft_s": round(float(stats.get("ttft_s") or float("nan")), 3), "wall_s": round(wall, 2)}


def run(rounds: int, max_tokens: int, prompt: str, inspector: bool) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.backend import EngineBackend
    from app.main import parse_args
    from app.settings import Settings, SettingsFile
    from ui.main import launch

    profile = tempfile.mkdtemp(prefix="glassbox-ab-")
    try:
        port = free_port()
        config = os.path.join(profile, "config")
        base = Settings()
        sampling = replace(base.sampling, seed=SEED, temperature=TEMPERATURE)
        app = replace(base.app, max_new_tokens=max_tokens, server_enabled=True, server_port=port,
                      prompt_cache_on_disk=False)
        SettingsFile(config).save(Settings(sampling, app))
        args = parse_args(["--data-dir", os.path.join(profile, "data"), "--config-dir", config])
        _qt, core, window = launch(args, EngineBackend())
        controller = core.controller
        if not wait_until(lambda: controller.model_info is not None, 600):
            raise SystemExit("the default model did not load")
        if inspector:
            window.inspect_current()
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        body = {"model": "default", "seed": SEED, "temperature": TEMPERATURE, "max_tokens": max_tokens,
                "messages": [{"role": "system", "content": app.system_prompt}, {"role": "user", "content": prompt}]}
        results: dict[str, list[dict]] = {"api": [], "window": []}
        for _ in range(rounds):
            results["api"].append(api_round(core, url, body))
            results["window"].append(window_round(window, controller, prompt))
            print(json.dumps({"api": results["api"][-1], "window": results["window"][-1],  # kept if cut short
                              "load_average": os.getloadavg()}), file=sys.stderr, flush=True)
        window.close()
        core.shutdown()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    api = statistics.median(r["tokens_per_s"] for r in results["api"])
    win = statistics.median(r["tokens_per_s"] for r in results["window"])
    return {
        "rounds": results, "median_tokens_per_s_api": api, "median_tokens_per_s_window": win,
        "window_vs_api": round(win / api, 3) if api else None, "load_average": os.getloadavg(),
        "inspector_open": inspector,
        "verdict": "window within 20 % of the API" if api and win >= 0.8 * api else "window more than 20 % slower",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="window vs API decoding speed, interleaved")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=60)
    parser.add_argument("--prompt", default="Write a long story about a cat.")
    parser.add_argument("--inspector", action="store_true", help="with the Inspector open (following)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.rounds, args.max_tokens, args.prompt, args.inspector)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
