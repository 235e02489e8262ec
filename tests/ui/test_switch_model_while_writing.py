"""Switching the model while a reply is written (trial 6, finding 9): the worker finishes the reply
with the model writing it, so the status bar keeps that model's name and figures and says the
switch waits; "Loading …" and the busy bar come only when the load really starts."""

from __future__ import annotations

from tests.app.fakes import FakeBackend
from tests.ui.driver import REPLY_TIMEOUT_MS, type_and_send


def test_a_model_chosen_mid_reply_waits_for_the_reply_and_the_bar_says_so(qtbot, launch, tmp_path):
    other = tmp_path / "gemma-3-270m-q4_k_m.gguf"
    other.write_bytes(b"GGUF")
    app = launch(FakeBackend(endless=True))
    window, controller, status = app.window, app.controller, app.window.status
    writer = status.model_label.full_text()
    assert writer.startswith("Fake ")
    type_and_send(qtbot, window, "Tell me a long story")
    qtbot.waitUntil(lambda: controller.busy and len(controller.message(1).tokens) > 5, timeout=REPLY_TIMEOUT_MS)

    events: list[str] = []
    controller.model_loading.connect(lambda _p, text: events.append(f"loading {text}"))
    controller.reply_finished.connect(lambda *_: events.append("reply finished"))
    window.choose_model(str(other))
    qtbot.wait(200)  # the reply goes on: the bar still names the model writing it, no busy bar
    assert controller.busy
    assert status.model_label.full_text() == writer and "Loading" not in status.model_label.text()
    assert not status.progress.isVisible()
    assert status.full_message() == "gemma-3-270m-q4_k_m will load when this reply ends"
    assert status.message_label.isVisible()
    assert events == []

    with qtbot.waitSignal(controller.model_loaded, timeout=REPLY_TIMEOUT_MS):
        window.composer.button.click()  # Stop: the load starts after the reply
    assert events[0] == "reply finished" and events[1].startswith("loading ")  # Loading… only once it is true
    assert status.full_message() == ""  # the waiting is over
    assert status.model_label.full_text().startswith(f"Fake {other}")
    assert not status.progress.isVisible()


def test_a_model_chosen_while_idle_says_loading_at_once(qtbot, launch, tmp_path):
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")
    app = launch(FakeBackend())
    shown: list[str] = []
    app.controller.model_loading.connect(lambda _p, _text: shown.append(app.window.status.model_label.text()))
    with qtbot.waitSignal(app.controller.model_loaded, timeout=REPLY_TIMEOUT_MS):
        app.window.choose_model(str(other))
    assert shown and shown[0] == "Loading other…"  # the name every view uses (app.model_names), not the file's
    assert app.window.status.full_message() == ""
