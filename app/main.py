"""The composition root: parse the command line, build settings, worker, controller and window,
inject the backend (the real engine, or whatever a test passes), run, and shut down cleanly.

This is the one module that knows every layer; import-linter lets only it reach into ui/.
"""

from __future__ import annotations

import argparse
import signal
import sys
from dataclasses import dataclass, replace

from PySide6.QtCore import QTimer

from app import paths
from app.backend import Backend, EngineBackend
from app.controller import ChatController
from app.models import ModelRegistry
from app.settings import Settings, SettingsFile
from app.store import Store
from app.worker import Worker, WorkerThread


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="glassbox", description="A local chat assistant you can see into.")
    parser.add_argument("--data-dir", help="conversations, memories and caches (default: $GLASSBOX_DATA_DIR or the user data dir)")
    parser.add_argument("--config-dir", help="settings (default: $GLASSBOX_CONFIG_DIR or the user config dir)")
    parser.add_argument("--model", help='model to load instead of the saved choice ("default", a GGUF file or a folder)')
    return parser.parse_args(argv)


@dataclass
class Core:
    """Everything below the window: settings on disk, the worker thread and the controller."""

    settings_file: SettingsFile
    worker_thread: WorkerThread
    controller: ChatController
    registry: ModelRegistry
    store: Store

    def start(self) -> None:
        """Begin loading the chosen model in the worker (the window stays usable meanwhile)."""
        self.controller.load_model(self.controller.settings.app.model)

    def shutdown(self) -> None:
        active = self.controller.active_request
        self.controller.close()  # a reply still streaming is saved as far as it got
        self.worker_thread.stop(active)
        self.store.close()


def build_core(args: argparse.Namespace, backend: Backend) -> Core:
    """Settings, store, worker and controller (the latest conversation reopened); needs a Qt
    application object to exist already."""
    store = Store(paths.database_path(args.data_dir))
    settings_file = SettingsFile(paths.config_dir(args.config_dir))
    settings: Settings = settings_file.load()
    if args.model:
        settings = replace(settings, app=replace(settings.app, model=args.model))
    worker_thread = WorkerThread(Worker(backend))
    controller = ChatController(worker_thread.worker, settings, store)
    controller.settings_changed.connect(settings_file.save)
    controller.open_latest()
    return Core(settings_file, worker_thread, controller, ModelRegistry(), store)


def launch(args: argparse.Namespace, backend: Backend, start: bool = True):
    """The Qt application, the core and the shown window; the model starts loading if `start`."""
    from ui.application import create_application, create_window

    qt_app = create_application()
    core = build_core(args, backend)
    window = create_window(core.controller, core.registry)
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
    qt_app, core, window = launch(args, backend or EngineBackend(paths.data_dir(args.data_dir)))
    close_on_signals(window)
    try:
        return qt_app.exec()
    finally:
        core.shutdown()


if __name__ == "__main__":
    sys.exit(main())
