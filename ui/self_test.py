"""`glassbox --self-test`: does this installation work, end to end, on this machine?

What a first start does, in a temporary data and config dir (the models dir is the real one, so an
installed model is used and nothing is downloaded twice; a missing one is downloaded as on a
first start):

1. one MLX computation on the default device, its value checked (a GPU whose Metal library cannot
   be loaded fails here, before anything else);
2. the main window opens (offscreen, so no display is needed, unless QT_QPA_PLATFORM names
   another platform) and the app's own worker loads the default model;
3. a short greedy reply (a few tokens) through the controller, as the message box sends one;
4. the window closes and the app shuts down as when the user closes it;
5. the conversation is read back from the database file: the stored reply is the reply shown.

Prints a line per step and exits 0, or 1 with `self-test failed: <step>: <reason>` (one line, on
stderr). `make package-test` runs it in the built bundle; tests/ui/test_self_test.py on the sources.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

QUESTION = "Say hello in three words."
MAX_TOKENS = 6
LOAD_TIMEOUT_S = 600.0  # a first start may download the model (98 MB)
REPLY_TIMEOUT_S = 120.0


class StepFailed(Exception):
    def __init__(self, step: str, reason: str):
        super().__init__(f"{step}: {reason}")
        self.step, self.reason = step, reason


@contextmanager
def step(name: str) -> Iterator[None]:
    """Turn anything raised inside into StepFailed naming the step (KeyboardInterrupt aside)."""
    try:
        yield
    except StepFailed:
        raise
    except Exception as e:
        raise StepFailed(name, f"{type(e).__name__}: {e}") from e


def say(line: str) -> None:
    print(line, flush=True)  # at once, also into a pipe (a bundle ignores PYTHONUNBUFFERED)


def run(out: Callable[[str], None] = say) -> int:
    """Run the self-test; returns the exit code (0 passed, 1 failed)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before the QApplication exists; xcb etc. if asked
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="glassbox-self-test-") as profile:
            _run_steps(Path(profile), out)
    except StepFailed as e:
        print(f"self-test failed: {e.step}: {' '.join(e.reason.split())}", file=sys.stderr, flush=True)
        return 1
    out(f"self-test passed in {time.monotonic() - started:.1f} s")
    return 0


def _run_steps(profile: Path, out: Callable[[str], None]) -> None:
    from app.version import VERSION

    out(f"glassbox {VERSION}, Python {sys.version.split()[0]}, {'bundled' if getattr(sys, 'frozen', False) else 'from source'}")
    with step("MLX"):
        from engine import native
        from engine.runtime import check_device, versions

        device = check_device()
        kernels = "Glassbox's CPU kernels in use" if native.available() else native.advice() or "no CPU kernels"
    out(f"ok  MLX {versions()['mlx']}: a matrix product on {device}; {kernels}")

    with step("window"):
        qt_app, core, window = _open_window(profile)
        qt_app.processEvents()  # laid out and painted
        if not window.isVisible():
            raise StepFailed("window", "the main window is not shown")
    out(f"ok  window shown ({window.width()}x{window.height()}, {qt_app.platformName()})")
    try:
        controller = core.controller
        with step("model"):
            if controller.model_info is None:
                loaded = _wait(controller.model_loaded, controller.model_failed, LOAD_TIMEOUT_S)
                if loaded is None:
                    raise StepFailed("model", f"not loaded within {LOAD_TIMEOUT_S:.0f} s")
                if loaded[0] == "failed":
                    raise StepFailed("model", str(loaded[1][0]))
        out(f"ok  model {controller.model_info.get('name', '?')} loaded: the window is ready for a message")

        with step("reply"):
            if not controller.send(QUESTION):
                raise StepFailed("reply", "the controller did not accept the message")
            finished = _wait(controller.reply_finished, controller.reply_failed, REPLY_TIMEOUT_S)
            if finished is None:
                raise StepFailed("reply", f"no reply within {REPLY_TIMEOUT_S:.0f} s")
            index = finished[1][0]
            reply = controller.message(index)
            if finished[0] == "failed":
                raise StepFailed("reply", str(finished[1][1]))
            if not reply.tokens:
                raise StepFailed("reply", "the model generated no token")
            shown, conversation_id = reply.text, controller.conversation_id
        out(f"ok  reply of {len(reply.tokens)} tokens ({reply.finish_reason}): {shown!r}")
    finally:
        with step("close"):
            window.close()
            core.shutdown()
            qt_app.processEvents()
    if window.isVisible():
        raise StepFailed("close", "the main window is still shown after closing it")
    out("ok  window closed, app shut down")

    with step("database"):
        from app.self_test import stored_reply

        stored = stored_reply(profile / "data", conversation_id)
        if stored != shown:
            raise StepFailed("database", f"the stored reply {stored!r} is not the reply shown {shown!r}")
    out(f"ok  database {profile / 'data' / 'glassbox.db'}: the reply read back as shown")


def _open_window(profile: Path):
    """The app as ui/main.py starts it, on `profile`'s data and config dirs, with a short greedy
    reply configured; the model starts loading."""
    from app.backend import EngineBackend
    from app.main import parse_args
    from app.settings import Settings, SettingsFile
    from ui.main import launch

    base = Settings()
    SettingsFile(profile / "config").save(replace(
        base, sampling=replace(base.sampling, temperature=0.0),
        app=replace(base.app, max_new_tokens=MAX_TOKENS, model="default"),
    ))
    args = parse_args(["--data-dir", str(profile / "data"), "--config-dir", str(profile / "config")])
    return launch(args, EngineBackend(profile / "data"))


def _wait(succeeded, failed, timeout_s: float) -> tuple[str, tuple] | None:
    """Run the event loop until `succeeded` or `failed` is emitted: ("ok" | "failed", its
    arguments), or None after `timeout_s`."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    result: list[tuple[str, tuple]] = []

    def on_ok(*args):
        result.append(("ok", args))
        loop.quit()

    def on_failed(*args):
        result.append(("failed", args))
        loop.quit()

    succeeded.connect(on_ok)
    failed.connect(on_failed)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    try:
        loop.exec()
    finally:
        succeeded.disconnect(on_ok)
        failed.disconnect(on_failed)
    return result[0] if result else None
