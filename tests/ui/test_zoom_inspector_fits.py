"""At a large text size the Inspector cuts no text (a user at 200-270 %: the steps' explanations,
the embedding view's fields, the loop chart's caption, "Follow the newest token" and the dock's
title were cut; the next-token panel beside a docked Inspector was cut from 200 % up; the message
box's placeholder read "Message." at 270 %). Every step of the Inspector is opened as a user opens
it (the steps list, or its drop-down in a narrow Inspector), docked and floating, at each text size,
and every label, button, tick box and field it shows draws its text inside the part of it a reader
sees, or cuts it with "…" itself with the whole text in its tooltip (tests/ui/cut_text.py). Real
model: the Inspector shows the real steps."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QElapsedTimer, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractButton, QTableWidget

from tests.app.fakes import FakeBackend
from tests.ui.cut_text import SETTLE_MS, cut_texts, settled_cut_texts
from tests.ui.drawn_text import widget_drawn
from tests.ui.driver import ask, seen
from tests.ui.zooming import zoom_to

PERCENTS = (100, 200, 270)  # (250 % found nothing 270 % did not, at a quarter of the test's time)
TIMEOUT_MS = 240000


def open_inspector(qtbot, app):
    """Ctrl+I, as a user opens it on the panel's step; returns the dock once its step is shown."""
    window, dock = app.window, app.window.inspector
    with qtbot.waitSignal(dock.inspector.service.step_ready, timeout=TIMEOUT_MS):
        QTest.keyClick(window, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: dock.isVisible() and dock.inspector.split.isVisible())
    return dock


def open_step(qtbot, inspector, row: int) -> None:
    """Open step `row` as a user does: from the drop-down in a narrow Inspector, else a click in
    the steps list."""
    if inspector.step_box.isVisible():
        inspector.step_box.setCurrentIndex(row)  # what picking it from the open drop-down does
    else:
        item = inspector.steps.item(row)
        inspector.steps.scrollToItem(item)
        QTest.mouseClick(inspector.steps.viewport(), Qt.MouseButton.LeftButton, pos=inspector.steps.visualItemRect(item).center())
    qtbot.waitUntil(lambda: inspector.stack.currentWidget() is inspector.views[row])


def step_faults(dock, view) -> list[str]:
    """What the dock shows cut with `view` open: the checker's list, and what it cannot see."""
    inspector = dock.inspector
    cut = cut_texts(dock)
    # the checker takes what is in a scroll area as seen (it scrolls): the Inspector scrolls up and
    # down only, so it must be no wider than what the dock shows of it
    page, shown = inspector.width(), inspector.parentWidget().width()
    if page > shown:
        cut.append(f"the Inspector is {page} px wide in a dock showing {shown} px of it (cut at the right)")
    for table in view.findChildren(QTableWidget):  # a row as tall as a line of its text (Qt kept the old height)
        if table.isVisible() and table.rowCount() and table.rowHeight(0) < table.fontMetrics().height():
            cut.append(f"a row of the table {table.horizontalHeaderItem(0).text()!r} is {table.rowHeight(0)} px "
                       f"for a {table.fontMetrics().height()} px line")
    return cut


def steps_cut(qtbot, dock) -> dict[str, list[str]]:
    """What each step of the Inspector shows cut, by step title (only the steps that cut something),
    once the dock has laid itself out (as settled_cut_texts waits: up to SETTLE_MS, then what is
    still cut is cut for good)."""
    inspector, found = dock.inspector, {}
    for row, view in enumerate(inspector.views):
        open_step(qtbot, inspector, row)
        if view is inspector.lm_head:  # another candidate chosen, as a click on its row: "Continue with “…”" shows
            for candidate in (1, 0):
                view.table.clearSelection()  # (still chosen from the last visit: choosing it again changes nothing)
                view.table.selectRow(candidate)
                if view.continue_button.isVisibleTo(view):
                    break
            assert view.continue_button.isVisibleTo(view)
        timer = QElapsedTimer()
        timer.start()
        cut = step_faults(dock, view)
        while cut and timer.elapsed() < SETTLE_MS:
            qtbot.wait(50)
            cut = step_faults(dock, view)
        if cut:
            found[view.title] = cut
    return found


