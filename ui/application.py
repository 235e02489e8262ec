"""The Qt application object and the main window, as the composition root (ui/main.py) asks."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QApplication

from app.about import Places
from app.api_service import ApiService
from app.controller import ChatController
from app.models import ModelRegistry
from ui.main_window import MainWindow
from ui.theme import apply_theme


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (reused if one exists, as under pytest-qt), themed."""
    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("Glassbox")
    app.setApplicationDisplayName("Glassbox")
    app.setOrganizationName("Glassbox")
    app.setDesktopFileName("glassbox")
    apply_theme(app)
    return app


def create_window(controller: ChatController, registry: ModelRegistry, api: ApiService | None = None,
                  places: Places | None = None) -> MainWindow:
    return MainWindow(controller, registry, api=api, places=places)
