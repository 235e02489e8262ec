"""Help → About, as a user opens it: versions, the model and its licence as written, folders to open."""

from __future__ import annotations

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QLabel

from app.about import AboutInfo, Places
from tests.app.fakes import FakeBackend
from ui.about_dialog import AboutDialog


def test_about_shows_every_value_as_plain_text_with_open_buttons(qtbot, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    info = AboutInfo(version="9.9.9", python="3.11.9", qt="Qt 6", mlx="MLX 0 on cpu", model="<b>odd</b> & name",
                     model_license="apache-2.0", license_file=None,
                     places=Places(data=data, config=tmp_path / "missing", models=tmp_path))
    dialog = AboutDialog(info)
    qtbot.addWidget(dialog)
    texts = [label.text() for label in dialog.findChildren(QLabel)]
    assert "Glassbox 9.9.9" in texts and "<b>odd</b> & name" in texts and str(data) in texts
    assert all(label.textFormat().name == "PlainText" for label in dialog.findChildren(QLabel))
    assert dialog.open_buttons["Conversations and caches"].isEnabled()
    assert not dialog.open_buttons["Settings"].isEnabled()  # nothing to open yet


def test_help_about_opens_from_the_menu(qtbot, launch, tmp_path):
    window = launch(backend=FakeBackend()).window
    shown = []

    def look():
        dialog = window.findChild(AboutDialog)
        shown.append((dialog.info.version, dialog.info.places.data, dialog.info.model) if dialog else None)
        if dialog:
            dialog.reject()

    QTimer.singleShot(200, look)
    about = next(a for a in window.menuBar().actions() if a.text() == "&Help").menu().actions()
    next(a for a in about if "About" in a.text()).trigger()
    from app.version import VERSION

    assert shown == [(VERSION, tmp_path / "data", window.controller.model_info["display_name"])]
