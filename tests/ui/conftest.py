"""Launch the real window the way app/main.py does, with an isolated profile and any backend."""

from __future__ import annotations

from dataclasses import replace

import pytest
from PySide6.QtWidgets import QApplication

from app.backend import EngineBackend
from app.main import build_core, parse_args
from app.settings import Settings, SettingsFile
from tests.ui.driver import LOAD_TIMEOUT_MS, Launched
from ui.application import create_application, create_window


@pytest.fixture
def launch(qtbot, tmp_path):
    """launch(backend=None, profile=tmp_path, **app_settings) -> Launched, model loaded."""
    opened: list[Launched] = []

    def start(backend=None, profile=None, wait_for_model=True, **app_settings):
        profile = profile or tmp_path
        if app_settings:
            file = SettingsFile(profile / "config")
            current = file.load()
            file.save(Settings(current.sampling, replace(current.app, **app_settings)))
        args = parse_args(["--data-dir", str(profile / "data"), "--config-dir", str(profile / "config")])
        create_application()
        core = build_core(args, backend or EngineBackend())
        window = create_window(core.controller, core.registry, core.api, core.places)
        qtbot.addWidget(window)
        launched = Launched(window, core)
        opened.append(launched)
        window.show()
        qtbot.waitExposed(window)
        if wait_for_model:
            with qtbot.waitSignal(core.controller.model_loaded, timeout=LOAD_TIMEOUT_MS):
                core.start()
        return launched

    yield start
    for launched in opened:
        launched.close()


@pytest.fixture
def look():
    """The application, its theme and text size put back after the test."""
    app = QApplication.instance()
    saved = (app.font(), app.palette(), app.styleSheet())
    names = ("glassboxBaseFontPt", "glassboxTheme", "glassboxZoom", "glassboxDark")
    properties = {name: app.property(name) for name in names}
    yield app
    app.setStyleSheet(saved[2])  # as it was: later tests in this process see no look of this one's
    app.setPalette(saved[1])
    app.setFont(saved[0])
    for name, value in properties.items():
        app.setProperty(name, value)
