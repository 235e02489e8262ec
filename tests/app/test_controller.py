"""The chat controller with a fake backend on a real worker thread."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.controller import ChatController
from app.settings import AppSettings, Settings
from app.worker import Worker, WorkerThread
from engine.sampling import SamplingSettings
from tests.app.fakes import BROKEN, REPLY, FakeBackend

TIMEOUT_MS = 20000


@pytest.fixture
def make_controller(qtbot):
    threads = []

    def make(backend=None, settings=None):
        backend = backend or FakeBackend()
        thread = WorkerThread(Worker(backend))
        threads.append(thread)
        controller = ChatController(thread.worker, settings or Settings())
        with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS):
            controller.load_model(controller.settings.app.model)
        return controller, backend

    yield make
    for thread in threads:
        thread.stop()


def reply(qtbot, controller, text):
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS) as done:
        assert controller.send(text)
    return done.args


def test_blank_messages_are_not_sent(qtbot, make_controller):
    controller, backend = make_controller()
    with qtbot.assertNotEmitted(controller.message_added):
        assert not controller.send("")
        assert not controller.send("  \n\t ")
    assert controller.conversation.messages == []
    assert backend.sessions[0].requests == []


def test_an_index_that_is_not_shown_changes_nothing(qtbot, make_controller):
    """A negative or too large index never reaches a message by Python's negative indexing."""
    controller, backend = make_controller()
    reply(qtbot, controller, "Hi there")
    shown = [(m.role, m.text) for m in controller.conversation.messages]
    with qtbot.assertNotEmitted(controller.message_added):
        assert not controller.edit_and_resend(-2, "edited")  # would be the user message
        assert not controller.edit_and_resend(5, "edited")
        assert not controller.continue_with(1, -1, 7)  # would keep all but the last token
        assert not controller.continue_with(1, 99, 7)
        assert not controller.continue_with(-1, 0, 7)
        controller.switch_branch(-1, 1)
        controller.switch_branch(9, -1)
    assert [(m.role, m.text) for m in controller.conversation.messages] == shown
    assert len(backend.sessions[0].requests) == 1


def test_a_reply_streams_into_the_conversation(qtbot, make_controller):
    controller, _ = make_controller()
    busy = []
    controller.busy_changed.connect(busy.append)
    index, stats = reply(qtbot, controller, "Hi there")
    user, assistant = controller.conversation.messages
    assert (user.role, user.text) == ("user", "Hi there")
    assert index == 1 and assistant.text == REPLY and assistant.finish_reason == "eos"
    assert len(assistant.tokens) == stats["generated_tokens"]
    assert busy == [True, False] and not controller.busy


def test_sending_is_refused_while_a_reply_streams(qtbot, make_controller):
    controller, backend = make_controller(FakeBackend(endless=True))
    assert controller.send("first")
    qtbot.waitUntil(lambda: bool(controller.conversation.messages[1].tokens), timeout=TIMEOUT_MS)
    assert not controller.send("second")
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        controller.stop()
    reply_message = controller.conversation.messages[1]
    assert reply_message.finish_reason == "cancelled" and reply_message.text
    assert len(controller.conversation.messages) == 2


def test_the_prompt_has_the_system_prompt_and_the_history(qtbot, make_controller):
    settings = Settings(app=replace(AppSettings(), system_prompt="Be terse."))
    controller, backend = make_controller(settings=settings)
    reply(qtbot, controller, "one")
    reply(qtbot, controller, "two")
    messages = backend.sessions[0].requests[-1].messages
    assert messages == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": REPLY},
        {"role": "user", "content": "two"},
    ]


def test_new_settings_apply_to_the_next_reply(qtbot, make_controller):
    controller, backend = make_controller()
    reply(qtbot, controller, "one")
    cooler = replace(controller.settings, sampling=replace(SamplingSettings(), temperature=0.0),
                     app=replace(controller.settings.app, max_new_tokens=3))
    saved = []
    controller.settings_changed.connect(saved.append)
    controller.apply_settings(cooler)
    assert saved == [cooler]
    reply(qtbot, controller, "two")
    request = backend.sessions[0].requests[-1]
    assert request.sampling.temperature == 0.0 and request.max_new_tokens == 3
    assert controller.conversation.messages[-1].finish_reason == "length"


def test_a_failed_model_load_keeps_the_previous_model(qtbot, make_controller):
    controller, backend = make_controller()
    with qtbot.waitSignal(controller.model_failed, timeout=TIMEOUT_MS) as failed:
        controller.apply_settings(replace(controller.settings, app=replace(controller.settings.app, model=BROKEN)))
    assert "corrupt" in failed.args[0]
    assert controller.model_info["spec"] == "default"
    index, stats = reply(qtbot, controller, "still there?")
    assert controller.message(index).text == REPLY


def test_a_failed_reply_is_reported_and_left_out_of_the_history(qtbot, make_controller):
    controller, backend = make_controller()
    with qtbot.waitSignal(controller.reply_failed, timeout=TIMEOUT_MS) as failed:
        controller.send("explode")
    assert "exploded" in failed.args[1] and not controller.busy
    reply(qtbot, controller, "again")
    roles = [m["role"] for m in backend.sessions[0].requests[-1].messages]
    assert roles == ["system", "user", "user"]


def test_new_chat_forgets_the_conversation(qtbot, make_controller):
    controller, _ = make_controller()
    reply(qtbot, controller, "one")
    with qtbot.waitSignal(controller.conversation_reset):
        controller.new_chat()
    assert controller.conversation.messages == []


def test_a_saved_model_that_fails_falls_back_to_the_default(qtbot):
    thread = WorkerThread(Worker(FakeBackend()))
    try:
        settings = Settings(app=replace(AppSettings(), model=f"/gone/{BROKEN}"))
        controller = ChatController(thread.worker, settings)
        failures = []
        controller.model_failed.connect(failures.append)
        with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS) as loaded:
            controller.load_model(settings.app.model)
        assert loaded.args[0]["spec"] == "default"
        assert len(failures) == 1 and failures[0].endswith("Loading the default model instead.")
        assert controller.settings.app.model == "default" and not controller.model_loading_now
    finally:
        thread.stop()
