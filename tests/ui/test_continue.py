"""Continue a reply that stopped early, through its Continue button and the Edit menu (fake backend)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.app.fakes import REPLY, FakeBackend, split_tokens
from tests.ui.driver import ask, type_and_send, without_markup

WORDS = split_tokens(REPLY)


def test_a_reply_cut_at_the_token_limit_continues_in_the_same_message(qtbot, launch):
    backend = FakeBackend()
    app = launch(backend, max_new_tokens=3)
    reply = ask(qtbot, app, "hello")
    assert reply.finish_reason == "length" and reply.text == "".join(WORDS[:3])
    view = app.window.transcript.views[1]
    assert view.continue_button.isVisible() and app.window.continue_action.isEnabled()
    first_ids = [t.token for t in reply.tokens]
    with qtbot.waitSignal(app.controller.reply_finished, timeout=20000):
        QTest.mouseClick(view.continue_button, Qt.MouseButton.LeftButton)
    request = backend.sessions[-1].requests[-1]
    assert request.continue_ids == tuple(first_ids) and request.user_message == "hello"
    assert len(app.controller.conversation.messages) == 2  # no new message: the same reply grew
    reply = app.controller.message(1)
    assert reply.text == "".join(WORDS[:6]) and [t.index for t in reply.tokens] == list(range(6))
    assert reply.stats["generated_tokens"] == 6
    assert without_markup(app.window.transcript.views[1].text.document()).startswith("Hello world, this is a fake")

    # what is reopened is what was shown: one stored message with all its tokens
    conversation = app.controller.conversation_id
    app.window.new_chat()
    app.controller.open_conversation(conversation)
    reopened = app.controller.message(1)
    assert reopened.text == reply.text and [t.index for t in reopened.tokens] == list(range(6))

    app.window.continue_action.trigger()  # Edit > Continue Last Reply, up to the reply's own end
    qtbot.waitUntil(lambda: not app.controller.busy, timeout=20000)
    assert app.controller.message(1).text == REPLY and app.controller.message(1).finish_reason == "eos"
    assert not app.window.continue_action.isEnabled()
    assert not app.window.transcript.views[1].continue_button.isVisible()


def test_a_stopped_reply_can_be_continued_and_a_finished_one_cannot(qtbot, launch):
    app = launch(FakeBackend(endless=True))
    type_and_send(qtbot, app.window, "go on")
    qtbot.waitUntil(lambda: len(app.controller.message(1).tokens) > 3, timeout=20000)
    with qtbot.waitSignal(app.controller.reply_finished, timeout=20000):
        app.controller.stop()
    before = len(app.controller.message(1).tokens)
    assert app.controller.message(1).finish_reason == "cancelled" and app.controller.can_continue()
    assert app.controller.continue_reply()
    qtbot.waitUntil(lambda: len(app.controller.message(1).tokens) > before + 3, timeout=20000)
    assert not app.controller.continue_reply()  # not while it is being written
    with qtbot.waitSignal(app.controller.reply_finished, timeout=20000):
        app.controller.stop()
    tokens = app.controller.message(1).tokens
    assert [t.index for t in tokens] == list(range(len(tokens)))


def test_continue_writes_at_most_todays_max_new_tokens_more(qtbot, launch):
    """Trial 5 #19: after Max new tokens was lowered to 20, Continue ran on to the reply's old 512."""
    from tests.ui.test_preferences import open_preferences, set_field

    backend = FakeBackend()
    app = launch(backend, max_new_tokens=3)
    reply = ask(qtbot, app, "go on")
    assert reply.finish_reason == "length" and len(reply.tokens) == 3
    dialog = open_preferences(qtbot, app.window)
    set_field(dialog, "max_new_tokens", "2")
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    assert app.controller.settings.app.max_new_tokens == 2
    view = app.window.transcript.views[1]
    assert "Max new tokens" in view.continue_button.toolTip()
    with qtbot.waitSignal(app.controller.reply_finished, timeout=20000):
        QTest.mouseClick(view.continue_button, Qt.MouseButton.LeftButton)
    assert backend.sessions[-1].requests[-1].max_new_tokens == 2
    assert len(app.controller.message(1).tokens) == 5  # 3, then 2 more
