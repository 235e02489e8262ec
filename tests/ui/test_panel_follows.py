"""The panel and the transcript agree on the step shown: a new reply takes over from a clicked
token (which is no longer marked), and when it ends the panel says how, as its header does."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend
from tests.ui.driver import REPLY_TIMEOUT_MS, ask, type_and_send


def test_a_new_reply_unmarks_the_clicked_token_and_a_stopped_one_says_stopped(qtbot, launch):
    backend = FakeBackend()
    app = launch(backend)
    ask(qtbot, app, "First")
    first = app.window.transcript.views[1].text
    QTest.mouseClick(first.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, first.token_point(2))
    assert first.extraSelections() and app.window.panel.subtitle.text().startswith("Selected")
    app.controller._worker._session.endless = True  # the next reply goes on until stopped
    type_and_send(qtbot, app.window, "Second")
    qtbot.waitUntil(lambda: len(app.controller.message(3).tokens) > 5, timeout=REPLY_TIMEOUT_MS)
    assert not first.extraSelections()  # one step is shown: the live one, not the old click too
    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        QTest.keyClick(app.window.composer.box, Qt.Key.Key_Escape)  # Stop
    count = len(app.controller.message(3).tokens)
    assert app.window.panel.subtitle.text() == f"Reply stopped · its last token ({count})"
    assert "stopped" in app.window.transcript.views[3].meta_label.text()
