"""The window's own thread, at work while a reply streams: CPU milliseconds per token batch, by job.

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/gui_work_profile.py --model fake --tokens 200
    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/gui_work_profile.py --model default --tokens 200
    ... --cprofile 30   # instead: the GUI thread's 30 costliest functions (cProfile, own time)

A wall-clock stall probe (`ui.stallbench`) measures gaps in the event loop, which on a shared
2-core machine are mostly the scheduler's. This measures work instead: the GUI thread's CPU time
(`time.thread_time`), which other processes and the worker thread barely move. It starts the real
app and window (offscreen, a temporary profile), sends `--replies` prompts, each in a new
conversation, and times every call of the GUI thread's jobs:

- store: the SQLite writes and reads (`Database.transaction`, `Database.query`): the user's message,
  the reply's start and end, the conversation list; store chunks: the streamed reply's tokens
  (`Store.append_partial`, a commit about once a second);
- replies: the worker's token batch arriving (`Replies._on_tokens`: the message, the recorder)
  without the jobs it calls;
- transcript: re-rendering the reply (`MessageView.refresh`: Markdown, tint, token map), the
  transcript's scheduling, and the reply text's resize and paint events;
- status bar: its numbers and their fitting (`StatusBar.show_stats`, `show_prefill`, `fit`);
- panel: the next-token panel following the newest token (`MainWindow._on_reply_rendered`, once
  per render of the reply: the transcript renders at most RENDER_SHARE of the time, so cheaper
  renders come more often, and "transcript ms/render" is the cost of one);
- inspector: the Inspector's bookkeeping per batch (`InspectorService._on_reply_tokens`, `_keep_measured`);
- other: the rest of the thread's CPU (Qt's event dispatch, layouts, painting outside the reply).

A job's time is its own: a job called inside another is subtracted from the outer one. The
longest CPU bursts are the GUI thread's CPU between two ticks of a 5 ms timer (`CpuBursts`): the
longest stretches of work the window could not answer in, from sending to the reply's end. Prints one
JSON object per reply and the per-batch summary (median over replies) as a table. `--model fake`:
the tests' FakeBackend with a scripted Markdown reply (headings, a list, bold, code) paced at
`--rate` tokens/s, so the numbers do not depend on what a model happens to write; `--model default`
(or any model spec): the engine, greedy, so a run before and after a change streams the same reply.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository root

JOBS = ("store", "store chunks", "replies", "transcript", "status bar", "panel", "inspector")


def scripted_reply(tokens: int) -> list[str]:
    """A Markdown reply of `tokens` tokens (words with their leading space, line breaks their own)."""
    section = (
        "## Step {n}: the dough\n\nMix the **flour** and the water, then let it rest for *twenty* minutes. "
        "The gluten forms while it rests, so the dough gets easier to knead.\n\n"
        "- weigh 500 g of flour\n- add 350 g of water\n- a pinch of `salt`\n\n"
        "```python\nloaf = bake(dough, minutes={n}0)\n```\n\n"
    )
    words: list[str] = []
    n = 1
    while len(words) < tokens:
        for line in section.format(n=n).split(" "):
            words.append(line if not words else " " + line)
        n += 1
    return words[:tokens]


class PacedBackend:
    """The tests' FakeBackend, its tokens paced at `rate` per second like a model decoding."""

    def __init__(self, tokens: int, rate: float):
        from tests.app.fakes import FakeBackend, FakeSession

        pause = 1.0 / rate

        class PacedSession(FakeSession):
            def stream(self, request, should_stop, progress):
                for item in super().stream(request, should_stop, progress):
                    time.sleep(pause)
                    yield item

        self._backend = FakeBackend(scripted_reply(tokens), session=PacedSession)

    def load(self, spec, report):
        return self._backend.load(spec, report)


