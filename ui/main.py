"""The composition root: the application core (app/main.py) with the window on top; run, and shut
down cleanly. `python -m ui` and the `glassbox` script start here (what `make run` does)."""

from __future__ import annotations

import argparse
import signal
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QMessageBox

from app import paths
from app.backend import Backend, EngineBackend
from app.instance_lock import AlreadyRunning, InstanceLock
from app.main import build_core, parse_args
from ui.application import create_application, create_window


def launch(args: argparse.Namespace, backend: Backend, start: bool = True):
    """The Qt application, the core and the shown window; the model starts loading if `start`."""
    qt_app = create_application()
    core = build_core(args, backend)
    window = create_window(core.controller, core.registry, core.api, core.places)
    if core.settings_file.notice:
        window.notice.show_warning(core.settings_file.notice)  # the defaults are used: the app works
    window.show()
    if start:
        core.start()
    return qt_app, core, window


def close_on_signals(window) -> QTimer:
    """Ctrl+C or SIGTERM closes the window like the user would (settings and geometry are saved).

    Python runs signal handlers only between bytecodes, so a timer lets it look in regularly
    while Qt's event loop runs.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _signum, _frame: window.close())
    timer = QTimer(window)
    timer.timeout.connect(lambda: None)
    timer.start(200)
    return timer


def main(argv: list[str] | None = None, backend: Backend | None = None) -> int:
    """Run the desktop app; returns the exit code."""
    args = parse_args(argv if argv is not None else sys.argv[1:])
    if args.self_test:
        from ui import self_test

        return self_test.run()
    lock = InstanceLock([paths.data_dir(args.data_dir), paths.config_dir(args.config_dir)])
    try:
        lock.acquire()
    except AlreadyRunning as e:  # said on the terminal and in a dialog (a launch from the desktop has no terminal)
        print(f"glassbox: {e}", file=sys.stderr)
        create_application()
        QMessageBox.warning(None, "Glassbox is already running", str(e))
        return 1
    try:
        qt_app, core, window = launch(args, backend or EngineBackend(paths.data_dir(args.data_dir)))
        close_on_signals(window)
        try:
            return qt_app.exec()
        finally:
            core.shutdown()
    finally:
        lock.release()


if __name__ == "__main__":
    sys.exit(main())
