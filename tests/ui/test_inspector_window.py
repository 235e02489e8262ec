"""The Inspector as a window part: it fits the window, View > Inspector / Ctrl+I toggles it, panes
give way before the chat does, and it never shows another conversation's step."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask
from ui.inspector.dock import NO_STEP

TIMEOUT_MS = 120000


def _right_edge(window, widget) -> int:
    """Where `widget`'s right edge is, in the window's coordinates."""
    return widget.mapTo(window, QPoint(widget.width(), 0)).x()


def _ctrl_i(window) -> None:
    QTest.keyClick(window.composer.box, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)


@pytest.mark.slow
@pytest.mark.parametrize("width", [1180, 1400])
def test_the_docked_inspector_fits_the_window_and_panes_give_way(qtbot, launch, width):
    app = launch(max_new_tokens=5)
    window = app.window
    window.resize(width, 780)
    qtbot.waitUntil(lambda: window.width() == width)
    ask(qtbot, app, "Name three colors.")
    service = window.inspector.inspector.service
    with qtbot.waitSignal(service.step_ready, timeout=TIMEOUT_MS):
        window.panel.inspect_button.click()  # "Inspect this step…"
    inspector = window.inspector.inspector
    inspector.select_step("6 ·")  # attention: the widest table
    qtbot.wait(100)
    assert window.width() == width  # the window did not grow past its size (off the screen)
    dock = window.inspector
    assert _right_edge(window, dock) <= window.width()
    export = inspector.export_button
    assert export.isVisible() and _right_edge(window, export) <= window.width() or dock.widget().horizontalScrollBar().maximum() > 0
    assert window.panes.chat_width() >= window.panes.chat_min or not (window.panes.is_open(0) or window.panes.is_open(2))

    # turning the panel on again: the Inspector gives up room, the chat keeps its minimum
    if window.panes.is_open(2):
        window.panel_action.trigger()
    window.panel_action.trigger()
    qtbot.wait(50)
    assert window.panes.is_open(2) and window.panel_action.isChecked()
    assert window.panes.chat_width() >= window.panes.chat_min
    assert window.width() == width and _right_edge(window, dock) <= window.width()

    # View > Inspector is a checkable toggle, and Ctrl+I closes what it opened
    assert window.inspector_action.isCheckable() and window.inspector_action.isChecked()
    window.activateWindow()
    _ctrl_i(window)
    qtbot.waitUntil(lambda: not dock.isVisible())
    assert not window.inspector_action.isChecked()
    _ctrl_i(window)
    qtbot.waitUntil(dock.isVisible)
    assert window.inspector_action.isChecked()


def test_inspect_in_an_empty_new_conversation_says_no_step(qtbot, launch):
    app = launch(FakeBackend())
    window = app.window
    ask(qtbot, app, "Hello there")
    view = window.transcript.views[1]
    QTest.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, pos=view.text.token_point(1))
    assert window.panel.inspect_button.isEnabled()
    window.activateWindow()
    QTest.keyClick(window.composer.box, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)  # New Conversation
    qtbot.waitUntil(lambda: not window.controller.conversation.messages)
    assert not window.panel.inspect_button.isEnabled()  # nothing to inspect in an empty conversation
    failed = []
    window.inspector.inspector.service.failed.connect(failed.append)
    window.inspector_action.trigger()  # View > Inspector: opens, no step, no exception
    assert window.inspector.isVisible()
    assert window.inspector.inspector.strip.text() == NO_STEP and not failed
    # a stale step index (a view that kept one) is refused with words, not an IndexError
    window.inspector.inspector.service.inspect_token(1, 3)
    assert failed and "No step selected" in failed[-1]


@pytest.mark.slow
def test_the_inspector_forgets_the_step_when_the_conversation_changes(qtbot, launch):
    app = launch(max_new_tokens=4)
    window = app.window
    ask(qtbot, app, "What is the capital of France?")
    inspector = window.inspector.inspector
    with qtbot.waitSignal(inspector.service.step_ready, timeout=TIMEOUT_MS):
        window.panel.inspect_button.click()
    assert inspector.split.isVisible() and inspector.export_button.isEnabled()
    tokens = inspector.select_step("2 ·").table  # each end of turn says whose turn it ends
    rows = [(tokens.item(r, 2).text(), tokens.item(r, 3).text()) for r in range(tokens.rowCount())]
    ends = [piece.removeprefix("★ ") for piece, part in rows if piece.startswith("★ end of")]
    assert ends[:2] == ["end of the system prompt", "end of your message"]
    assert "end of reply" not in [piece.removeprefix("★ ") for piece, part in rows if part == "prompt"]
    window.new_chat()
    assert inspector.strip.text() == NO_STEP and not inspector.split.isVisible()
    assert not inspector.export_button.isEnabled() and inspector.service.report is None


def test_a_pane_folded_for_the_inspector_comes_back_after_a_restart(qtbot, launch, tmp_path):
    app = launch(FakeBackend(), profile=tmp_path)
    window = app.window
    window.resize(1180, 780)
    qtbot.waitUntil(lambda: window.width() == 1180 and window.panes.is_open(2))
    window.inspector_action.trigger()  # View > Inspector: the panel folds away to make room
    qtbot.waitUntil(lambda: not window.panes.is_open(2))
    assert window.panes.chat_width() >= window.panes.chat_min
    app.close()  # the user never closed the panel: it was folded for room
    again = launch(FakeBackend(), profile=tmp_path)
    again.window.resize(1180, 780)
    qtbot.waitUntil(lambda: again.window.width() == 1180)
    qtbot.waitUntil(lambda: again.window.panes.is_open(2))
    assert again.window.panel_action.isChecked()