class Jobs:
    """CPU time of the GUI thread per job, each job's own (nested jobs subtracted)."""

    def __init__(self):
        self.own: dict[str, list[float]] = {job: [] for job in JOBS}  # CPU seconds per call
        self.wall: dict[str, list[float]] = {job: [] for job in JOBS}  # wall seconds per call (I/O waits too)
        self._stack: list[list] = []  # per open call: [job, child CPU seconds, child wall seconds]
        self.on = False

    def wrap(self, owner, name: str, job: str) -> None:
        original = getattr(owner, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            if not self.on:
                return original(*args, **kwargs)
            with self.timing(job):
                return original(*args, **kwargs)

        setattr(owner, name, timed)

    def wrap_context(self, owner, name: str, job: str) -> None:
        """Time the whole with-block of a context-manager method (a transaction)."""
        original = getattr(owner, name)

        @functools.wraps(original)
        @contextmanager
        def timed(*args, **kwargs):
            if not self.on:
                with original(*args, **kwargs) as value:
                    yield value
                return
            with self.timing(job), original(*args, **kwargs) as value:
                yield value

        setattr(owner, name, timed)

    @contextmanager
    def timing(self, job: str):
        if job == "store" and self._stack and self._stack[-1][0] == "store chunks":
            yield  # the chunk's own transaction: counted as the chunk's
            return
        start, wall = time.thread_time(), time.perf_counter()
        self._stack.append([job, 0.0, 0.0])
        try:
            yield
        finally:
            _job, children, children_wall = self._stack.pop()
            spent, spent_wall = time.thread_time() - start, time.perf_counter() - wall
            self.own[job].append(spent - children)
            self.wall[job].append(spent_wall - children_wall)
            if self._stack:
                self._stack[-1][1] += spent
                self._stack[-1][2] += spent_wall

    def reset(self) -> None:
        for calls in (*self.own.values(), *self.wall.values()):
            calls.clear()


def install(jobs: Jobs) -> None:
    """Wrap the GUI thread's jobs (before the app is built, so every connection gets the wrapper)."""
    from app.inspector import InspectorService
    from app.replies import Replies
    from app.store import Store
    from app.store.database import Database
    from ui.main_window import MainWindow
    from ui.message_view import MessageView
    from ui.status_bar import StatusBar
    from ui.token_text import TokenText
    from ui.transcript import Transcript

    jobs.wrap_context(Database, "transaction", "store")
    for owner, names, job in [
        (Database, ("query",), "store"),
        (Store, ("append_partial",), "store chunks"),
        (Replies, ("_on_tokens",), "replies"),
        (Transcript, ("_schedule", "_render_dirty", "_refresh"), "transcript"),
        (MessageView, ("refresh", "resizeEvent"), "transcript"),
        (TokenText, ("resizeEvent", "paintEvent"), "transcript"),
        (StatusBar, ("show_stats", "show_prefill", "fit"), "status bar"),
        (MainWindow, ("_on_reply_rendered",), "panel"),
        (InspectorService, ("_on_reply_tokens", "_keep_measured"), "inspector"),
    ]:
        for name in names:
            jobs.wrap(owner, name, job)


class CpuBursts:
    """The GUI thread's CPU between two ticks of a 5 ms timer: a tick fires only when the event
    loop is free, so the largest of these is the longest stretch of work the window could not
    answer in, counted in CPU time (the scheduler's share of a wall-clock stall left out)."""

    def __init__(self):
        from PySide6.QtCore import QTimer

        self.bursts: list[float] = []
        self._last = time.thread_time()
        self._timer = QTimer()
        self._timer.setInterval(5)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self.bursts.clear()
        self._last = time.thread_time()
        self._timer.start()

    def stop(self) -> None:
        self._tick()
        self._timer.stop()

    def _tick(self) -> None:
        now = time.thread_time()
        self.bursts.append(now - self._last)
        self._last = now


def settle(ms: int) -> None:
    """Run the event loop for `ms` (what a reply's end posted: layouts, paints)."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(ms, loop.quit)
    loop.exec()


def one_reply(controller, jobs: Jobs, prompt: str, profiler: cProfile.Profile | None) -> dict:
    """Send `prompt` in a new conversation; the GUI thread's work until the reply has ended."""
    from ui.stallbench import wait_for

    batches: list[int] = []
    count = lambda _index, records: batches.append(len(records))  # noqa: E731
    controller.reply_tokens.connect(count)
    controller.new_chat()
    settle(300)
    jobs.reset()
    jobs.on = True
    if profiler is not None:
        profiler.enable()
    bursts = CpuBursts()
    bursts.start()
    cpu, wall = time.thread_time(), time.perf_counter()
    controller.send(prompt)
    if not wait_for(controller.reply_finished, 900):
        raise SystemExit("no reply within 15 minutes")
    settle(200)
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    bursts.stop()
    longest = sorted(bursts.bursts, reverse=True)
    if profiler is not None:
        profiler.disable()
    jobs.on = False
    controller.reply_tokens.disconnect(count)
    tokens = len(controller.conversation.messages[-1].tokens)
    own = {job: sum(calls) for job, calls in jobs.own.items()}
    n = max(1, len(batches))
    ms = lambda seconds: round(seconds * 1000, 3)  # noqa: E731
    return {
        "tokens": tokens,
        "batches": len(batches),
        "wall_s": round(wall, 2),
        "gui_cpu_ms": ms(cpu),
        "gui_cpu_ms_per_batch": ms(cpu / n),
        "per_batch_ms": {job: ms(s / n) for job, s in own.items()} | {"other": ms((cpu - sum(own.values())) / n)},
        "per_reply_ms": {job: ms(s) for job, s in own.items()} | {"other": ms(cpu - sum(own.values()))},
        "longest_call_ms": {job: ms(max(calls, default=0.0)) for job, calls in jobs.own.items()},
        "wall_per_reply_ms": {job: ms(sum(calls)) for job, calls in jobs.wall.items()},
        "longest_call_wall_ms": {job: ms(max(calls, default=0.0)) for job, calls in jobs.wall.items()},
        "calls": {job: len(calls) for job, calls in jobs.own.items()},
        "longest_cpu_bursts_ms": [ms(b) for b in longest[:5]],  # sending and the reply's end included
        "cpu_bursts_over_16_ms": sum(b > 0.016 for b in longest),
        "renders": len(jobs.own["panel"]),  # the panel follows each render of the reply
        "transcript_ms_per_render": ms(own["transcript"] / max(1, len(jobs.own["panel"]))),
    }


def run(model: str, tokens: int, replies: int, rate: float, cprofile_top: int) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from app.main import parse_args
    from app.settings import Settings, SettingsFile
    from ui.main import launch
    from ui.stallbench import PROMPTS, wait_for

    jobs = Jobs()
    install(jobs)
    if model == "fake":
        backend = PacedBackend(tokens, rate)
    else:
        from app.backend import EngineBackend

        backend = EngineBackend()
    profile = tempfile.mkdtemp(prefix="glassbox-guiwork-")
    config = os.path.join(profile, "config")
    base = Settings()
    SettingsFile(config).save(replace(
        base, sampling=replace(base.sampling, temperature=0.0, seed=1234),  # greedy: the same reply each run
        app=replace(base.app, max_new_tokens=tokens, model="default" if model == "fake" else model)))
    args = parse_args(["--data-dir", os.path.join(profile, "data"), "--config-dir", config])
    _app, core, window = launch(args, backend, start=False)
    controller = core.controller
    core.start()
    if controller.model_info is None and not wait_for(controller.model_loaded, 300):
        raise SystemExit("the model did not load")
    settle(500)
    profiler = cProfile.Profile(time.thread_time) if cprofile_top else None  # the GUI thread's CPU
    results = [one_reply(controller, jobs, PROMPTS[i % len(PROMPTS)], profiler) for i in range(replies)]
    window.close()
    core.shutdown()
    summary = {
        "model": model, "replies": results,
        "median_per_batch_ms": {k: round(statistics.median(r["per_batch_ms"][k] for r in results), 3)
                                for k in results[0]["per_batch_ms"]},
        "median_gui_cpu_ms_per_batch": round(statistics.median(r["gui_cpu_ms_per_batch"] for r in results), 3),
        "median_longest_cpu_burst_ms": round(statistics.median(r["longest_cpu_bursts_ms"][0] for r in results), 3),
        "median_transcript_ms_per_render": round(statistics.median(r["transcript_ms_per_render"] for r in results), 3),
        "load_average": os.getloadavg(),
    }
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(cprofile_top)
        summary["cprofile"] = out.getvalue()
    return summary


def table(summary: dict) -> str:
    rows = ["| reply | tokens | batches | renders | GUI CPU ms/batch | " + " | ".join(JOBS)
            + " | other | transcript ms/render | longest CPU bursts ms |",
            "|---|---:|---:|---:|---:|" + "---:|" * (len(JOBS) + 2) + "---|"]
    for i, r in enumerate(summary["replies"], 1):
        per = r["per_batch_ms"]
        rows.append(f"| {i} | {r['tokens']} | {r['batches']} | {r['renders']} | {r['gui_cpu_ms_per_batch']:.2f} | "
                    + " | ".join(f"{per[j]:.2f}" for j in (*JOBS, "other"))
                    + f" | {r['transcript_ms_per_render']:.2f} | "
                    + ", ".join(f"{b:.0f}" for b in r["longest_cpu_bursts_ms"][:3]) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="GUI-thread CPU per streamed token batch, by job")
    parser.add_argument("--model", default="fake", help="fake (scripted, paced) or a model spec (default: fake)")
    parser.add_argument("--tokens", type=int, default=200, help="tokens per reply (default 200)")
    parser.add_argument("--replies", type=int, default=3, help="replies, each in a new conversation (default 3)")
    parser.add_argument("--rate", type=float, default=30.0, help="fake model's tokens per second (default 30)")
    parser.add_argument("--cprofile", type=int, default=0, metavar="N",
                        help="also profile the GUI thread with cProfile and print its N costliest functions")
    args = parser.parse_args(argv)
    summary = run(args.model, args.tokens, args.replies, args.rate, args.cprofile)
    text = summary.pop("cprofile", None)
    print(json.dumps(summary))
    print(table(summary), file=sys.stderr)
    if text:
        print(text, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
