"""A message that cannot fit the context window says so before it is sent (the count under the box,
in red, with how much fits), and the banner of a refused message goes with that message."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.ui.driver import ask
from tests.ui.test_conversations import DroppingBackend

HUGE = "word " * 3000  # about 3,000 tokens to the fake tokenizer; its context window is 2,048


def test_the_count_says_a_message_is_too_long_before_it_is_sent(qtbot, launch):
    app = launch(DroppingBackend(), max_new_tokens=256)
    count = app.window.composer.token_count
    app.window.composer.box.setPlainText(HUGE)  # a big paste
    qtbot.waitUntil(lambda: "too long" in count.text())
    assert count.text() == "3,001 tokens — too long: about 1,792 fit" and count.property("problem")  # (the fake counts the last space)
    app.window.composer.box.setPlainText("short")
    qtbot.waitUntil(lambda: count.text() == "1 token")
    assert not count.property("problem")


def test_the_banner_about_a_refused_message_goes_with_the_message(qtbot, launch):
    app = launch(DroppingBackend())
    window = app.window
    ask(qtbot, app, "first conversation")
    first = app.controller.conversation_id
    window.new_chat()
    ask(qtbot, app, "second conversation")
    with qtbot.waitSignal(app.controller.message_too_long, timeout=10000):
        window.composer.box.setPlainText(HUGE)
        QTest.keyClick(window.composer.box, Qt.Key.Key_Return)
    assert window.notice.isVisible() and window.composer.box.toPlainText() == HUGE
    app.controller.open_conversation(first)  # trial 5: the banner stayed over the other conversation
    assert not window.notice.isVisible()

    window.new_chat()
    with qtbot.waitSignal(app.controller.message_too_long, timeout=10000):
        window.composer.box.setPlainText(HUGE)
        QTest.keyClick(window.composer.box, Qt.Key.Key_Return)
    assert window.notice.isVisible()
    empty = window.transcript.empty_label  # the new conversation is empty again, and says so where it is seen
    qtbot.waitUntil(lambda: empty.isVisible() and not empty.visibleRegion().isEmpty(), timeout=3000)
    window.composer.box.setPlainText(HUGE[:100])  # shortened: the warning still applies until it is sent or gone
    assert window.notice.isVisible()
    window.composer.box.clear()  # the message is gone: so is the banner about it
    assert not window.notice.isVisible()
