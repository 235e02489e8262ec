"""The Preferences dialog through its widgets: inline validation, defaults, persistence, effect."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFormLayout

from app.settings import SettingsFile
from tests.app.fakes import FakeBackend
from tests.ui.driver import ask


def open_preferences(qtbot, window):
    window.preferences_action.trigger()  # Edit > Preferences… (Ctrl+,)
    qtbot.waitUntil(lambda: window.preferences is not None and window.preferences.isVisible())
    return window.preferences


def set_field(dialog, name: str, text: str) -> None:
    """Select what the field shows and type `text` over it, as a person does."""
    edit = dialog.fields[name].edit
    dialog.tabs.setCurrentIndex(next(i for i, (_t, names) in enumerate(dialog._tab_settings) if name in names))
    edit.setFocus()
    edit.selectAll()
    QTest.keyClicks(edit, text) if text else QTest.keyClick(edit, Qt.Key.Key_Delete)


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
        ("context_length", "100", "100 is not allowed: this box takes 0 or 256 to 1,048,576"),
        ("max_new_tokens", "", "Enter a number"),
        ("panel_top_k", "", "Enter a number"),
    ],
)
def test_invalid_values_show_inline_and_cannot_be_saved(qtbot, launch, tmp_path, name, text, message):
    app = launch(FakeBackend())
    before = app.controller.settings
    dialog = open_preferences(qtbot, app.window)
    size = dialog.size()
    set_field(dialog, name, text)
    error = dialog.fields[name].error
    assert error.isVisible() or not dialog.fields[name].isVisible()
    assert error.text().startswith(message) and error.problem
    assert any(dialog.tabs.tabText(i).endswith("⚠") for i in range(dialog.tabs.count()))
    assert not dialog.save_button.isEnabled() and "to save" in dialog.summary.text()
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert dialog.isVisible()
    assert dialog.size() == size  # the problem took the hint's place: nothing jumped
    if text:  # Enter must not save either
        QTest.keyClick(dialog.fields[name].edit, Qt.Key.Key_Return)
        assert dialog.isVisible()
    assert app.controller.settings == before
    assert not (tmp_path / "config" / "settings.json").exists()
    if not text:  # an emptied spin box goes back to its last value on Enter, as spin boxes do
        QTest.keyClick(dialog.fields[name].edit, Qt.Key.Key_Return)
        assert app.controller.settings == before
        return
    set_field(dialog, name, {"context_length": "512", "kv_window": "256"}.get(name, "10"))
    assert not error.problem and error.text() == error.hint and dialog.save_button.isEnabled()
    dialog.reject()


@pytest.mark.parametrize(
    "name, typed",
    [("temperature", "9"), ("top_p", "7"), ("top_k", "2.5"), ("min_p", "-0.5"),
     ("presence_penalty", "-3"), ("repetition_penalty", "0"), ("seed", "-4")],
)
def test_numbers_outside_the_accepted_range_show_as_typed_and_cannot_be_saved(qtbot, launch, name, typed):
    app = launch(FakeBackend())
    dialog = open_preferences(qtbot, app.window)
    field = dialog.fields[name]
    set_field(dialog, name, typed)
    assert field.edit.text() == typed  # never swallowed: what was typed is what is shown
    if name != "seed":
        from app.setting_ranges import NUMBER_RANGES

        r = NUMBER_RANGES[name]
        assert (field.spin.minimum(), field.spin.maximum()) == (r.control_min, r.control_max)
    assert typed in field.error.problem and not dialog.save_button.isEnabled()  # said, with the value
    dialog.reject()


def test_stop_strings_are_typed_readably_validated_saved_sent_and_exported(qtbot, launch, tmp_path):
    backend = FakeBackend()
    app = launch(backend)
    dialog = open_preferences(qtbot, app.window)
    assert "case-sensitive" in dialog.stop_message.text()  # the hint says they match exactly
    dialog.stop_edit.setFocus()
    QTest.keyClicks(dialog.stop_edit, "\\n\\nUser:")
    assert not dialog.stop_message.problem
    dialog.stop_edit.setPlainText("\\nUser:\nEND\nEND")
    assert dialog.stop_message.problem == "“END” is listed twice" and not dialog.save_button.isEnabled()
    assert dialog.tabs.tabText(0) == "Decoding ⚠"
    dialog.stop_edit.setPlainText("\\q")
    assert "\\q is not an escape" in dialog.stop_message.text()
    dialog.stop_edit.setPlainText("\\n\\nUser:\n###\n")
    assert dialog.save_button.isEnabled()
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert SettingsFile(tmp_path / "config").load().app.stop_strings == ("\n\nUser:", "###")
    dialog = open_preferences(qtbot, app.window)
    assert dialog.stop_edit.toPlainText() == "\\n\\nUser:\n###"  # shown as typed
    dialog.reject()
    ask(qtbot, app, "hello")
    assert backend.sessions[-1].requests[-1].stop_strings == ("\n\nUser:", "###")
    app.controller.export(tmp_path / "c.json", "json")
    exported = json.loads((tmp_path / "c.json").read_text())
    assert exported["messages"][-1]["settings"]["stop_strings"] == ["\n\nUser:", "###"]


def test_saved_values_persist_and_restore_defaults_resets_only_the_tab_on_screen(qtbot, launch, tmp_path):
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
    assert dialog.fields["temperature"].parse() == 1.3
    dialog.tabs.setCurrentIndex(0)  # Decoding
    QTest.mouseClick(dialog.restore_button, Qt.MouseButton.LeftButton)
    assert dialog.fields["temperature"].parse() == 0.7 and dialog.fields["seed"].edit.text() == ""
    assert "Decoding tab is back to its defaults" in dialog.summary.text()
    # the other tabs keep what they showed
    assert dialog.fields["panel_top_k"].parse() == 5 and not dialog.tint_check.isChecked()
    assert dialog.system_prompt.toPlainText() == "Answer in French."
    dialog.tabs.setCurrentIndex(4)  # Display
    QTest.mouseClick(dialog.restore_button, Qt.MouseButton.LeftButton)
    assert dialog.fields["panel_top_k"].parse() == 10 and dialog.tint_check.isChecked()
    assert dialog.system_prompt.toPlainText() == "Answer in French."
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


def test_saving_says_so_and_warns_before_a_change_that_re_reads_the_conversation(qtbot, launch):
    app = launch(FakeBackend())
    ask(qtbot, app, "hello")
    tokens = app.window.conversation_tokens()
    assert tokens and tokens > 0
    dialog = open_preferences(qtbot, app.window)
    set_field(dialog, "temperature", "0.5")
    assert "re-read" not in dialog.summary.text()  # decoding settings keep the cache
    dialog.tabs.setCurrentIndex(1)
    dialog.system_prompt.setPlainText("Answer like a pirate.")
    assert dialog.summary.text() == (
        f"Changing the system prompt: the next reply will re-read the conversation (~{tokens:,} tokens) "
        "instead of reusing the cache."
    )
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    message = app.window.status.full_message()  # whole: a narrow window shows it cut, whole in a tooltip
    assert message.startswith("Preferences saved.") and "re-read the conversation" in message

    dialog = open_preferences(qtbot, app.window)
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert app.window.status.full_message() == "Preferences saved."


def test_system_prompt_presets_are_saved_chosen_and_deleted(qtbot, launch, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    app = launch(FakeBackend())
    dialog = open_preferences(qtbot, app.window)
    dialog.tabs.setCurrentIndex(1)
    assert not dialog.preset_combo.isEnabled()
    dialog.system_prompt.setPlainText("Talk like a pirate.")
    monkeypatch.setattr(QInputDialog, "getText", lambda *a, **k: ("Pirate", True))
    QTest.mouseClick(dialog.save_preset_button, Qt.MouseButton.LeftButton)
    dialog.system_prompt.setPlainText("Be brief.")
    dialog.save_preset("Brief")
    dialog.preset_combo.activated.emit(dialog.preset_combo.findData("Pirate"))
    assert dialog.system_prompt.toPlainText() == "Talk like a pirate."
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    stored = SettingsFile(tmp_path / "config").load().app
    assert stored.system_prompt_presets == (("Pirate", "Talk like a pirate."), ("Brief", "Be brief."))
    assert stored.system_prompt == "Talk like a pirate."

    dialog = open_preferences(qtbot, app.window)
    dialog.preset_combo.setCurrentIndex(dialog.preset_combo.findData("Brief"))
    dialog.delete_preset_button.click()
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert SettingsFile(tmp_path / "config").load().app.system_prompt_presets == (("Pirate", "Talk like a pirate."),)


def test_model_file_dialogs_open_beside_the_last_model_or_in_the_models_dir(qtbot, launch, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    seen = []
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda _p, _t, start, _f: (seen.append(start), ("", ""))[1])
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda _p, _t, start: seen.append(start) or "")
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("GLASSBOX_MODELS_DIR", str(models))
    elsewhere = tmp_path / "downloads"
    elsewhere.mkdir()
    app = launch(FakeBackend())
    app.window.open_model_file()
    assert seen[-1] == str(models)
    app.controller.remember(replace(app.controller.settings, app=replace(
        app.controller.settings.app, recent_models=(str(elsewhere / "x.gguf"),))))
    app.window.open_model_folder()
    assert seen[-1] == str(elsewhere)


def test_every_number_the_dialog_offers_has_the_validation_range():
    from app.setting_ranges import NUMBER_RANGES
    from ui.preferences import APP_NUMBER_FIELDS, CACHE_NUMBER_FIELDS, DECODING_FIELDS, DISPLAY_NUMBER_FIELDS

    for name, _label, kind, _hint in DECODING_FIELDS + APP_NUMBER_FIELDS + CACHE_NUMBER_FIELDS + DISPLAY_NUMBER_FIELDS:
        assert kind == "seed" or name in NUMBER_RANGES


def test_a_number_out_of_range_shows_as_typed_is_named_with_the_range_and_set_to_the_nearest_end(qtbot, launch):
    """Trial 4: a 0 typed into Top-p snapped back to 1.000 under a red message naming neither, and
    a 9 typed into Temperature or "abc" into Seed vanished without a word."""
    app = launch(FakeBackend())
    dialog = open_preferences(qtbot, app.window)
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)  # Tab moves the focus on, as it does on a desktop
    top_p = dialog.fields["top_p"]
    set_field(dialog, "top_p", "0")
    assert top_p.edit.text() == "0"  # shown as typed
    assert top_p.error.problem == "0 is too small: this box takes 0.01 to 1 (0.01 when you leave it)"
    assert not dialog.save_button.isEnabled()
    QTest.keyClick(top_p.edit, Qt.Key.Key_Tab)  # leave the box
    assert top_p.spin.value() == 0.01 and top_p.edit.text().startswith("0.01")
    assert top_p.error.problem is None and "0 is outside 0.01 to 1: set to 0.01." == top_p.error.text()
    assert dialog.save_button.isEnabled() and "⚠" not in dialog.tabs.tabText(dialog.tabs.currentIndex())

    temperature = dialog.fields["temperature"]
    set_field(dialog, "temperature", "9")
    assert temperature.edit.text() == "9"  # not swallowed
    assert temperature.error.problem.startswith("9 is too large: this box takes 0 to ")
    QTest.keyClick(temperature.edit, Qt.Key.Key_Tab)
    assert temperature.spin.value() == temperature.spin.maximum() and dialog.save_button.isEnabled()

    set_field(dialog, "seed", "abc")
    assert dialog.fields["seed"].edit.text() == "abc"
    assert dialog.fields["seed"].error.problem.startswith("“abc” is not a seed")
    assert not dialog.save_button.isEnabled()
    set_field(dialog, "seed", "42")
    assert dialog.save_button.isEnabled() and dialog.settings().sampling.seed == 42
    dialog.reject()


def test_context_length_hint_says_the_real_rule_and_leaving_a_refused_value_sets_the_smallest_allowed(qtbot, launch):
    """Verify 4: the hint said "0 to 1,048,576" but 100 was refused ("must be 0 or 256 to …") and
    leaving the box kept it, unlike the Decoding boxes."""
    app = launch(FakeBackend())
    dialog = open_preferences(qtbot, app.window)
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow)
    field = dialog.fields["context_length"]
    assert "0 or 256 to 1,048,576" in field.error.hint and "0 to 1,048,576" not in field.error.hint
    set_field(dialog, "context_length", "100")
    assert field.edit.text() == "100"  # shown as typed
    assert field.error.problem == "100 is not allowed: this box takes 0 or 256 to 1,048,576 (256 when you leave it)"
    assert not dialog.save_button.isEnabled()
    QTest.keyClick(field.edit, Qt.Key.Key_Return)  # Enter neither saves nor changes it
    assert dialog.isVisible() and field.edit.text() == "100" and field.error.problem
    QTest.keyClick(field.edit, Qt.Key.Key_Tab)  # leave the box
    assert field.spin.value() == 256
    assert field.error.problem is None and field.error.text() == "100 is not allowed (0 or 256 to 1,048,576): set to 256."
    assert dialog.save_button.isEnabled()
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert app.controller.settings.app.context_length == 256


def laid_out_whole(dialog) -> bool:
    """Every hint and problem on the current tab shows all its lines, and no row of the form is
    drawn over the next (the Stop strings hint over its box, under Xvfb, at the dialog's first size)."""
    from ui.preferences import FieldMessage

    page = dialog.tabs.currentWidget().widget()
    for message in page.findChildren(FieldMessage):
        if message.isVisibleTo(dialog) and message.height() < message.lines_height(message.width()):
            return False
    form = page.findChild(QFormLayout)
    rows = [form.itemAt(r, QFormLayout.ItemRole.FieldRole) for r in range(form.rowCount())]
    boxes = [item.widget().geometry() for item in rows if item is not None and item.widget() is not None]
    edit, hint = dialog.stop_edit, dialog.stop_message
    stop_ok = dialog.tabs.currentIndex() != 0 or (
        hint.mapTo(dialog, hint.rect().topLeft()).y() > edit.mapTo(dialog, edit.rect().bottomLeft()).y())
    return stop_ok and all(a.bottom() < b.top() for a, b in zip(boxes, boxes[1:], strict=False))


def test_a_problem_that_wraps_to_more_lines_makes_room_nothing_overlaps(qtbot, launch):
    """Verify 4: when the Seed error wrapped to two lines, the Stop strings hint overlapped the bottom
    of the Stop strings box. Under Xvfb it did so even with no problem shown, at the dialog's first
    size (the form gave the row less than its box): every tab opens with room for all its rows."""
    app = launch(FakeBackend())
    dialog = open_preferences(qtbot, app.window)
    for index in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(index)
        qtbot.waitUntil(lambda: laid_out_whole(dialog), timeout=2000)
        assert dialog.tabs.currentWidget().verticalScrollBar().maximum() == 0  # opened tall enough for it
    dialog.tabs.setCurrentIndex(0)
    dialog.resize(dialog.minimumSizeHint().width(), dialog.height())
    qtbot.wait(50)
    set_field(dialog, "seed", "abc")
    message = dialog.fields["seed"].error
    assert message.lines_height(message.width()) > 1.5 * message.fontMetrics().lineSpacing()  # wraps: the case
    qtbot.waitUntil(lambda: laid_out_whole(dialog), timeout=2000)
    set_field(dialog, "seed", "")  # fixed: the hint's one line again, and the rows close up
    qtbot.waitUntil(lambda: message.height() == message.lines_height(message.width()), timeout=2000)
    assert laid_out_whole(dialog)


def test_tab_in_the_stop_strings_box_moves_on_and_types_nothing(qtbot, launch):
    """Trial 5 #32: Tab typed a real tab, saved invisibly as "Orange\\t", which never stopped a reply."""
    app = launch(FakeBackend())
    dialog = open_preferences(qtbot, app.window)
    dialog.stop_edit.setFocus()
    QTest.keyClicks(dialog.stop_edit, "Orange")
    QTest.keyClick(dialog.stop_edit, Qt.Key.Key_Tab)
    assert dialog.stop_edit.toPlainText() == "Orange" and not dialog.stop_edit.hasFocus()
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert app.controller.settings.app.stop_strings == ("Orange",)


def test_decoding_hints_say_the_penalties_come_before_temperature_and_the_filters(qtbot, launch):
    """Trial 6, finding 6: "0 = always the most likely token" was wrong with the repetition penalty
    on (a temperature-0 reply took the model's second choice, which the penalty ranked first). The
    engine applies the penalties first (engine.sampling), so each later step's hint says so."""
    app = launch()
    dialog = open_preferences(qtbot, app.window)
    hints = {name: dialog.fields[name].message.hint for name in ("temperature", "top_k", "top_p", "min_p")}
    for name, hint in hints.items():
        assert "after the penalties" in hint, (name, hint)
    assert "most likely token" not in hints["temperature"]
    assert "your message" in dialog.fields["repetition_penalty"].message.hint  # the prompt's tokens count too
