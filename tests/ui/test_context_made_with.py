"""The status bar's context fraction is the reply's own: a reply made with a 2,048-token window
reads "/ 2,048" after Preferences → Model → Context length is lowered, live, finished and reopened
(never "328 / 256"), and the tooltip says what the next reply will get."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend, FakeSession
from tests.ui.driver import ask
from tests.ui.test_preferences import open_preferences, set_field


class WindowedSession(FakeSession):
    """Reports the context window each request was fitted to, as the backend does."""

    def stats(self, reason: str, generated: int) -> dict:
        asked = self.requests[-1].context_length
        window = min(asked or 2048, 2048)
        return super().stats(reason, generated) | {"prompt_tokens": 318, "context_used": 318 + generated,
                                                   "context_length": window}


def context_text(window) -> str:
    return window.status.context_label.full_text()


def test_a_lower_context_limit_does_not_rescale_the_reply_on_screen(qtbot, launch, tmp_path):
    app = launch(FakeBackend(reply="one two three four five six seven eight nine", session=WindowedSession))
    ask(qtbot, app, "a conversation of about 330 tokens")
    assert context_text(app.window) == "context 328 / 2,048"

    dialog = open_preferences(qtbot, app.window)  # Ctrl+, → Model → Context length 256 → Save
    set_field(dialog, "context_length", "256")
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert app.controller.settings.app.context_length == 256

    assert context_text(app.window) == "context 328 / 2,048"  # the reply's numbers, as it was made
    tip = app.window.status.context_label.toolTip()
    assert "made with (2,048 tokens)" in tip
    assert "next reply gets a context window of 256 tokens" in tip and "will be left out" in tip

    app.close()
    again = launch(FakeBackend(session=WindowedSession), profile=tmp_path)  # reopened: the same numbers
    assert context_text(again.window) == "context 328 / 2,048"

    again.window.new_chat()  # a new conversation will be made with the limit set now
    assert context_text(again.window) == "context 0 / 256"
    reply = ask(qtbot, again, "hello")
    assert reply.stats["context_length"] == 256
    assert context_text(again.window) == f"context {reply.stats['context_used']:,} / 256"
