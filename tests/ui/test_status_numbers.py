"""The status bar describes the conversation on screen, in units a person reads: a new one starts
at zero, a switch or a restart brings back that conversation's numbers, and the context window is
the one the next request gets (the reply limit in its tooltip)."""

from __future__ import annotations

import threading

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QToolTip

from tests.app.fakes import FakeBackend, FakeSession
from tests.ui.driver import ask, seen, type_and_send


class SlowStartSession(FakeSession):
    """A reply that took 22.2 s to start in a conversation that fills 1,100 tokens."""

    def stats(self, reason: str, generated: int) -> dict:
        return super().stats(reason, generated) | {"ttft_s": 22.207, "prompt_tokens": 1090, "context_used": 1100}



def labels(window) -> dict[str, str]:
    status = window.status
    return {"prompt": status.prompt_label.full_text(), "speed": status.speed_label.full_text(),
            "first": status.ttft_label.full_text(), "context": status.context_label.full_text()}  # fmt: skip


def click_conversation(window, title: str) -> None:
    listing = window.sidebar.list
    row = next(r for r in range(listing.count()) if listing.item(r).text() == title)
    rect = listing.visualItemRect(listing.item(row))
    QTest.mouseClick(listing.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())


def test_numbers_follow_the_conversation_on_screen_across_new_switch_and_restart(qtbot, launch, tmp_path):
    app = launch(FakeBackend(session=SlowStartSession))
    ask(qtbot, app, "a long conversation")
    measured = labels(app.window)
    assert measured["first"] == "first token 22.2 s"  # not "22,207 ms"
    assert measured["context"] == "context 1,100 / 2,048"

    app.window.new_chat()
    fresh = labels(app.window)
    assert fresh == {"prompt": "", "speed": "", "first": "", "context": "context 0 / 2,048"}

    click_conversation(app.window, "a long conversation")
    assert labels(app.window) == measured
    app.close()

    again = launch(FakeBackend(), profile=tmp_path)  # reopens the latest conversation at start
    assert labels(again.window)["context"] == "context 1,100 / 2,048"
    assert labels(again.window)["first"] == "first token 22.2 s"


def test_the_context_window_shown_is_the_one_set_in_preferences(qtbot, launch):
    app = launch(FakeBackend(), context_length=300, max_new_tokens=64)
    assert labels(app.window)["context"] == "context 0 / 300"
    tip = app.window.status.context_label.toolTip()
    assert "limit set in Preferences" in tip and "stops after 64 new tokens" in tip


class RealisticSession(FakeSession):
    """The default model's name and a second turn's numbers: a long row of numbers."""

    def __init__(self, *args):
        super().__init__(*args)
        self.info = self.info | {"display_name": "SmolLM2-135M-Instruct (Q4_1)", "n_params": 134_515_008}

    def stats(self, reason: str, generated: int) -> dict:
        return super().stats(reason, generated) | {
            "prompt_tokens": 2173, "cached_tokens": 2146, "tokens_per_s": 23.4, "ttft_s": 1.25,
            "context_used": 2180, "kv_bytes": 3_500_000}  # fmt: skip


def shown_whole(status, label) -> bool:
    """On screen inside the status bar, as wide as its text needs (nothing cut)."""
    geometry = label.geometry()
    return label.isVisible() and geometry.left() >= 0 and geometry.right() <= status.width() and (
        label.width() >= label.sizeHint().width())


