"""The side panes through the View menu, their handles and a narrow window (fake backend, fast)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend


def wide(qtbot, window, width: int = 1300):
    """The offscreen screen is 800 px wide, so the window starts narrow: make it roomy."""
    window.resize(width, 800)
    qtbot.waitUntil(lambda: window.width() == width and window.panes.is_open(0) and window.panes.is_open(2))


def test_ctrl_shift_p_hides_and_shows_the_next_token_panel(qtbot, launch):
    app = launch(FakeBackend())
    window = app.window
    wide(qtbot, window)
    assert window.panel.isVisible() and window.panel.width() > 0
    chat_before = window.panes.chat_width()
    window.activateWindow()
    QTest.keyClick(window.composer.box, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: not window.panes.is_open(2))
    assert not window.panel_action.isChecked()
    assert window.panes.chat_width() > chat_before  # the chat got the panel's width
    window.panel_action.trigger()  # View > Next-Token Panel again
    qtbot.waitUntil(lambda: window.panes.is_open(2))
    assert window.panel_action.isChecked() and window.panel.width() >= window.panel.minimumWidth()


def test_the_conversation_list_collapses_from_the_view_menu(qtbot, launch):
    app = launch(FakeBackend())
    window = app.window
    wide(qtbot, window)
    window.sidebar_action.trigger()
    assert not window.panes.is_open(0) and not window.sidebar_action.isChecked()
    window.sidebar_action.trigger()
    assert window.panes.is_open(0) and window.sidebar_action.isChecked()


def test_dragging_a_handle_shut_unchecks_the_menu_item(qtbot, launch):
    app = launch(FakeBackend())
    window = app.window
    wide(qtbot, window)
    splitter = window.splitter
    handle = splitter.handle(2)  # between the chat and the panel
    start = handle.rect().center()
    QTest.mousePress(handle, Qt.MouseButton.LeftButton, pos=start)
    QTest.mouseMove(handle, start + type(start)(splitter.width(), 0))
    QTest.mouseRelease(handle, Qt.MouseButton.LeftButton, pos=start + type(start)(splitter.width(), 0))
    qtbot.waitUntil(lambda: not window.panes.is_open(2))
    assert not window.panel_action.isChecked()


def test_a_640_px_window_gives_the_chat_most_of_its_width(qtbot, launch):
    app = launch(FakeBackend())
    window = app.window
    wide(qtbot, window)
    window.resize(640, 600)
    qtbot.waitUntil(lambda: window.width() == 640)
    qtbot.waitUntil(lambda: window.panes.chat_width() >= 0.6 * window.width())
    assert not window.panes.is_open(2)  # the panel folded away first
    assert not window.panel_action.isChecked()
    window.resize(1400, 800)  # room again: what the window folded comes back
    qtbot.waitUntil(lambda: window.panes.is_open(2) and window.panes.is_open(0))
    assert window.panel_action.isChecked()
    assert window.panes.chat_width() > window.panel.width()


def test_a_pane_the_user_closed_stays_closed_when_the_window_grows(qtbot, launch):
    app = launch(FakeBackend())
    window = app.window
    wide(qtbot, window)
    window.panel_action.trigger()
    window.resize(640, 600)
    qtbot.waitUntil(lambda: window.width() == 640)
    window.resize(1400, 800)
    qtbot.waitUntil(lambda: window.width() == 1400)
    qtbot.wait(50)
    assert not window.panes.is_open(2)


def narrow_window(qtbot, launch, width: int):
    """A window `width` px wide, once it has folded the panel away."""
    window = launch(FakeBackend()).window
    window.resize(width, 600)
    qtbot.waitUntil(lambda: window.width() == width and not window.panes.is_open(2))
    return window


def test_opening_the_panel_in_a_narrow_window_makes_room_for_it_and_closing_gives_it_back(qtbot, launch):
    window = narrow_window(qtbot, launch, 700)
    assert window.panes.is_open(0)
    window.panel_action.trigger()
    assert window.panes.is_open(2) and window.panel_action.isChecked()
    assert not window.panes.is_open(0) and not window.sidebar_action.isChecked()  # the list made room
    assert window.panes.chat_width() >= 280
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    QTest.keyClick(window.composer.box, Qt.Key.Key_P, ctrl_shift)
    assert not window.panes.is_open(2)
    assert window.panes.is_open(0) and window.sidebar_action.isChecked()  # the list came back
    assert window.panes.chat_width() >= 280


def test_with_the_panel_open_in_a_640_px_window_the_message_box_keeps_its_room(qtbot, launch):
    window = narrow_window(qtbot, launch, 640)
    window.panel_action.trigger()
    composer, box = window.composer, window.composer.box
    qtbot.waitUntil(lambda: composer.attach_button.text() == "+")
    assert "Attach" in composer.attach_button.toolTip() and composer.attach_button.accessibleName()
    qtbot.waitUntil(lambda: box.width() >= composer.width() // 2, timeout=2000)  # the box has the width, not the buttons
    placeholder = box.placeholderText()
    assert box.fontMetrics().horizontalAdvance(placeholder) <= box.viewport().width()  # on one line
    window.show_message("A message in the status bar")  # the window's parts move; the panel stays
    qtbot.wait(100)
    assert window.panes.is_open(2) and window.panel_action.isChecked()
    window.panel_action.trigger()
    qtbot.waitUntil(lambda: not window.panes.is_open(2) and box.width() >= composer.width() // 2)  # the box keeps its room
    assert not window.panes.is_open(0)  # below ui.panes.NARROW_WIDTH the list stays folded until the user opens it


def test_the_panes_get_their_widths_back_when_a_narrowed_window_widens_again(qtbot, launch):
    """Trial 4: the conversation list stayed ~150 px after the window went to 640 px and back."""
    app = launch(FakeBackend())
    window = app.window
    wide(qtbot, window, 1180)
    before = window.splitter.sizes()
    assert before[0] > 200 and before[2] > 0
    for width in (900, 640, 1180):
        window.resize(width, 800)
        qtbot.waitUntil(lambda width=width: window.width() == width)
        qtbot.wait(50)
    qtbot.waitUntil(lambda: abs(window.splitter.sizes()[0] - before[0]) <= 2 and abs(window.splitter.sizes()[2] - before[2]) <= 2)
    assert window.panes.chat_width() >= window.panes.chat_min


def test_zooming_grows_the_panels_tokens_rows_and_legend_with_the_text(qtbot, launch):
    """Trial 4: after View → Zoom In the candidate tokens stayed small beside big percentages and the
    legend's caption was cut by its swatches."""
    from tests.ui.driver import ask
    from ui.fonts import fixed_font
    from ui.probability_panel import DistributionBars, TintLegend

    app = launch(FakeBackend())
    window = app.window
    wide(qtbot, window)
    ask(qtbot, app, "Hello")
    bars = window.panel.findChildren(DistributionBars)[0]
    legend = window.panel.findChildren(TintLegend)[0]
    before = (bars.font().pointSizeF(), bars.row_height(), legend.height())
    for _ in range(3):
        QTest.keyClick(window.composer.box, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: bars.font().pointSizeF() > before[0])
    assert fixed_font(bars.font()).pointSizeF() == bars.font().pointSizeF()  # tokens as big as their numbers
    assert fixed_font().pointSizeF() == app.window.font().pointSizeF()  # code too
    assert bars.row_height() > before[1] and bars.height() == len(bars.rows) * bars.row_height()
    assert legend.height() >= 2 * legend.fontMetrics().height() + 10 > before[2] - 1  # caption above the swatches
    QTest.keyClick(window.composer.box, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)


def test_every_side_pane_gets_its_width_back_after_a_straight_drop_to_640_px(qtbot, launch):
    """Verify 4: 1180 → 640 → 1180 (and 1400) px in one step each left the next-token panel ~300 px
    instead of ~395 px: the width it had when the narrow window squeezed it was kept as its own."""
    window = launch(FakeBackend()).window
    wide(qtbot, window, 1180)
    before = window.splitter.sizes()
    assert before[0] > 200 and before[2] > 300
    for width in (640, 1180, 1400):
        window.resize(width, 800)
        qtbot.waitUntil(lambda width=width: window.width() == width)
        qtbot.wait(50)
    qtbot.waitUntil(lambda: window.panes.is_open(0) and window.panes.is_open(2))
    sizes = window.splitter.sizes()
    assert abs(sizes[0] - before[0]) <= 2 and abs(sizes[2] - before[2]) <= 2, (before, sizes)
    assert window.panes.chat_width() >= window.panes.chat_min
