"""Changing the text size as a user does (View > Zoom In, Ctrl+=), shared by the zoom tests."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

CTRL = Qt.KeyboardModifier.ControlModifier


def zoom_to(qtbot, app, percent: int, held: bool = False) -> None:
    """Press Ctrl+= until the text size is `percent` (100: View > Actual Size); `held`: with no pause."""
    box = app.window.composer.box
    app.window.activateWindow()  # back in the window (after a dialog), as a click in it does
    qtbot.waitActive(app.window)
    if percent == 100:
        app.window.zoom_reset_action.trigger()
    for _ in range(30):
        if app.controller.settings.app.zoom_percent >= percent:
            break
        if held:  # the steps come with no pause: View > Zoom In, as the held key's shortcut does
            app.window.zoom_in_action.trigger()
        else:
            QTest.keyClick(box, Qt.Key.Key_Equal, CTRL)
            qtbot.wait(20)
    qtbot.wait(100)
    for _ in range(20):  # what the zoom posted (layout requests, re-fits posting more), however slow the machine
        QApplication.processEvents()
    assert app.controller.settings.app.zoom_percent == percent
