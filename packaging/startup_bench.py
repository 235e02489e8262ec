"""Start-up time of Glassbox to a usable window (docs/packaging.md):

    flock /tmp/glassbox-bench.lock python packaging/startup_bench.py [--runs 5] [--xvfb] [-- COMMAND ...]

Runs `COMMAND --self-test` (default: the built bundle, dist/Glassbox/Glassbox) RUNS times. Each run
is a new process on an empty data dir with the model already in the models dir: a first start that
downloads nothing. From this process's clock, it records when the window was shown and when the
model was loaded (the window ready for a message), and prints the median and the fastest run.
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
from pathlib import Path

MARKS = {"shown": "ok  window shown", "ready": "ok  model ", "passed": "self-test passed"}


def one_run(command: list[str], xvfb: bool) -> dict[str, float]:
    env = dict(os.environ, QT_QPA_PLATFORM="xcb" if xvfb else "offscreen")
    if xvfb:
        command = [shutil.which("xvfb-run") or "xvfb-run", "-a", "-s", "-screen 0 1280x900x24", *command]
    started = time.monotonic()
    process = subprocess.Popen([*command, "--self-test"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True, env=env)
    seen: dict[str, float] = {}
    for line in process.stdout:
        for mark, prefix in MARKS.items():
            if line.startswith(prefix) and mark not in seen:
                seen[mark] = time.monotonic() - started
    if process.wait() != 0 or set(seen) != set(MARKS):
        raise SystemExit(f"{' '.join(command)} --self-test failed (exit {process.returncode})")
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--xvfb", action="store_true", help="a real X server (Xvfb) instead of offscreen")
    parser.add_argument("command", nargs="*", default=[str(Path("dist/Glassbox/Glassbox"))])
    args = parser.parse_args()
    runs = [one_run(args.command, args.xvfb) for _ in range(args.runs)]
    print(f"{' '.join(args.command)} ({'Xvfb' if args.xvfb else 'offscreen'}, {args.runs} runs, "
          f"load average {os.getloadavg()[0]:.1f}):")
    for mark, what in (("shown", "window shown"), ("ready", "model loaded, ready for a message")):
        values = [run[mark] for run in runs]
        print(f"  {what}: median {statistics.median(values):.2f} s, fastest {min(values):.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
