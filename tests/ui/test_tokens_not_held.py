"""No token of a streaming reply waits for the next one to be drawn: the worker batches tokens
(`app.token_batcher`), and a token held for its batch goes out when the batch interval has passed
even while the model is still computing the next one (a slow step, a pause); the token that ends
a reply is drawn at once. Driven through the window with a fake model that stops mid-reply on a
gate until the test has looked."""

from __future__ import annotations

import threading

from tests.app.fakes import FakeBackend, FakeSession
from tests.ui.driver import REPLY_TIMEOUT_MS, type_and_send

WORDS = [("Hello", "Hello"), (" world", " world"), (",", ","), (" again", " again")]
GATE_S = REPLY_TIMEOUT_MS / 1000
SEEN_MS = 10000  # far longer than a batch (0.04 s): a held token would wait for the gate instead


class GatedSession(FakeSession):
    """Yields its events at once, but waits on `gate` before yielding event number `wait_before`
    (the model computing a slow next step)."""

    wait_before = 2
    gate: threading.Event | None = None

    def stream(self, request, should_stop, progress):
        for i, event in enumerate(super().stream(request, should_stop, progress)):
            if i == self.wait_before:
                self.gate.wait(GATE_S)
            yield event


def reply_view(qtbot, window):
    qtbot.waitUntil(lambda: len(window.transcript.views) == 2, timeout=REPLY_TIMEOUT_MS)
    return window.transcript.views[1]


def test_a_token_is_drawn_while_the_model_computes_the_next(qtbot, launch, monkeypatch):
    monkeypatch.setattr(GatedSession, "gate", gate := threading.Event())
    app = launch(FakeBackend(WORDS, session=GatedSession))
    try:
        type_and_send(qtbot, app.window, "hello")
        view = reply_view(qtbot, app.window)
        # "Hello" goes out at once, " world" right after it (inside the batch): it must not wait
        # for "," (behind the gate)
        qtbot.waitUntil(lambda: view.text.toPlainText() == "Hello world", timeout=SEEN_MS)
        assert app.controller.busy
    finally:
        gate.set()
    qtbot.waitUntil(lambda: not app.controller.busy, timeout=REPLY_TIMEOUT_MS)
    assert view.text.toPlainText() == "Hello world, again"


def test_the_last_token_is_drawn_when_the_reply_ends(qtbot, launch, monkeypatch):
    monkeypatch.setattr(GatedSession, "gate", gate := threading.Event())
    monkeypatch.setattr(GatedSession, "wait_before", len(WORDS) + 1)  # after the end token: the ReplyDone
    app = launch(FakeBackend(WORDS, session=GatedSession))
    try:
        type_and_send(qtbot, app.window, "hello")
        view = reply_view(qtbot, app.window)
        qtbot.waitUntil(lambda: len(view.message.tokens) == len(WORDS) + 1, timeout=SEEN_MS)
        assert view.text.toPlainText() == "Hello world, again"
        assert view.message.tokens[-1].finish_reason == "eos"
    finally:
        gate.set()
    qtbot.waitUntil(lambda: not app.controller.busy, timeout=REPLY_TIMEOUT_MS)
