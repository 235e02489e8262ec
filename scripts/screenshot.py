"""Take docs/screenshot.png: the real window, a real question to the default model, a clicked token.

    python scripts/screenshot.py docs/screenshot.png [--question TEXT] [--dark] [--max-tokens N]
        [--patience SECONDS] [--temperature T] [--width PX]

Runs on a real X display: with no $DISPLAY it starts its own Xvfb (apt package `xvfb`) for the
duration. Settings and data go to a temporary profile, so the user's own are never touched.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTION = "Write a Python function that reverses a string, and explain it briefly."
SEED = 7  # a seeded draw, so the screenshot is the same each time on the same machine


@contextlib.contextmanager
def on_a_display() -> Iterator[None]:
    """Run the block on the display there is, or on an Xvfb started for it and stopped after."""
    xvfb = start_xvfb()
    try:
        yield
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait()


def start_xvfb() -> subprocess.Popen | None:
    """Start Xvfb on a free display number unless a display is already there."""
    if os.environ.get("DISPLAY") or os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        return None
    if not shutil.which("Xvfb"):
        sys.exit("no $DISPLAY and no Xvfb: install xvfb (make screenshot does) or set QT_QPA_PLATFORM=offscreen")
    for number in range(99, 120):
        if not Path(f"/tmp/.X11-unix/X{number}").exists() and not Path(f"/tmp/.X{number}-lock").exists():
            proc = subprocess.Popen(
                ["Xvfb", f":{number}", "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            for _ in range(100):
                if Path(f"/tmp/.X11-unix/X{number}").exists():
                    os.environ["DISPLAY"] = f":{number}"
                    return proc
                time.sleep(0.05)
            proc.kill()
    sys.exit("could not start Xvfb")


def wait(signal, timeout_s: float) -> list:
    """Run the event loop until `signal` fires; return its arguments."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    got: list = []

    def done(*args):
        got.extend(args)
        loop.quit()

    signal.connect(done)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec()
    signal.disconnect(done)
    return got


def pump(seconds: float) -> None:
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


def take(out: Path, question: str, dark: bool, max_tokens: int | None = None, patience: float = 300,
         temperature: float | None = None, width: int | None = None) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from app.backend import EngineBackend
    from app.main import parse_args
    from app.settings import Settings, SettingsFile
    from ui.main import launch

    profile = tempfile.mkdtemp(prefix="glassbox-shot-")
    base = Settings()
    app_settings = base.app if max_tokens is None else replace(base.app, max_new_tokens=max_tokens)
    sampling = replace(base.sampling, seed=SEED)
    if temperature is not None:
        sampling = replace(sampling, temperature=temperature)
    SettingsFile(f"{profile}/config").save(replace(base, sampling=sampling, app=app_settings))
    args = parse_args(["--data-dir", f"{profile}/data", "--config-dir", f"{profile}/config"])
    qt_app, core, window = launch(args, EngineBackend())
    if dark:
        from ui.theme import set_palette

        set_palette(qt_app, dark=True)
    if core.controller.model_info is None and not wait(core.controller.model_loaded, 120):
        sys.exit("the default model did not load")
    if width:
        window.resize(width, window.height())
        pump(0.3)
    box = window.composer.box
    box.setPlainText(question)  # QTest.keyClicks handles ASCII only (an emoji aborts it)
    QTest.keyClick(box, Qt.Key.Key_Return)
    if not wait(core.controller.reply_finished, patience):
        sys.exit(f"no reply within {patience:.0f} s")
    pump(0.3)
    view = window.transcript.views[-1]
    # click a token the model was unsure about, so the panel shows an interesting step
    tokens = view.message.tokens
    shown = [i for i in range(len(tokens)) if view.text.token_span(i) is not None]  # "```" shows nothing
    candidates = [i for i in shown[:60] if tokens[i].text.strip() and tokens[i].logprob < -0.7]
    index = candidates[0] if candidates else shown[min(5, len(shown) - 1)] if shown else 0
    point = view.text.token_point(index)
    if point is None:
        sys.exit("could not find a token to click")
    QTest.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    window.transcript.verticalScrollBar().setValue(0)
    pump(0.5)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        sys.exit(f"could not write {out}")
    print(f"wrote {out} ({window.width()}x{window.height()})")
    window.close()
    core.shutdown()
    shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--dark", action="store_true", help="use the dark palette")
    parser.add_argument("--max-tokens", type=int, help="the reply's token limit (default: the app's)")
    parser.add_argument("--patience", type=float, default=300, help="seconds to wait for the reply")
    parser.add_argument("--temperature", type=float, help="sampling temperature (0: greedy; default: the app's)")
    parser.add_argument("--width", type=int, help="the window's width in px (default: the app's)")
    args = parser.parse_args()
    with on_a_display():
        take(args.out, args.question, args.dark, args.max_tokens, args.patience, args.temperature, args.width)


if __name__ == "__main__":
    main()
