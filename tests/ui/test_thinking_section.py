"""A reasoning model's reply in the window: its `<think>…</think>` opening is a "Thinking" section,
open while the model thinks and folded once it is done, shown exactly as written (plain text:
markup in the reasoning stays characters); its tokens stay clickable with their own indices; the
history keeps the reply whole (the template decides what of it the model sees again:
tests/app/test_thinking_history.py). View → Let the Model Think First appears only for a template
that reads enable_thinking, and is the open conversation's own."""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend, FakeSession
from tests.ui.driver import REPLY_TIMEOUT_MS, ask, type_and_send, without_markup

THOUGHT = ["<think>", "\nThe", " user", " asks", " <b>sum</b>", "\n</think>"]
ANSWER = ["\n\n", "It", " is", " **4**."]
REPLY = [(t, t) for t in THOUGHT + ANSWER]


class ThinkingSession(FakeSession):
    """Thinks slowly (`pause_s` before each thinking token, so the window shows it thinking, each
    token as it comes), and when `thinking` is an Event stops after its second thinking token until
    it is set (however long a busy machine takes to look); its template reads enable_thinking."""

    pause_s = 0.0
    thinking: threading.Event | None = None

    def __init__(self, *args):
        super().__init__(*args)
        self.info = {**self.info, "template_options": ["enable_thinking"]}

    def stream(self, request, should_stop, progress):
        for i, event in enumerate(super().stream(request, should_stop, progress)):
            if i == 2 and self.thinking is not None:
                self.thinking.wait(REPLY_TIMEOUT_MS / 1000)
            if i < len(THOUGHT):
                time.sleep(self.pause_s)
            yield event


def test_thinking_opens_while_the_model_thinks_and_folds_after(qtbot, launch, monkeypatch):
    monkeypatch.setattr(ThinkingSession, "pause_s", 0.4)
    monkeypatch.setattr(ThinkingSession, "thinking", thinking := threading.Event())
    app = launch(FakeBackend(REPLY, session=ThinkingSession))
    window = app.window
    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        type_and_send(qtbot, window, "What is 2+2?")
        qtbot.waitUntil(lambda: len(window.transcript.views) == 2, timeout=REPLY_TIMEOUT_MS)
        view = window.transcript.views[1]
        qtbot.waitUntil(lambda: view.thinking.toPlainText().startswith("<think>\nThe"), timeout=REPLY_TIMEOUT_MS)
        assert view.thinking.isVisible() and view.thinking_button.isChecked()  # open while it thinks
        assert view.thinking_button.text().startswith("Thinking… (")
        thinking.set()
    qtbot.waitUntil(lambda: not view.thinking.isVisible())  # folded once it has thought
    assert view.thinking_button.text() == "Thinking (6 tokens)" and not view.thinking_button.isChecked()
    assert without_markup(view.text.document()) == "It is 4."  # the answer, as the reply view shows Markdown
    view.thinking_button.click()
    assert view.thinking.isVisible()
    assert view.thinking.toPlainText() == "".join(THOUGHT)  # exactly as written: <b> is text

    with qtbot.waitSignal(window.transcript.token_selected) as picked:  # a token of the answer
        QTest.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         view.text.token_point(1))
    assert picked.args == [1, len(THOUGHT) + 1] and view.message.tokens[picked.args[1]].text == "It"
    with qtbot.waitSignal(window.transcript.token_selected) as picked:  # and of the thinking
        QTest.mouseClick(view.thinking.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         view.thinking.token_point(2))
    assert picked.args == [1, 2]

    ask(qtbot, app, "And 3+3?")  # the history carries the reply whole; the template decides
    request = app.core.worker_thread.worker._session.requests[-1]
    assert request.history[-1]["content"] == "".join(THOUGHT + ANSWER)


def test_the_thinking_switch_shows_for_templates_that_read_it(qtbot, launch):
    backend = FakeBackend(REPLY, session=ThinkingSession)
    app = launch(backend)
    toggle = app.window.thinking_toggle.action
    assert toggle.isVisible() and toggle.isChecked()
    toggle.trigger()  # off for this conversation
    ask(qtbot, app, "Quick: 2+2?")
    assert backend.sessions[-1].requests[-1].enable_thinking is False
    assert app.controller.message(1).asked["enable_thinking"] is False  # kept with the reply
    app.window.new_chat()
    assert toggle.isChecked()  # a new conversation thinks again
    ask(qtbot, app, "2+2?")
    assert backend.sessions[-1].requests[-1].enable_thinking is True


def test_the_switch_is_hidden_for_other_templates(qtbot, launch):
    app = launch(FakeBackend())
    assert not app.window.thinking_toggle.action.isVisible()


class OpenedSession(FakeSession):
    """A model whose template opens the reply's <think> (DeepSeek R1 style): replies only close it."""

    def __init__(self, *args):
        super().__init__(*args)
        self.info = {**self.info, "opens_thinking": True}


def test_a_reply_that_starts_inside_its_thinking(qtbot, launch):
    reply = [(t, t) for t in ["Two", " and", " two", "\n</think>", "\n\n", "It", " is", " 4."]]
    app = launch(FakeBackend(reply, session=OpenedSession))
    message = ask(qtbot, app, "2+2?")
    view = app.window.transcript.views[1]
    assert message.asked["opens_thinking"] is True  # kept with the reply: it reopens the same
    assert view.thinking_button.text() == "Thinking (4 tokens)" and not view.thinking.isVisible()
    assert without_markup(view.text.document()) == "It is 4."
