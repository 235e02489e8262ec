"""Event-loop stall benchmark: how long the GUI thread goes without running its event loop.

    QT_QPA_PLATFORM=offscreen python -m ui.stallbench [--tokens 200] [--json-only]

Starts the real app (window included, offscreen) on a temporary profile with the default model.
A QTimer ticks every 10 ms on the GUI thread; the longest gap between ticks is the worst stall a
user would feel. Measured while the model loads and while replies stream (~`--tokens` tokens in
all), then while a reply streams with the Inspector open following the newest token (each new
token is inspected in the worker between two decoding steps and every view redrawn). Prints one
JSON object: {"max_stall_ms_load", "max_stall_ms_generate", "p99_ms", "max_stall_ms_inspector",
...}. Target: under 100 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace

from PySide6.QtCore import QEventLoop, QObject, QTimer

PROBE_MS = 10
PROMPTS = [
    "Write a long, detailed story about a lighthouse keeper who finds a map in a bottle.",
    "Explain in detail how bread is made, step by step, from flour to loaf.",
    "Describe a walk through a busy market in a city you imagine, with many details.",
]


class StallProbe(QObject):
    """Records the gaps between the ticks of a 10 ms timer, per named phase."""

    def __init__(self):
        super().__init__()
        self.phase = "idle"
        self.gaps: dict[str, list[float]] = {}
        self._last = time.perf_counter()
        self._timer = QTimer(self)
        self._timer.setInterval(PROBE_MS)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last = time.perf_counter()
        self._timer.start()

    def set_phase(self, phase: str) -> None:
        self._tick()
        self.phase = phase

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.setdefault(self.phase, []).append((now - self._last) * 1000)
        self._last = now


def wait_for(signal, timeout_s: float) -> bool:
    loop = QEventLoop()
    fired = []
    signal.connect(lambda *args: (fired.append(args), loop.quit()))
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    return bool(fired)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def run(tokens: int) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.backend import EngineBackend
    from app.main import parse_args
    from app.settings import Settings, SettingsFile
    from ui.main import launch

    profile = tempfile.mkdtemp(prefix="glassbox-stall-")
    config = os.path.join(profile, "config")
    base = Settings()
    SettingsFile(config).save(replace(base, app=replace(base.app, max_new_tokens=tokens)))
    args = parse_args(["--data-dir", os.path.join(profile, "data"), "--config-dir", config])

    _app, core, window = launch(args, EngineBackend(), start=False)
    controller = core.controller
    probe = StallProbe()  # needs the application's event loop, so after launch()
    probe.start()
    probe.set_phase("load")
    core.start()
    if controller.model_info is None and not wait_for(controller.model_loaded, 300):
        raise SystemExit("the default model did not load")
    probe.set_phase("idle")

    generated, started = 0, time.perf_counter()
    for prompt in PROMPTS * 4:
        if generated >= tokens:
            break
        probe.set_phase("generate")
        controller.send(prompt)
        if not wait_for(controller.reply_finished, 600):
            raise SystemExit("no reply within 10 minutes")
        probe.set_phase("idle")
        generated += len(controller.conversation.messages[-1].tokens)
        controller.new_chat()
    elapsed = time.perf_counter() - started

    inspections = inspect_while_streaming(window, controller, probe, tokens)
    window.close()
    core.shutdown()
    load, gen = probe.gaps.get("load", [0.0]), probe.gaps.get("generate", [0.0])
    return {
        "max_stall_ms_load": round(max(load), 1),
        "max_stall_ms_generate": round(max(gen), 1),
        "p99_ms": round(percentile(gen, 0.99), 1),
        "median_ms": round(percentile(gen, 0.5), 1),
        "probe_interval_ms": PROBE_MS,
        "tokens_generated": generated,
        "tokens_per_s": round(generated / elapsed, 1) if elapsed else 0.0,
        "target_ms": 100,
    } | inspections


def inspect_while_streaming(window, controller, probe: StallProbe, tokens: int) -> dict:
    """One reply of up to `tokens` tokens with the Inspector open on its attention view, following."""
    dock = window.inspector
    shown = []
    dock.inspector.service.step_ready.connect(lambda report: shown.append(report["token_index"]))
    dock.show()
    dock.inspector.select_step("6 ·")
    dock.inspector.follow_box.setChecked(True)
    probe.set_phase("inspector")
    controller.send(PROMPTS[0])
    if not wait_for(controller.reply_finished, 900):
        raise SystemExit("no reply within 15 minutes")
    probe.set_phase("idle")
    gaps = probe.gaps.get("inspector", [0.0])
    return {
        "max_stall_ms_inspector": round(max(gaps), 1),
        "p99_ms_inspector": round(percentile(gaps, 0.99), 1),
        "inspected_steps": len(shown),
        "tokens_inspector": len(controller.conversation.messages[-1].tokens),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="GUI event-loop stall benchmark")
    parser.add_argument("--tokens", type=int, default=200, help="tokens to stream in all (default 200)")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.tokens)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