def placeholder_cut(box) -> list[str]:
    """What of the empty message box's placeholder is drawn cut: it must lie inside the box's
    viewport, and be one of its forms or a form cut with "…" with the whole hint in the tooltip."""
    assert not box.toPlainText()
    viewport = box.viewport()
    pieces = [p for p in widget_drawn(viewport) if p.text.strip()]
    drawn = "".join(p.text for p in pieces)
    found = [f"{p.text!r} drawn at x {p.left:.0f}-{p.right:.0f}, y {p.top:.0f}-{p.bottom:.0f} in a "
             f"{viewport.width()}x{viewport.height()} box" for p in pieces
             if p.left < -1 or p.right > viewport.width() + 1 or p.top < -1 or p.bottom > viewport.height() + 1]
    forms = box.placeholder_forms  # longest first: the longest that fits is shown, else the last cut with "…"
    if drawn not in forms and not (drawn.endswith("…") and forms[0] in box.toolTip()):
        found.append(f"drawn {drawn!r}: none of {forms}, nor cut with '…' with the whole in its tooltip")
    return found


def float_button(dock) -> QAbstractButton:
    return dock.findChild(QAbstractButton, "qt_dockwidget_floatbutton")


@pytest.mark.parametrize("size", [(1180, 780), (1600, 1000)], ids=["1180x780", "1600x1000"])
def test_no_step_of_the_inspector_is_cut_at_a_large_text_size(qtbot, launch, size):
    app = launch(max_new_tokens=4)
    window = app.window
    window.resize(*size)
    ask(qtbot, app, "Hi")
    dock = open_inspector(qtbot, app)
    assert not dock.isFloating()  # docked beside the chat in either window
    cut: dict[str, object] = {}
    for percent in PERCENTS:
        zoom_to(qtbot, app, percent)
        if found := steps_cut(qtbot, dock):
            cut[f"docked at {percent} %"] = found
        if found := settled_cut_texts(qtbot, window.panel):
            cut[f"the next-token panel beside the docked Inspector at {percent} %"] = found
        if found := placeholder_cut(window.composer.box):
            cut[f"the message box's placeholder at {percent} %"] = found
        if (window.width(), window.height()) != size:  # the window never grows for the Inspector
            cut[f"the window at {percent} %"] = f"{window.width()}x{window.height()}"
    zoom_to(qtbot, app, 100)
    QTest.mouseClick(float_button(dock), Qt.MouseButton.LeftButton)  # the dock's float button
    qtbot.waitUntil(lambda: dock.isFloating() and dock.isVisible())
    for percent in PERCENTS:
        zoom_to(qtbot, app, percent)
        if found := steps_cut(qtbot, dock):
            cut[f"floating at {percent} %"] = found
    assert cut == {}, "\n" + "\n".join(f"{where}: {what}" for where, what in cut.items())


def test_the_steps_token_is_cut_with_an_ellipsis_inside_the_panel(qtbot, launch):
    """A token wider than the next-token panel is cut with "…" inside it (at 270 % "␣Plea…" ran
    3 px past the panel: Qt indented the text by half an "x", which the cut did not count)."""
    app = launch(FakeBackend())
    window = app.window
    window.resize(1180, 780)
    ask(qtbot, app, "hello")
    zoom_to(qtbot, app, 270)
    label = window.panel.piece_label
    label.set_piece("␣" + "Pleasantly" * 3, "What the model read")
    for width in range(220, 262, 6):  # widths a character apart at most: the cut falls short of the edge by 0-39 px
        label.setFixedWidth(width)
        qtbot.waitUntil(lambda w=width: label.width() == w)
        assert label.text().endswith("…") and seen(label.toolTip()).startswith("␣" + "Pleasantly" * 3)
        assert cut_texts(label) == [], f"{width} px"


@pytest.mark.parametrize("start, then", [(270, 100), (100, 270)], ids=["started at 270 %", "started at 100 %"])
def test_the_docks_title_is_drawn_in_the_text_size_it_has_now(qtbot, launch, start, then):
    """Qt paints a dock's title in the font the application had when the dock was made, while the
    title bar is as tall as the font now: zoomed to 270 %, "Inspector" stayed at the size it had
    when the window opened, and a dock made while the text was large (a window opened after a
    zoom) drew it 38 px tall in a 21 px bar at 100 %, cut at its top and bottom."""
    app = launch(FakeBackend(), zoom_percent=start)
    window, dock = app.window, app.window.inspector
    window.resize(1600, 1000)
    ask(qtbot, app, "hello")
    zoom_to(qtbot, app, then)
    QTest.keyClick(window, Qt.Key.Key_I, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: dock.isVisible() and not dock.isFloating())
    title = [p for p in widget_drawn(dock) if p.text == "Inspector"]
    assert title and abs(title[0].bottom - title[0].top - dock.fontMetrics().height()) <= 2  # the text size now
    assert settled_cut_texts(qtbot, dock) == []
