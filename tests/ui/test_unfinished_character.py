"""A reply that ended inside a character (the token limit or Stop after some of its bytes) shows a
mark per token of that character: hovered and clicked like any token, with the reply's finish
reason beside it, reopened the same, and Continue finishes the character."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend, byte_pieces
from tests.ui.driver import REPLY_TIMEOUT_MS, ask
from ui.token_text import UNFINISHED_MARK, token_tooltip

WAVE = byte_pieces("🌊 waves", cut=[1, 2, 3])  # 🌊 is four bytes: three tokens make nothing, the fourth makes it


def test_a_reply_cut_inside_its_first_character_shows_clickable_marks_and_continues(qtbot, launch):
    app = launch(FakeBackend(reply=WAVE), max_new_tokens=2)
    reply = ask(qtbot, app, "the sea")
    assert reply.text == "" and reply.finish_reason == "length" and len(reply.tokens) == 2
    view = app.window.transcript.views[1]
    assert view.text.isVisible() and view.text.toPlainText() == UNFINISHED_MARK * 2
    assert view.meta_label.text() == "2 tokens · stopped at the token limit"
    assert view.continue_button.isVisible()

    point = view.text.token_point(1)  # the second byte's mark: hovered, it says what it is
    assert view.text.token_at(point) == 1
    tip = token_tooltip(reply.tokens[1], unfinished=True)
    assert "bytes 9F" in tip and "ended before the rest of this character" in tip
    QTest.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    assert app.window.panel.record is reply.tokens[1]  # clicked: the panel shows that step
    assert "part of a character (bytes 9F)" in app.window.panel.piece_label.text()

    conversation = app.controller.conversation_id  # reopened as it was shown
    app.window.new_chat()
    app.controller.open_conversation(conversation)
    view = app.window.transcript.views[1]
    assert view.text.toPlainText() == UNFINISHED_MARK * 2 and view.text.token_at(view.text.token_point(0)) == 0

    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        QTest.mouseClick(view.continue_button, Qt.MouseButton.LeftButton)
    continued = app.controller.message(1)
    assert continued.text == "🌊 waves" and len(continued.tokens) == 4
    assert app.window.transcript.views[1].text.toPlainText() == "🌊 waves"  # no mark: the character is whole
    assert UNFINISHED_MARK not in app.controller.store.message(continued.id).text  # the mark was never text


def test_a_streaming_reply_shows_no_mark_for_a_character_still_coming(qtbot, launch):
    app = launch(FakeBackend(reply=[("Sea ", "Sea "), *WAVE]), max_new_tokens=3)
    reply = ask(qtbot, app, "the sea")
    view = app.window.transcript.views[1]
    assert reply.text == "Sea " and view.text.toPlainText() == "Sea " + UNFINISHED_MARK * 2
    view.text.set_content(reply.text, reply.tokens, tint=True, ended=False)  # as it streams
    assert view.text.toPlainText() == "Sea" and view.text.unfinished == []  # (Markdown drops the last space)
