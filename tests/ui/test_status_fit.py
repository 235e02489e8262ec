"""At a 640 px window every item of the status bar is drawn whole (its text no wider than the room
the label got), idle and after Ctrl + / Ctrl 0 while "Text size …" shows; a transient message never
overlaps the items."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask
from tests.ui.test_status_numbers import RealisticSession


def items(status) -> list:
    """The status bar's items: the model's name, the figures, "…" and the server's address."""
    return [*status.labels, status.other_label, status.more_label, status.server_label]


def clipped(status) -> list[tuple[str, int, int]]:
    """(text, text px, room px) of every shown label whose text is wider than its room."""
    out = []
    for label in [*status.labels, status.other_label, status.server_label, status.message_label]:
        if not label.isVisible() or not label.text():
            continue
        room = label.contentsRect().width() - 2 * label.margin()
        need = label.fontMetrics().horizontalAdvance(label.text())
        if need > room or label.geometry().right() >= status.width():
            out.append((label.text(), need, room))
    return out


def message_overlaps(status) -> bool:
    """The transient message is drawn from its label's left edge; does it reach under a shown item
    (the model's name, a figure)?"""
    message = status.message_label
    if not status.currentMessage():
        return False
    left = message.geometry().left()
    right = left + message.fontMetrics().horizontalAdvance(message.text())
    shown = [w for w in items(status) if w.isVisible()]
    return any(w.geometry().left() < right and w.geometry().right() > left for w in shown)


@pytest.mark.parametrize("server", [False, True])
def test_at_640_px_every_item_is_drawn_whole_idle_and_after_zoom(qtbot, launch, server):
    app = launch(FakeBackend(session=RealisticSession))
    window, status = app.window, app.window.status
    if server:  # its address takes room too
        window.status.show_server("API http://127.0.0.1:8080/v1 · 0 running")
    ask(qtbot, app, "a second turn")
    window.resize(640, 700)
    qtbot.waitUntil(lambda: window.width() == 640)
    qtbot.wait(50)
    assert not clipped(status), clipped(status)
    assert status.context_label.isVisible() and status.context_label.text().startswith("context 2,180 / ")

    for key in (Qt.Key.Key_Plus, Qt.Key.Key_Plus, Qt.Key.Key_0):
        QTest.keyClick(window.composer.box, key, Qt.KeyboardModifier.ControlModifier)
        assert status.currentMessage().startswith("Text size")
        # laid out again once the new text size has reached every label (a loaded machine takes longer than 50 ms)
        qtbot.waitUntil(lambda: not clipped(status), timeout=2000)
        assert not message_overlaps(status), status.currentMessage()
    status.clearMessage()
    qtbot.wait(50)
    assert not clipped(status), clipped(status)
    for width in (560, 700, 820, 640):  # dragging the window's edge: whole at every width
        window.resize(width, 700)
        qtbot.waitUntil(lambda w=width: window.width() == w)
        qtbot.wait(30)
        assert not clipped(status), (width, clipped(status))


@pytest.mark.parametrize("width", [1180, 1400])
def test_right_after_zoom_in_a_wide_window_the_message_and_every_item_are_whole(qtbot, launch, width):
    """Verify 4: at 1180 px, right after View → Zoom In the "Text size 120 %" message was painted over
    the model's name and every figure was clipped ("2.9 tok/", "KV cache 5.2 MI") until it went."""
    app = launch(FakeBackend(session=RealisticSession))
    window, status = app.window, app.window.status
    window.resize(width, 780)
    qtbot.waitUntil(lambda: window.width() == width)
    ask(qtbot, app, "a second turn")
    qtbot.wait(50)
    assert not clipped(status), clipped(status)
    for _ in range(2):
        window.zoom_in_action.trigger()
        qtbot.wait(20)
        assert status.currentMessage().startswith("Text size")
        assert status.model_label.isVisible()  # the message goes beside the name, never over it
        assert not clipped(status), (status.currentMessage(), clipped(status))
        assert not message_overlaps(status), status.currentMessage()
        qtbot.wait(200)  # the zoom's new fonts and the status bar's rebuilt layout have arrived
        assert status.model_label.isVisible() and status.model_label.text().startswith("SmolLM2")
        assert not clipped(status), (status.currentMessage(), clipped(status))
        assert not message_overlaps(status), status.currentMessage()
    status.clearMessage()  # the message ends: the figures take their full forms again
    qtbot.waitUntil(lambda: status.model_label.isVisible() and not clipped(status))
