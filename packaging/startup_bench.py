"""Start-up time of Glassbox to a usable window (docs/packaging.md):

    flock /tmp/glassbox-bench.lock python packaging/startup_bench.py [--runs 5] [--xvfb] [-- COMMAND ...]

Runs `COMMAND --self-test` (default: the built bundle, dist/Glassbox/Glassbox, or the .app's
executable on macOS) RUNS times. Each run is a new process on an empty data dir with the model
already in the models dir: a first start that downloads nothing. From this process's clock, it
records when the window was shown and when the model was loaded (the window ready for a message),
and, on Linux, the CPU time the app had used by then (user + system, from /proc/PID/stat: on a
shared machine the wall time grows with the load, the CPU time much less). It prints the median
and the fastest run, and the load average before each run.
--xvfb runs each under a fresh Xvfb X server with Qt's xcb platform instead of offscreen.
`-- .venv/bin/python -m ui` measures the source tree the same way.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MARKS = {"shown": "ok  window shown", "ready": "ok  model ", "passed": "self-test passed"}
DEFAULT_COMMAND = "dist/Glassbox.app/Contents/MacOS/Glassbox" if sys.platform == "darwin" else "dist/Glassbox/Glassbox"


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds process `pid` has used so far (Linux), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (fields 14, 15)


@contextmanager
def xvfb_display() -> Iterator[str]:
    """A fresh Xvfb server for one run; yields its DISPLAY (":N"). Xvfb picks the free number."""
    read_end, write_end = os.pipe()
    server = subprocess.Popen([shutil.which("Xvfb") or "Xvfb", "-displayfd", str(write_end), "-screen", "0",
                               "1400x900x24", "-nolisten", "tcp"], pass_fds=(write_end,),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    try:
        with os.fdopen(read_end) as numbers:
            number = numbers.readline().strip()
        if not number:
            raise SystemExit("Xvfb did not start (apt-get install xvfb)")
        yield f":{number}"
    finally:
        server.terminate()
        server.wait()


def one_run(command: list[str], xvfb: bool) -> dict[str, float]:
    """{mark: seconds since the launch} and {mark + "_cpu": CPU seconds used by then} for one start."""
    env = dict(os.environ, QT_QPA_PLATFORM="xcb" if xvfb else "offscreen")
    with xvfb_display() if xvfb else _no_display() as display:
        if display:
            env["DISPLAY"] = display
        started = time.monotonic()
        process = subprocess.Popen([*command, "--self-test"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                   text=True, env=env)
        seen: dict[str, float] = {}
        for line in process.stdout:
            for mark, prefix in MARKS.items():
                if line.startswith(prefix) and mark not in seen:
                    seen[mark] = time.monotonic() - started
                    cpu = cpu_seconds(process.pid)
                    if cpu is not None:
                        seen[f"{mark}_cpu"] = cpu
        if process.wait() != 0 or not set(MARKS) <= set(seen):
            raise SystemExit(f"{' '.join(command)} --self-test failed (exit {process.returncode})")
    return seen


@contextmanager
def _no_display() -> Iterator[str]:
    yield ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--xvfb", action="store_true", help="a real X server (Xvfb) instead of offscreen")
    parser.add_argument("command", nargs="*", default=[DEFAULT_COMMAND])
    args = parser.parse_args()
    runs, loads = [], []
    for _ in range(args.runs):
        loads.append(os.getloadavg()[0])
        runs.append(one_run(args.command, args.xvfb))
    print(f"{' '.join(args.command)} ({'Xvfb' if args.xvfb else 'offscreen'}, {args.runs} runs, "
          f"load average before each: {', '.join(f'{load:.1f}' for load in loads)}; {os.cpu_count()} CPUs):")
    for mark, what in (("shown", "window shown"), ("ready", "model loaded, ready for a message")):
        values = [run[mark] for run in runs]
        line = f"  {what}: median {statistics.median(values):.2f} s, fastest {min(values):.2f} s"
        cpu = [run[f"{mark}_cpu"] for run in runs if f"{mark}_cpu" in run]
        if cpu:
            line += f"; CPU time by then median {statistics.median(cpu):.2f} s"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