def test_at_640_px_the_numbers_fit_in_short_forms_with_the_full_text_in_tooltips(qtbot, launch):
    app = launch(FakeBackend(session=RealisticSession))
    window, status = app.window, app.window.status
    window.resize(1400, 700)
    ask(qtbot, app, "a second turn")
    qtbot.wait(50)
    full = [label.text() for label in status.labels]
    assert full[1] == "prompt 2,173 tok (2,146 cached · 27 computed)" and all(full)
    assert all(shown_whole(status, label) for label in status.labels) and not status.more_label.isVisible()

    window.resize(640, 700)
    qtbot.waitUntil(lambda: window.width() == 640)
    qtbot.wait(50)
    assert window.width() == 640  # the numbers never hold the window wider
    shown = [label for label in status.labels if label.text()]
    assert all(shown_whole(status, label) for label in shown), [(w.text(), w.geometry()) for w in shown]
    texts = {label.text() for label in shown}
    assert "context 2,180 / 2,048" in texts or "context 2,180 / 8,192" in texts or any(
        t.startswith("context 2,180 / ") for t in texts)
    # verify 5, N6: the model's name is the last thing left out (the figures go first), whole here
    assert "SmolLM2-135M-Instruct (Q4_1)" in texts and status.model_label.geometry().left() < 20
    for label, whole in zip(status.labels, full, strict=True):
        if label.text() and label.text() != whole:  # a shorter form: the whole text is in its tooltip
            assert seen(label.toolTip()).startswith(whole), label.toolTip()
    left_out = [whole for label, whole in zip(status.labels, full, strict=True) if not label.text()]
    if left_out:  # what has no room at all is named under the "…" at the end of the row
        assert shown_whole(status, status.more_label)
        assert all(whole in seen(status.more_label.toolTip()) for whole in left_out)
        QTest.mouseClick(status.more_label, Qt.MouseButton.LeftButton)  # a click says it too
        assert QToolTip.isVisible() and all(whole in seen(QToolTip.text()) for whole in left_out)

    for _ in range(3):  # a larger text size (Ctrl +): the numbers fit again, in shorter forms
        QTest.keyClick(window.composer.box, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    assert app.controller.settings.app.zoom_percent > 100
    qtbot.waitUntil(lambda: all(shown_whole(status, label) for label in status.labels if label.text()))
    assert window.width() == 640 and status.context_label.text().startswith("context 2,180")
    name = status.model_label.text()
    assert name.startswith("SmolLM2") and len(name) > 8  # the model's name kept, cut with "…" at most
    QTest.keyClick(window.composer.box, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)

    status.clearMessage()  # "Text size 100 %" has gone
    window.resize(1400, 700)  # room again: the full forms come back
    qtbot.waitUntil(lambda: [label.text() for label in status.labels] == full)


def test_a_long_message_is_cut_to_the_room_and_shown_whole_in_the_tooltip(qtbot, launch):
    app = launch(FakeBackend(session=RealisticSession))
    window, status = app.window, app.window.status
    ask(qtbot, app, "a second turn")
    window.resize(640, 700)
    qtbot.waitUntil(lambda: window.width() == 640)
    long = "Exported to /home/someone/Documents/conversations/a very long folder name/a second turn.md"
    window.show_message(long)
    qtbot.wait(50)
    shown = status.currentMessage()
    assert shown != long and shown.endswith("…") and long.startswith(shown[:-1])
    assert seen(status.message_label.toolTip()) == long and status.full_message() == long
    message = status.message_label.geometry()
    right = message.left() + status.fontMetrics().horizontalAdvance(shown)
    numbers = [label for label in status.labels[1:] if label.text()]
    assert numbers and right < min(label.geometry().left() for label in numbers)  # not under the numbers
    assert status.model_label.isVisible() and status.model_label.geometry().right() < message.left()  # nor the name
    status.clearMessage()
    assert status.currentMessage() == "" and not status.message_label.isVisible()
    assert status.model_label.isVisible() == bool(status.model_label.text())  # back as the room allows


class ReadingSession(SlowStartSession):
    """Its second reply waits while it reads the prompt, until the test lets it go on."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.go_on = threading.Event()

    def stream(self, request, should_stop, progress):
        if len(self.requests) == 1:  # the second reply
            progress(14, 232)
            self.go_on.wait(10)
        yield from super().stream(request, should_stop, progress)


def test_while_a_prompt_is_read_no_number_of_the_previous_reply_is_shown(qtbot, launch):
    """Trial 5 #6: "prompt 142/232" stood beside the previous reply's speed, first token and KV cache."""
    backend = FakeBackend(session=ReadingSession)
    app = launch(backend)
    ask(qtbot, app, "first")
    assert labels(app.window)["first"].startswith("first token 22")
    type_and_send(qtbot, app.window, "second")
    qtbot.waitUntil(lambda: labels(app.window)["prompt"] == "prompt 14/232")
    shown = labels(app.window)
    assert (shown["speed"], shown["first"], app.window.status.kv_label.full_text()) == ("", "", "")
    assert shown["context"].startswith("context 232 / ")  # the prompt being read fills this much
    with qtbot.waitSignal(app.controller.reply_finished, timeout=10000):
        backend.sessions[-1].go_on.set()
    assert labels(app.window)["first"].startswith("first token 22")  # the new reply's numbers


def test_stop_while_the_prompt_is_read_is_answered_at_once(qtbot, launch):
    """Trial 5 #35: Stop during "reading the prompt…" showed no sign for ~10 s (the step ends first)."""
    backend = FakeBackend(session=ReadingSession)
    app = launch(backend)
    ask(qtbot, app, "first")
    type_and_send(qtbot, app.window, "second")
    qtbot.waitUntil(lambda: labels(app.window)["prompt"] == "prompt 14/232")
    button = app.window.composer.button
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)  # Stop, while the step goes on
    assert button.text() == "Stopping…" and not button.isEnabled() and app.controller.busy
    assert app.window.status.currentMessage().startswith("Stopping")
    with qtbot.waitSignal(app.controller.reply_finished, timeout=10000):
        backend.sessions[-1].go_on.set()
    assert button.text() == "Send" and app.controller.message(3).finish_reason == "cancelled"
