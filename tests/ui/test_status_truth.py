"""What the status bar says is about the conversation on screen and the model loaded now (verify 5,
N3, N5, N6): after Stop it shows the reply's numbers the moment the reply has ended (the "Stopping"
message goes with the state it described, and no message ever hides the model's name); after a
model switch no figure of the other model's reply stands beside this model's name; and a narrow
window keeps the model's name, leaving figures out first."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QStatusTipEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QStatusBar

from tests.app.fakes import FakeBackend, FakeSession
from tests.ui.driver import ask, seen, type_and_send
from tests.ui.test_status_fit import clipped, message_overlaps
from tests.ui.test_status_numbers import RealisticSession, click_conversation

NAME = "SmolLM2-135M-Instruct (Q4_1)"
FULL_PROMPT = "prompt 2,173 tok (2,146 cached · 27 computed)"


def _launch_at(qtbot, launch, width: int, session=RealisticSession, **settings):
    """The window at `width` px with a fake model (an endless reply unless `session` says otherwise)."""
    app = launch(FakeBackend(endless=session is RealisticSession, session=session), **settings)
    app.window.resize(width, 780)
    qtbot.waitUntil(lambda: app.window.width() == width)
    return app, app.window, app.window.status


def _stop_a_streaming_reply(qtbot, app) -> None:
    """Send, let tokens stream, press Stop, as a user does; returns while the reply stops."""
    type_and_send(qtbot, app.window, "Write a long essay about bridges.")
    qtbot.waitUntil(lambda: app.controller.busy and len(app.controller.message(1).tokens) > 3, timeout=10_000)
    QTest.mouseClick(app.window.composer.button, Qt.MouseButton.LeftButton)


def _stopped(app) -> bool:
    """The reply has ended as the user sees it: the bubble says stopped and Send is back."""
    view = app.window.transcript.views[1]
    return app.window.composer.button.text() == "Send" and "stopped" in view.meta_label.text()


def test_after_stop_the_status_bar_shows_the_replys_numbers_the_moment_it_has_ended(qtbot, launch):
    app, window, status = _launch_at(qtbot, launch, 1180)
    _stop_a_streaming_reply(qtbot, app)
    # while it stops: said, beside the model's name (a message never hides it)
    assert status.full_message().startswith("Stopping: the model finishes the step it is on")
    assert status.model_label.isVisible() and status.model_label.text().startswith(NAME)
    assert not message_overlaps(status)

    qtbot.waitUntil(lambda: _stopped(app), timeout=10_000)
    # at once, not seconds later: the message has gone with the state it described
    assert status.full_message() == "" and status.currentMessage() == "" and not status.message_label.isVisible()
    assert status.model_label.text() == f"{NAME} · 135M params" and status.model_label.isVisible()
    assert status.prompt_label.text() == FULL_PROMPT  # with its cached part
    assert status.context_label.text() == "context 2,180 / 2,048" and not clipped(status)

    # a message about no state lasts its time: the next reply's start does not end "Copied"
    window.copy_reply_action.trigger()  # Edit → Copy Last Reply
    assert status.full_message().startswith("Copied")
    at_start: list[str] = []  # what the status bar says once the next reply has started
    app.controller.busy_changed.connect(lambda busy: busy and at_start.append(status.full_message()))
    type_and_send(qtbot, window, "and another")
    qtbot.waitUntil(lambda: app.controller.busy and len(app.controller.message(3).tokens) > 3, timeout=10_000)
    assert len(at_start) == 1 and at_start[0].startswith("Copied") and status.model_label.isVisible()
    QTest.keyClick(window.composer.box, Qt.Key.Key_Escape)  # Esc stops it: said, then gone at its end
    assert status.full_message().startswith("Stopping")
    qtbot.waitUntil(lambda: not app.controller.busy, timeout=10_000)
    assert status.full_message() == "" and status.prompt_label.text() == FULL_PROMPT


def test_at_640_px_and_at_the_default_width_the_model_name_is_kept_after_a_stopped_reply(qtbot, launch):
    app, window, status = _launch_at(qtbot, launch, 640)
    _stop_a_streaming_reply(qtbot, app)
    assert status.model_label.isVisible() and status.model_label.text().startswith("SmolLM2")  # while stopping too
    qtbot.waitUntil(lambda: _stopped(app), timeout=10_000)
    qtbot.wait(50)
    name = status.model_label
    assert name.isVisible() and name.text() == NAME and name.geometry().left() < 20  # whole, on the left
    assert status.context_label.isVisible() and status.context_label.text() == "context 2,180 / 2,048"
    assert not clipped(status), clipped(status)
    left_out = [label.full_text() for label in status.labels if label.full_text() and not label.text()]
    assert left_out and status.more_label.isVisible()  # figures went first, each named under "…"
    assert all(text in seen(status.more_label.toolTip()) for text in left_out)

    window.resize(1180, 780)  # the default width: everything, in full
    qtbot.waitUntil(lambda: window.width() == 1180 and not status.more_label.isVisible())
    assert name.text() == f"{NAME} · 135M params" and status.prompt_label.text() == FULL_PROMPT
    assert all(label.text() == label.full_text() for label in status.labels) and not clipped(status)


class TwoWindows(FakeSession):
    """Two fake models with their own context windows: "wide.gguf" reads 32,768 tokens, any other 8,192."""

    def __init__(self, spec, *args):
        super().__init__(spec, *args)
        self.info = self.info | {"context_length": 32_768 if "wide" in spec else 8_192}

    def stats(self, reason: str, generated: int) -> dict:
        window = self.info["context_length"]
        return super().stats(reason, generated) | {
            "prompt_tokens": 280, "cached_tokens": 0, "tokens_per_s": 13.1, "context_used": 280 + generated,
            "context_length": window}  # fmt: skip


def _shown(status) -> list[str]:
    return [w.text() for w in [*status.labels, status.other_label] if w.isVisible() and w.text()]


def test_after_a_model_switch_no_figure_of_the_other_models_reply_stands_beside_this_ones_name(qtbot, launch):
    app, window, status = _launch_at(qtbot, launch, 1180, TwoWindows, max_new_tokens=3)
    home = app.controller.model_info["display_name"]
    with qtbot.waitSignal(app.controller.model_loaded, timeout=20_000):
        window.choose_model("wide.gguf")  # Model → Switch Model
    wide = app.controller.model_info["display_name"]
    ask(qtbot, app, "hello")
    assert status.context_label.text() == "context 283 / 32,768" and status.speed_label.text() == "13.1 tok/s"

    with qtbot.waitSignal(app.controller.model_loaded, timeout=20_000):
        window.choose_model("default")  # back, with the wide model's reply on screen
    assert status.model_label.text().startswith(home)
    shown = " · ".join(_shown(status))
    assert "32,768" not in shown and "283" not in shown and "13.1" not in shown, shown
    assert status.context_label.text() == "context — / 8,192"  # the loaded model's window, not measured in its tokens
    assert status.other_label.text() == f"last reply by {wide}"  # its figures, named, one hover away
    tip = seen(status.other_label.toolTip())
    assert f"written by {wide}" in tip and "context 283 / 32,768" in tip and "13.1 tok/s" in tip
    assert f"Not measured in {home}'s tokens yet: the last reply was written by {wide}" in seen(
        status.context_label.toolTip())

    conversation = app.controller.conversation_title()  # reopened: the same
    window.new_chat()
    assert status.context_label.text() == "context 0 / 8,192" and not status.other_label.isVisible()
    click_conversation(window, conversation)
    assert status.other_label.text() == f"last reply by {wide}" and status.context_label.text() == "context — / 8,192"

    ask(qtbot, app, "and now you")  # this model's reply: its own numbers, over its own window
    assert not status.other_label.isVisible() and status.other_label.full_text() == ""
    assert status.context_label.text().endswith(" / 8,192") and "—" not in status.context_label.text()
    assert status.speed_label.text() == "13.1 tok/s"

    with qtbot.waitSignal(app.controller.model_loaded, timeout=20_000):
        window.choose_model("wide.gguf")  # the reply on screen is now the other model's again
    assert status.other_label.text() == f"last reply by {home}" and status.context_label.text() == "context — / 32,768"


def test_a_menu_items_status_tip_shows_beside_the_name_and_goes_with_the_menu(qtbot, launch):
    """Qt's own messages (a menu item's status tip, sent to the window as it is hovered) go the same
    way: QStatusBar would show them over the model's name."""
    _app, window, status = _launch_at(qtbot, launch, 1180)
    QApplication.sendEvent(window, QStatusTipEvent("Start a new, empty conversation"))  # hovered
    assert status.currentMessage() == "Start a new, empty conversation"
    assert status.model_label.isVisible() and status.model_label.text().startswith(NAME)
    assert QStatusBar.currentMessage(status) == ""  # nothing of Qt's own is drawn over the name
    QApplication.sendEvent(window, QStatusTipEvent(""))  # the menu closed
    assert status.currentMessage() == "" and status.model_label.text() == f"{NAME} · 135M params"
