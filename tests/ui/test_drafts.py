"""What is typed (or attached) and not sent stays with its own conversation, across a switch and a
restart; sending it ends the draft."""

from __future__ import annotations

from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask
from tests.ui.test_attachments_ui import drop


def _type(window, text: str) -> None:
    window.composer.box.setFocus()
    QTest.keyClicks(window.composer.box, text)


def test_drafts_stay_with_their_conversation_across_a_switch_and_a_restart(qtbot, launch, tmp_path):
    app = launch(FakeBackend(), profile=tmp_path)
    window, controller = app.window, app.controller
    ask(qtbot, app, "First conversation")
    first = controller.conversation_id
    notes = tmp_path / "notes.txt"
    notes.write_text("Line one of my notes.", encoding="utf-8")
    drop(window.composer.box, [notes])
    _type(window, "What do you think of these?")
    draft = window.composer.box.toPlainText()
    assert draft == "What do you think of these?" and window.composer.attachments[0].text == "Line one of my notes."

    window.new_chat()  # another conversation: its own (empty) box
    assert window.composer.box.toPlainText() == ""
    _type(window, "Half a thought")
    ask(qtbot, app, " for the new chat")  # sent: no longer a draft
    second = controller.conversation_id
    _type(window, "Second draft")

    controller.open_conversation(first)
    assert window.composer.box.toPlainText() == draft
    assert [a.name for a in window.composer.attachments] == ["notes.txt"]  # the file stays with its draft
    controller.open_conversation(second)
    assert window.composer.attachments == []
    assert window.composer.box.toPlainText() == "Second draft"
    controller.open_conversation(first)
    app.close()

    again = launch(FakeBackend(), profile=tmp_path)  # a restart reopens the one on screen, with its draft
    assert again.controller.conversation_id == first
    assert again.window.composer.box.toPlainText() == draft
    assert [c.attachment.text for c in again.window.composer.chips.chips] == ["Line one of my notes."]
    again.controller.open_conversation(second)
    assert again.window.composer.box.toPlainText() == "Second draft"
    again.window.new_chat()
    assert again.window.composer.box.toPlainText() == ""  # the sent "Half a thought" is not back
