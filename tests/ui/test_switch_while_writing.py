"""Leaving a conversation while its reply is being written stops the reply visibly: the window says
so, the reply is saved saying why it stopped, and reopened it shows its numbers."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend
from tests.ui.driver import type_and_send


def _click_conversation(qtbot, window, title_start: str) -> None:
    items = window.sidebar.list
    row = next(r for r in range(items.count()) if items.item(r).text().startswith(title_start))
    rect = items.visualItemRect(items.item(row))
    QTest.mouseClick(items.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_switching_conversation_mid_reply_says_so_and_keeps_the_replys_numbers(qtbot, launch):
    app = launch(FakeBackend(endless=True))
    window, controller = app.window, app.controller
    type_and_send(qtbot, window, "First conversation")
    qtbot.waitUntil(lambda: len(controller.message(1).tokens) > 5, timeout=20000)
    with qtbot.waitSignal(controller.reply_finished, timeout=20000):
        window.composer.button.click()  # Stop
    window.new_chat()
    type_and_send(qtbot, window, "Second conversation")
    qtbot.waitUntil(lambda: controller.busy and len(controller.message(1).tokens) > 5, timeout=20000)

    _click_conversation(qtbot, window, "First conversation")
    assert not controller.busy
    assert "stopped because you switched conversation" in window.notice.text()
    qtbot.wait(100)  # (the views of the conversation opened are drawn: none of its replies is live)
    assert window.panel.record is None and not window.panel.live  # trial 5: it said "Live · token 8"
    assert "Live" not in window.panel.subtitle.text()

    _click_conversation(qtbot, window, "Second conversation")  # back: the reply says why it stopped
    assert window.notice.text() == ""  # the notice was about leaving it: it does not follow the user on (verify 5)
    reply = controller.message(1)
    assert reply.finish_reason == "cancelled" and reply.tokens
    assert "stopped: you switched conversation" in window.transcript.views[1].meta_label.text()
    used = reply.stats["prompt_tokens"] + len(reply.tokens)
    assert window.status.context_label.text().startswith(f"context {used:,} / ")
