"""A narrow window keeps the chat usable (verify 7: at 640 px the conversation list stayed open,
210 px of 640, and an Inspector docked at 1180 px stayed docked, leaving the chat ~330 px): the
side panes fold away below a width, the user can open the list again, and a docked Inspector
becomes a window of its own; widened again, the list comes back and the Inspector docks again."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask


def resized(qtbot, window, width: int) -> None:
    window.resize(width, 760)
    qtbot.wait(100)  # the panes and the dock are fitted after the splitter has its width


def test_a_narrow_window_folds_the_list_and_the_user_can_open_it_again(qtbot, launch):
    app = launch(FakeBackend())
    window = app.window
    resized(qtbot, window, 1180)
    ask(qtbot, app, "hello")
    assert window.panes.is_open(0) and window.panes.is_open(2)
    window.splitter.setSizes([210, 1180 - 210 - 400, 400])  # the list as narrow as verify 7 had it
    resized(qtbot, window, 640)
    assert not window.panes.is_open(0) and not window.panes.is_open(2)
    assert window.panes.chat_width() >= window.splitter.width() - 2 * window.splitter.handleWidth()
    QTest.keyClick(window, Qt.Key.Key_L, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: window.panes.is_open(0))  # the user's choice: it stays open at this width
    resized(qtbot, window, 650)
    assert window.panes.is_open(0)
    resized(qtbot, window, 1180)
    qtbot.waitUntil(lambda: window.panes.is_open(0) and window.panes.is_open(2))


def test_a_docked_inspector_floats_in_a_narrow_window_and_docks_again_when_widened(qtbot, launch):
    app = launch(FakeBackend())
    window = app.window
    resized(qtbot, window, 1180)
    ask(qtbot, app, "hello")
    QTest.keyClick(window, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.inspector.isVisible())
    qtbot.wait(50)
    assert not window.inspector.isFloating()  # docked beside the chat at the default width
    resized(qtbot, window, 640)
    qtbot.waitUntil(lambda: window.inspector.isFloating())
    assert window.inspector.isVisible()  # still open, as a window of its own
    assert not window.panes.is_open(0)
    qtbot.waitUntil(lambda: window.panes.chat_width() >= window.splitter.width() - 2 * window.splitter.handleWidth())
    resized(qtbot, window, 1180)
    qtbot.waitUntil(lambda: window.inspector.isVisible() and not window.inspector.isFloating())
    qtbot.waitUntil(lambda: window.panes.chat_width() >= window.panes.chat_min)  # once the dock has settled
    window.inspector.hide()  # closed: the panes come back
    qtbot.waitUntil(lambda: window.panes.is_open(0))


def test_the_inspector_docked_again_keeps_its_steps_drop_down(qtbot, launch):
    """Docked again at its narrow width after floating wide, the Inspector shows its steps as the
    drop-down (it had neither the list nor the drop-down: it was resized while hidden). Real model."""
    app = launch(max_new_tokens=4)
    window, dock = app.window, app.window.inspector
    resized(qtbot, window, 1180)
    ask(qtbot, app, "Hi")
    with qtbot.waitSignal(dock.inspector.service.step_ready, timeout=240000):
        QTest.keyClick(window, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: dock.inspector.step_box.isVisible())  # docked, narrow: the drop-down
    resized(qtbot, window, 640)
    qtbot.waitUntil(lambda: dock.isFloating() and dock.inspector.steps.isVisible())  # wide: the list
    resized(qtbot, window, 1180)
    qtbot.waitUntil(lambda: not dock.isFloating())
    qtbot.waitUntil(lambda: dock.inspector.step_box.isVisible() and not dock.inspector.steps.isVisible())
