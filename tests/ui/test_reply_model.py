"""A reply's tokens are used only with the model that wrote them (trial 5, findings 16, 16b and 23):
after switching model, Continue, Continue with another token and Inspect this step say which model
wrote the reply and that it must be loaded again, instead of feeding one model's token ids to
another; switched back, they work and the notice has gone. Driven through the window (fake models
with different names); reopened replies know their model from the store."""

from __future__ import annotations

from dataclasses import replace

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask

LOAD_MS = 20_000


def _switch(qtbot, app, spec: str) -> None:
    settings = app.controller.settings
    with qtbot.waitSignal(app.controller.model_loaded, timeout=LOAD_MS):
        app.controller.apply_settings(replace(settings, app=replace(settings.app, model=spec)))  # Model → Switch Model


def test_a_reply_is_continued_and_inspected_only_with_the_model_that_wrote_it(qtbot, launch):
    backend = FakeBackend()
    app = launch(backend, max_new_tokens=3)
    writer = app.controller.model_info["display_name"]
    reply = ask(qtbot, app, "hello")
    assert reply.finish_reason == "length" and reply.asked["model"] == writer

    _switch(qtbot, app, "other.gguf")
    other = app.controller.model_info["display_name"]
    view = app.window.transcript.views[1]
    QTest.mouseClick(view.continue_button, Qt.MouseButton.LeftButton)
    expected = (f"This reply was written by {writer}, and {other} is loaded now: its tokens mean other text to "
                f"{other}. Switch back to {writer} (Model → Switch Model) to continue it.")
    assert app.window.notice.text() == expected
    assert not app.controller.busy and backend.sessions[-1].requests == []  # nothing was asked of the other model
    assert not app.controller.continue_with(1, 1, 5)  # nor a branch from one of its tokens
    assert backend.sessions[-1].requests == [] and len(app.controller.message(1).tokens) == 3

    app.window.inspector.inspect(1, 0)  # right-click → Inspect
    status = app.window.inspector.inspector.status_label.text()
    assert status.startswith(f"This reply was written by {writer}") and status.endswith("to inspect this step.")
    assert app.window.inspector.inspector.service.report is None  # no earlier step stays as if it were this one

    # reopened from the store, the reply still knows its model
    conversation = app.controller.conversation_id
    app.window.new_chat()
    assert app.window.notice.text() == ""  # about a reply of that conversation: not true of a new one (verify 5)
    app.controller.open_conversation(conversation)
    assert app.controller.message(1).asked["model"] == writer
    assert not app.controller.continue_reply()

    _switch(qtbot, app, "default")
    assert app.controller.model_info["display_name"] == writer
    assert app.window.notice.text() == ""  # no longer true: the writer is loaded again
    with qtbot.waitSignal(app.controller.reply_finished, timeout=LOAD_MS):
        assert app.controller.continue_reply()
    assert len(app.controller.message(1).tokens) == 6
    assert backend.sessions[-1].requests[-1].continue_ids == tuple(t.token for t in reply.tokens)
