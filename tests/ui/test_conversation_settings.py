"""A conversation's own system prompt and stop strings: set in its dialog, used for its replies
only, kept with it across a reopen and a restart, and exported (fake backend)."""

from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask


def test_a_conversation_keeps_its_own_system_prompt_and_stop_strings(qtbot, launch, tmp_path):
    backend = FakeBackend()
    app = launch(backend, system_prompt_presets=(("Pirate", "Talk like a pirate."),), stop_strings=("END",))
    ask(qtbot, app, "hello")
    first = app.controller.conversation_id
    dialog = app.window.open_conversation_settings()
    assert not dialog.own_prompt.isChecked() and not dialog.prompt.isEnabled()
    dialog.presets.activated.emit(dialog.presets.findText("Pirate"))  # a preset fills it
    assert dialog.own_prompt.isChecked() and dialog.prompt.toPlainText() == "Talk like a pirate."
    assert dialog.note.text().startswith("Changing the system prompt: the next reply will re-read the conversation (~")
    dialog.own_stops.setChecked(True)
    dialog.stops.setPlainText("\\n\\nUser:\nEND\nEND")
    assert dialog.stops_message.problem and not dialog.save_button.isEnabled()
    dialog.stops.setPlainText("\\n\\nUser:")
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert app.window.status.full_message().startswith("Conversation settings saved.")

    ask(qtbot, app, "and now?")
    request = backend.sessions[-1].requests[-1]
    assert request.system_prompt == "Talk like a pirate." and request.stop_strings == ("\n\nUser:",)

    app.window.new_chat()  # another conversation follows Preferences
    ask(qtbot, app, "hi")
    request = backend.sessions[-1].requests[-1]
    assert request.system_prompt == app.controller.settings.app.system_prompt and request.stop_strings == ("END",)

    app.controller.open_conversation(first)  # reopened: its own again
    ask(qtbot, app, "still a pirate?")
    assert backend.sessions[-1].requests[-1].system_prompt == "Talk like a pirate."
    app.controller.export(tmp_path / "c.json", "json")
    exported = json.loads((tmp_path / "c.json").read_text())
    assert exported["conversation"]["own_settings"] == {"system_prompt": "Talk like a pirate.",
                                                        "stop_strings": ["\n\nUser:"],
                                                        "mode": "chat"}  # its first message fixed its view
    assert exported["messages"][-1]["settings"]["stop_strings"] == ["\n\nUser:"]

    app.close()  # and after a restart
    again = launch(FakeBackend())
    again.controller.open_conversation(first)
    assert again.controller.own_settings.system_prompt == "Talk like a pirate."


def test_settings_chosen_for_a_new_chat_apply_from_its_first_message(qtbot, launch):
    backend = FakeBackend()
    app = launch(backend)
    dialog = app.window.open_conversation_settings()
    dialog.own_prompt.setChecked(True)
    dialog.prompt.setPlainText("Answer in French.")
    assert dialog.note.text() == ""  # nothing to re-read yet
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    ask(qtbot, app, "hello")
    assert backend.sessions[-1].requests[-1].system_prompt == "Answer in French."
    dialog = app.window.open_conversation_settings()
    dialog.own_prompt.setChecked(False)  # back to Preferences'
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    ask(qtbot, app, "again")
    assert backend.sessions[-1].requests[-1].system_prompt == app.controller.settings.app.system_prompt
