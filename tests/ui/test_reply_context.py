"""A reply is reopened with the context it was written in: after the system prompt or the decoding
settings change, inspecting one of its tokens (now and after a restart) shows the numbers the panel
showed, from the same prompt; only a new reply uses the new settings."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask

TIMEOUT_MS = 120000


def _inspect(qtbot, window, index: int, token: int) -> dict:
    service = window.inspector.inspector.service
    with qtbot.waitSignal(service.step_ready, timeout=TIMEOUT_MS) as got:
        window.inspect_token(index, token)
    return got.args[0]


def _change_settings(controller, **app_fields) -> None:
    """What Preferences' OK does: new settings from the next reply on."""
    settings = controller.settings
    sampling = replace(settings.sampling, temperature=1.3, top_k=5)
    controller.apply_settings(replace(settings, sampling=sampling, app=replace(settings.app, **app_fields)))


@pytest.mark.slow
def test_inspecting_an_older_reply_uses_the_prompt_it_was_written_with(qtbot, launch, tmp_path):
    app = launch(max_new_tokens=4, system_prompt="You are a helpful assistant.")
    window, controller = app.window, app.controller
    reply = ask(qtbot, app, "What is the capital of France?")
    index = controller.conversation.messages.index(reply)
    record = reply.tokens[1]
    _change_settings(controller, system_prompt="You are a pirate. Answer every question as a pirate would.")

    report = _inspect(qtbot, window, index, 1)
    assert report["prompt_tokens"] == reply.stats["prompt_tokens"]  # the prompt it was fed
    assert "helpful" in "".join(report["pieces"]) and "pirate" not in "".join(report["pieces"])
    assert abs(report["token_logprob"] - record.logprob) < 1e-4
    conversation = controller.conversation_id
    app.close()

    again = launch(profile=tmp_path)  # a restart: the reply is read back from the store
    again.controller.open_conversation(conversation)
    reopened = again.controller.message(index)
    assert reopened.asked.get("system_prompt") == "You are a helpful assistant."
    report = _inspect(qtbot, again.window, index, 1)
    assert report["prompt_tokens"] == reply.stats["prompt_tokens"]
    assert abs(report["token_logprob"] - record.logprob) < 1e-4


@pytest.mark.parametrize("reopen", [False, True])
def test_continue_and_branch_use_the_replys_context_and_regenerate_the_new_one(qtbot, launch, tmp_path, reopen):
    """Continue and "Continue with this token" go on from the reply's own prompt and settings (its
    tokens were written in it; Continue writes at most today's Max new tokens more), also after a
    restart; Regenerate is a new reply: today's settings."""
    backend = FakeBackend()
    app = launch(backend, max_new_tokens=3, system_prompt="Be brief.")
    ask(qtbot, app, "hello")
    asked_with = backend.sessions[-1].requests[-1]
    _change_settings(app.controller, system_prompt="Be a pirate.", max_new_tokens=2)
    if reopen:  # a restart in between: what it was asked with comes back from the store
        conversation = app.controller.conversation_id
        app.close()
        backend = FakeBackend()
        app = launch(backend, profile=tmp_path)
        app.controller.open_conversation(conversation)
    window, controller = app.window, app.controller

    with qtbot.waitSignal(controller.reply_finished, timeout=20000):
        window.continue_action.trigger()  # Edit > Continue Last Reply
    request = backend.sessions[-1].requests[-1]
    assert request.system_prompt == "Be brief." and request.sampling == asked_with.sampling
    # how many more tokens is today's limit (no part of the prompt; trial 5 #19: the old 512 surprised)
    assert request.max_new_tokens == 2 != asked_with.max_new_tokens and request.continue_ids

    token = controller.message(1).tokens[1]
    with qtbot.waitSignal(controller.reply_finished, timeout=20000):
        assert controller.continue_with(1, 1, token.top_raw[-1][0])  # the panel's "Continue with …"
    request = backend.sessions[-1].requests[-1]
    assert request.system_prompt == "Be brief." and request.sampling == asked_with.sampling
    assert controller.message(1).asked["system_prompt"] == "Be brief."  # the branch keeps that context

    with qtbot.waitSignal(controller.reply_finished, timeout=20000):
        window.regenerate_action.trigger()
    request = backend.sessions[-1].requests[-1]
    assert request.system_prompt == "Be a pirate." and request.sampling.temperature == 1.3
    assert controller.message(1).asked["system_prompt"] == "Be a pirate."
