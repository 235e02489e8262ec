"""Editing a sent message works like writing one: Enter resends, Shift+Enter adds a line, Esc
cancels, the box has the composer's font, and what is resent has no stray trailing line break."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.app.fakes import REPLY, FakeBackend
from tests.ui.driver import REPLY_TIMEOUT_MS, ask


def test_enter_resends_the_edit_like_the_composer_and_keeps_no_trailing_newline(qtbot, launch):
    app = launch(FakeBackend())
    ask(qtbot, app, "first version")
    user_view = app.window.transcript.views[0]
    QTest.mouseClick(user_view.edit_button, Qt.MouseButton.LeftButton)
    box = user_view.editor.box
    assert box.font().pointSizeF() == app.window.composer.box.font().pointSizeF()
    assert box.toPlainText() == "first version"
    QTest.keyClick(box, Qt.Key.Key_End, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    QTest.keyClicks(box, "second line")
    QTest.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)  # a stray line at the end
    assert box.toPlainText() == "first version\nsecond line\n"
    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        QTest.keyClick(box, Qt.Key.Key_Return)
    views = app.window.transcript.views
    assert [v.message.text for v in views] == ["first version\nsecond line", REPLY]
    assert views[0].text.toPlainText() == "first version\nsecond line"
    assert app.controller._worker._session.requests[-1].user_message == "first version\nsecond line"


def test_escape_leaves_the_message_as_it_was(qtbot, launch):
    app = launch(FakeBackend())
    ask(qtbot, app, "keep me")
    user_view = app.window.transcript.views[0]
    QTest.mouseClick(user_view.edit_button, Qt.MouseButton.LeftButton)
    with qtbot.assertNotEmitted(app.controller.message_added):
        QTest.keyClicks(user_view.editor.box, "changed")
        QTest.keyClick(user_view.editor.box, Qt.Key.Key_Escape)
    assert user_view.editor is None and user_view.text.isVisible()
    assert user_view.text.toPlainText() == "keep me"
