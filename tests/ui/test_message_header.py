"""A reply's header (who, its numbers, ‹ 1/2 ›, Continue, Regenerate, Copy) never cuts a button or
squeezes the numbers into a column: in a narrow window they go on rows of their own."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend
from tests.ui.driver import REPLY_TIMEOUT_MS, ask


def whole(widget) -> bool:
    """Shown at full size, inside its message."""
    view = widget.parent()
    while view is not None and view.objectName() not in ("assistantMessage", "userMessage"):
        view = view.parent()
    inside = widget.mapTo(view, widget.rect().topLeft()).x() >= 0 and (
        widget.mapTo(view, widget.rect().topRight()).x() <= view.width())
    return inside and widget.width() >= widget.sizeHint().width()


def test_a_narrow_window_puts_the_numbers_and_actions_on_their_own_rows(qtbot, launch):
    app = launch(FakeBackend(reply="one two three four five six seven eight nine ten eleven twelve thirteen"),
                 max_new_tokens=5)  # fmt: skip
    window = app.window
    window.resize(1400, 800)
    ask(qtbot, app, "Count")
    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        QTest.keyClick(window.composer.box, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)  # a 2nd version
    qtbot.wait(50)
    view = window.transcript.views[-1]
    buttons = [view.previous_button, view.branch_label, view.next_button, view.continue_button,
               view.regenerate_button, view.copy_button]  # fmt: skip
    assert all(b.isVisible() for b in buttons) and "stopped at the token limit" in view.meta_label.text()
    one_line = view.meta_label.fontMetrics().lineSpacing() * 2  # less than two lines

    def tidy() -> bool:
        return all(whole(b) for b in buttons) and view.meta_label.height() < one_line

    assert tidy()  # wide: one row
    assert abs(view.meta_label.geometry().center().y() - view.copy_button.geometry().center().y()) < 6
    for width, panel in ((640, False), (640, True)):
        window.resize(width, 800)
        if panel and not window.panes.is_open(2):
            window.panel_action.trigger()  # the chat is narrowest with the panel open
        qtbot.waitUntil(lambda width=width: window.width() == width)
        qtbot.waitUntil(tidy)  # nothing cut ("Re…te"), the numbers on one line, not a column
        assert view.meta_label.geometry().top() > view.role_label.geometry().top()  # on a row of their own
