"""Theme and text size from the View menu and the keyboard: applied at once, kept across restarts."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from app.settings import SettingsFile
from tests.app.fakes import FakeBackend
from ui.theme import apply_look


@pytest.fixture(autouse=True)
def plain_look_after():
    """The QApplication outlives each test: leave it as the next test expects."""
    yield
    apply_look(QApplication.instance(), "system", 100)


def window_colour() -> str:
    return QApplication.instance().palette().color(QPalette.ColorRole.Window).name()


def test_ctrl_plus_minus_and_zero_change_the_text_size_and_it_is_kept(qtbot, launch, tmp_path):
    app = launch(FakeBackend())
    window = app.window
    base = QApplication.instance().font().pointSizeF()
    window.activateWindow()
    box = window.composer.box
    QTest.keyClick(box, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(box, Qt.Key.Key_Equal, Qt.KeyboardModifier.ControlModifier)  # Ctrl+= too (no Shift needed)
    assert app.controller.settings.app.zoom_percent == 120
    assert QApplication.instance().font().pointSizeF() == pytest.approx(base * 1.2)
    assert window.status.full_message() == "Text size 120 %"
    assert "font-size: 13.2pt" in QApplication.instance().styleSheet()  # 11pt scaled
    assert SettingsFile(tmp_path / "config").load().app.zoom_percent == 120
    QTest.keyClick(box, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)
    assert app.controller.settings.app.zoom_percent == 110
    QTest.keyClick(box, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert app.controller.settings.app.zoom_percent == 100
    assert QApplication.instance().font().pointSizeF() == pytest.approx(base)
    for _ in range(20):
        window.zoom_out_action.trigger()
    assert app.controller.settings.app.zoom_percent == 50 and not window.zoom_out_action.isEnabled()


def test_the_theme_is_chosen_in_the_view_menu_and_kept_across_a_restart(qtbot, launch, tmp_path):
    app = launch(FakeBackend())
    dark = next(a for a in app.window.theme_actions.actions() if a.data() == "dark")
    dark.trigger()
    assert window_colour() == "#202124" and dark.isChecked()
    assert SettingsFile(tmp_path / "config").load().app.theme == "dark"
    light = next(a for a in app.window.theme_actions.actions() if a.data() == "light")
    light.trigger()
    assert window_colour() == "#f6f7f9"
    app.close()
    apply_look(QApplication.instance(), "system", 100)
    again = launch(FakeBackend(), theme="dark", zoom_percent=130)
    assert window_colour() == "#202124"
    assert QApplication.instance().property("glassboxZoom") == 130
    assert next(a for a in again.window.theme_actions.actions() if a.isChecked()).data() == "dark"


def test_theme_and_text_size_are_in_preferences_too(qtbot, launch):
    from tests.ui.test_preferences import open_preferences, set_field

    app = launch(FakeBackend())
    dialog = open_preferences(qtbot, app.window)
    dialog.theme_combo.setCurrentIndex(dialog.theme_combo.findData("dark"))
    set_field(dialog, "zoom_percent", "150")
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert window_colour() == "#202124" and QApplication.instance().property("glassboxZoom") == 150


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_a_check_box_can_be_seen_on_either_theme(qtbot, launch, theme):
    from PySide6.QtGui import QColor
    from PySide6.QtWidgets import QCheckBox

    app = launch(FakeBackend(), theme=theme)
    dialog = app.window.open_conversation_settings()
    qtbot.waitExposed(dialog)
    box = dialog.findChildren(QCheckBox)[0]
    assert not box.isChecked()
    image = box.grab().toImage()
    window = QColor(window_colour()).lightness()
    indicator = [QColor(image.pixel(x, y)).lightness() for x in range(min(22, image.width())) for y in range(image.height())]
    assert sum(abs(lightness - window) > 60 for lightness in indicator) >= 20  # its outline stands out
    dialog.reject()
