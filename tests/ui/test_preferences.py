"""The Preferences dialog through its widgets: inline validation, defaults, persistence, effect."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.settings import SettingsFile
from tests.app.fakes import FakeBackend
from tests.ui.driver import ask


def open_preferences(qtbot, window):
    window.preferences_action.trigger()  # Edit > Preferences… (Ctrl+,)
    qtbot.waitUntil(lambda: window.preferences is not None and window.preferences.isVisible())
    return window.preferences


def set_field(dialog, name: str, text: str) -> None:
    edit = dialog.fields[name].edit
    edit.selectAll()
    QTest.keyClicks(edit, text) if text else edit.clear()


def test_ctrl_comma_opens_preferences(qtbot, launch):
    app = launch(FakeBackend())
    assert app.window.preferences_action.shortcut().toString() == "Ctrl+,"
    app.window.activateWindow()
    QTest.keyClick(app.window.composer.box, Qt.Key.Key_Comma, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: app.window.preferences is not None and app.window.preferences.isVisible())
    app.window.preferences.reject()


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("temperature", "-1", "Temperature must be between 0 and 5"),
        ("top_p", "7", "Top-p must be greater than 0 and at most 1"),
        ("top_k", "2.5", "Must be a whole number"),
        ("min_p", "abc", "Must be a number"),
        ("seed", "-4", "Seed must be empty"),
        ("max_new_tokens", "0", "Max new tokens must be between 1"),
        ("panel_top_k", "", "Enter a number"),
    ],
)
def test_invalid_values_show_inline_and_cannot_be_saved(qtbot, launch, tmp_path, name, text, message):
    app = launch(FakeBackend())
    before = app.controller.settings
    dialog = open_preferences(qtbot, app.window)
    set_field(dialog, name, text)
    error = dialog.fields[name].error
    assert not error.isHidden() and error.text().startswith(message)
    assert any(dialog.tabs.tabText(i).endswith("⚠") for i in range(dialog.tabs.count()))
    assert not dialog.save_button.isEnabled()
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    QTest.keyClick(dialog.fields[name].edit, Qt.Key.Key_Return)  # Enter must not save either
    assert dialog.isVisible()
    assert app.controller.settings == before
    assert not (tmp_path / "config" / "settings.json").exists()
    set_field(dialog, name, {"seed": "", "panel_top_k": "10", "min_p": "0.05"}.get(name, "1"))
    assert error.isHidden() and dialog.save_button.isEnabled()
    dialog.reject()


def test_saved_values_persist_and_restore_defaults_resets_them(qtbot, launch, tmp_path):
    app = launch(FakeBackend())
    dialog = open_preferences(qtbot, app.window)
    set_field(dialog, "temperature", "1.3")
    set_field(dialog, "seed", "42")
    set_field(dialog, "panel_top_k", "5")
    dialog.system_prompt.setPlainText("Answer in French.")
    dialog.tint_check.setChecked(False)
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible())
    stored = SettingsFile(tmp_path / "config").load()
    assert (stored.sampling.temperature, stored.sampling.seed) == (1.3, 42)
    assert stored.app.panel_top_k == 5 and stored.app.system_prompt == "Answer in French."
    assert not stored.app.probability_tint and not app.window.tint_action.isChecked()
    assert app.window.panel.top_k == 5

    dialog = open_preferences(qtbot, app.window)
    assert dialog.fields["temperature"].edit.text() == "1.3"
    QTest.mouseClick(dialog.restore_button, Qt.MouseButton.LeftButton)
    assert dialog.fields["temperature"].edit.text() == "0.7"
    assert dialog.fields["seed"].edit.text() == "" and dialog.tint_check.isChecked()
    assert dialog.system_prompt.toPlainText().startswith("You are a helpful assistant")
    dialog.reject()
    assert SettingsFile(tmp_path / "config").load() == stored  # Cancel keeps what was saved


@pytest.mark.slow
def test_temperature_zero_makes_replies_repeat(qtbot, launch):
    app = launch(max_new_tokens=10)
    dialog = open_preferences(qtbot, app.window)
    set_field(dialog, "temperature", "0")
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert app.controller.settings.sampling.temperature == 0.0
    first = ask(qtbot, app, "Name three colours.")
    app.window.new_chat()
    second = ask(qtbot, app, "Name three colours.")
    assert [t.token for t in first.tokens] == [t.token for t in second.tokens]
    assert first.text == second.text and first.text.strip()
