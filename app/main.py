"""The application core's composition: parse the command line, build settings, store, worker and
controller, and inject the backend (the real engine, or whatever a test passes).

The window is added on top by ui/main.py (`python -m ui`, the `glassbox` script): data flows
ui -> app -> engine, so nothing here knows a widget exists.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace

from app import paths
from app.about import Places
from app.api_service import ApiService
from app.backend import Backend
from app.controller import ChatController
from app.models import ModelRegistry
from app.settings import Settings, SettingsFile
from app.store import Store
from app.version import VERSION
from app.worker import Worker, WorkerThread
from engine import default_model


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="glassbox", description="A local chat assistant you can see into.",
        epilog="glassbox serve --help: the OpenAI-compatible API with no window (the same server as "
        "Preferences → Server).")
    parser.add_argument("--data-dir", help="conversations, memories and caches (default: $GLASSBOX_DATA_DIR or the user data dir)")
    parser.add_argument("--config-dir", help="settings (default: $GLASSBOX_CONFIG_DIR or the user config dir)")
    parser.add_argument("--version", action="version", version=f"glassbox {VERSION}")
    parser.add_argument("--model", help='model to load instead of the saved choice ("default", a GGUF file or a folder)')
    parser.add_argument("--self-test", action="store_true",
                        help="check this installation end to end (model, a short reply, the window offscreen, "
                        "the database in a temporary dir, MLX on its device) and exit: 0 when it works")
    return parser.parse_args(argv)


@dataclass
class Core:
    """Everything below the window: settings on disk, the worker thread and the controller."""

    settings_file: SettingsFile
    worker_thread: WorkerThread
    controller: ChatController
    registry: ModelRegistry
    store: Store
    api: ApiService  # the OpenAI-compatible API on the same worker, when Preferences turn it on
    places: Places  # the data, config and models folders (Help → About opens them)

    def start(self) -> None:
        """Begin loading the chosen model in the worker (the window stays usable meanwhile), and
        start the API if it is turned on (its requests wait for the model)."""
        self.controller.load_model(self.controller.settings.app.model)
        self.api.apply(self.controller.settings.app)

    def shutdown(self) -> None:
        active = self.controller.active_request
        self.api.stop()
        self.controller.close()  # a reply still streaming is saved as far as it got
        self.worker_thread.stop(active)
        self.store.close()


def build_core(args: argparse.Namespace, backend: Backend) -> Core:
    """Settings, store, worker and controller (the conversation left on screen reopened); needs a Qt
    application object to exist already."""
    store = Store(paths.database_path(args.data_dir))
    settings_file = SettingsFile(paths.config_dir(args.config_dir))
    settings: Settings = settings_file.load()
    if args.model:
        settings = replace(settings, app=replace(settings.app, model=args.model))
    worker_thread = WorkerThread(Worker(backend))
    controller = ChatController(worker_thread.worker, settings, store)
    controller.settings_changed.connect(settings_file.save)
    controller.reopen()  # the conversation on screen when Glassbox last closed
    api = ApiService(worker_thread.worker)
    controller.settings_changed.connect(lambda changed: api.apply(changed.app))
    controller.model_loaded.connect(api.set_model)
    places = Places(data=paths.data_dir(args.data_dir), config=settings_file.path.parent, models=default_model.models_dir())
    return Core(settings_file, worker_thread, controller, ModelRegistry(), store, api, places)
