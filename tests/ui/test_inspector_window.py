"""The Inspector as a window part: it fits the window, View > Inspector / Ctrl+I toggles it, panes
give way before the chat does, and it never shows another conversation's step."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QAbstractScrollArea, QAbstractSlider, QTableWidget

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask
from ui.inspector.dock import INSPECTOR_MIN_WIDTH, INSPECTOR_READABLE, NO_STEP

TIMEOUT_MS = 120000


def _right_edge(window, widget) -> int:
    """Where `widget`'s right edge is, in the window's coordinates."""
    return widget.mapTo(window, QPoint(widget.width(), 0)).x()


def _parents(widget, top) -> list:
    """`widget`'s ancestors up to (without) `top`."""
    out, p = [], widget.parentWidget()
    while p is not None and p is not top:
        out.append(p)
        p = p.parentWidget()
    return out


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
    dock = window.inspector
    qtbot.wait(100)
    assert window.width() == width  # the window did not grow past its size (off the screen)
    # docked beside the chat (the panes fold for it), at a readable width: never a clipped sliver
    assert not dock.isFloating() and dock.width() >= INSPECTOR_READABLE
    if not dock.isFloating():
        assert _right_edge(window, dock) <= window.width()
        assert window.panes.chat_width() >= window.panes.chat_min or not (window.panes.is_open(0) or window.panes.is_open(2))
    # every view lays out to the width it gets: nothing is wider than the Inspector, and nothing
    # but a table or the steps list scrolls sideways (the one scroll area around the views, for a
    # large text size in a short dock, scrolls up and down only and shows their whole width)
    for row in range(len(inspector.views)):
        inspector.steps.setCurrentRow(row)
        qtbot.wait(20)
        view = inspector.views[row]
        assert view.isVisible() and _right_edge(dock, view) <= dock.width(), view.title
        assert view.minimumSizeHint().width() <= view.width(), view.title
        sideways = [a for a in dock.findChildren(QAbstractScrollArea) if a.horizontalScrollBar().isVisible()]
        assert all(isinstance(a, QTableWidget) and view.isAncestorOf(a) for a in sideways), view.title
        areas = [p for p in _parents(view, dock) if isinstance(p, QAbstractScrollArea)]
        assert all(a is dock.scroll and a.horizontalScrollBarPolicy() == Qt.ScrollBarPolicy.ScrollBarAlwaysOff
                   and a.widget().width() <= a.viewport().width() for a in areas), view.title  # fmt: skip
    export = inspector.export_button
    assert export.isVisible() and _right_edge(dock, export) <= dock.width()
    if width == 1180:  # made narrow by hand: the steps list makes way for a drop-down, views still fit
        dock.setFloating(True)
        dock.resize(INSPECTOR_MIN_WIDTH + 40, 700)
        qtbot.waitUntil(lambda: inspector.step_box.isVisible() and not inspector.steps.isVisible())
        inspector.step_box.setCurrentIndex(5)
        attention = inspector.views[5]
        assert inspector.stack.currentWidget() is attention and attention.table.rowCount() > 0
        qtbot.wait(20)
        assert attention.minimumSizeHint().width() <= attention.width() and _right_edge(dock, attention) <= dock.width()
        assert attention.heads_label.width() <= attention.width()  # the heat map is drawn to the width

    if not dock.isFloating():  # turning the panel on again: the Inspector gives up room, the chat keeps its minimum
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
    qtbot.waitUntil(window.isActiveWindow)
    _ctrl_i(window)
    qtbot.waitUntil(lambda: not dock.isVisible())
    assert not window.inspector_action.isChecked()
    window.activateWindow()  # a closed Inspector window hands the focus back (the window manager's part)
    qtbot.waitUntil(window.isActiveWindow)
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
    # one name in every view (trial 6, finding 3): the token's own text, then whose turn it ends
    ends = [piece.removeprefix("★ ") for piece, part in rows if piece.endswith(")") and "(end of" in piece]
    assert ends[:2] == ["<|im_end|> (end of the system prompt)", "<|im_end|> (end of your message)"]
    assert not any("(end of reply)" in piece for piece, part in rows if part != "reply")
    objective = inspector.select_step("13 ·").table
    named = [objective.item(r, 1).text() for r in range(objective.rowCount())]
    assert "★ <|im_end|> (end of your message)" in named and "★ <|im_end|>" not in named
    assert [p for i, (_piece, p) in enumerate(rows) if i == 0 or rows[i - 1][1] != p] == [
        "template markup", "system prompt", "template markup", "your message", "template markup", "reply"
    ]  # where each token's text came from, in order
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
    assert not window.inspector.isFloating() and window.panes.chat_width() >= window.panes.chat_min
    app.close()  # the user never closed the panel: it was folded for room
    again = launch(FakeBackend(), profile=tmp_path)
    again.window.resize(1180, 780)
    qtbot.waitUntil(lambda: again.window.width() == 1180)
    qtbot.waitUntil(lambda: again.window.panes.is_open(2))
    assert again.window.panel_action.isChecked()


def test_a_closed_inspector_does_not_follow_the_reply(qtbot, launch):
    """Following costs the model thread an inspection per token: only while the Inspector is seen."""
    app = launch(FakeBackend())
    window = app.window
    service = window.inspector.inspector.service
    window.inspector_action.trigger()  # View → Inspector
    window.inspector.inspector.follow_box.setChecked(True)
    assert service.follow
    window.inspector_action.trigger()  # closed: the box stays ticked, nothing is followed
    qtbot.waitUntil(lambda: not window.inspector.isVisible())
    assert window.inspector.inspector.follow_box.isChecked() and not service.follow
    sent = []
    service._worker.submit_inspection = lambda request_id, request: sent.append(request)  # what would be asked
    ask(qtbot, app, "Hello there")
    assert not sent
    window.inspector_action.trigger()  # opened again: it follows again
    qtbot.waitUntil(window.inspector.isVisible)
    assert service.follow


def _inspect_menu(window, token: int = 0):
    """Right-click a reply token and choose Inspect, as a user does."""
    view = window.transcript.views[1]
    menu = view.build_context_menu(view.text.token_point(token))
    next(a for a in menu.actions() if a.text() == "Inspect").trigger()


def _inspect_mine(window, char: int = 1):
    """Right-click a character of my own message and choose Inspect, as a user does."""
    view = window.transcript.views[0]
    menu = view.build_context_menu(view.text.source_point(char))
    next(a for a in menu.actions() if a.text() == "Inspect").trigger()


def _width(qtbot, window, width: int) -> None:
    window.resize(width, 850)
    qtbot.waitUntil(lambda: window.width() == width)
    qtbot.wait(50)


def test_ctrl_i_docks_beside_the_chat_where_there_is_room_else_opens_a_window(qtbot, launch):
    """Ctrl+I (View → Inspector) makes room as "Inspect" does: at 1400 px the next-token panel folds
    and the Inspector gets a readable width; at 640 px it opens as a window of its own; and back at
    1400 px it docks again (the window floated it, the user did not)."""
    app = launch(FakeBackend())
    window, dock = app.window, app.window.inspector
    _width(qtbot, window, 1400)
    sidebar = window.panes.last_width(0)
    ask(qtbot, app, "Hello there")
    window.activateWindow()
    _ctrl_i(window)
    qtbot.waitUntil(dock.isVisible)
    qtbot.wait(100)
    assert not dock.isFloating() and dock.width() >= INSPECTOR_READABLE
    assert not window.panes.is_open(2) and window.panes.chat_width() >= window.panes.chat_min  # the panel folded first
    assert window.splitter.sizes()[0] == sidebar  # the list kept its width (the chat had room to give)
    assert window.inspector_action.isChecked()
    _ctrl_i(window)
    qtbot.waitUntil(lambda: not dock.isVisible())
    qtbot.waitUntil(lambda: window.panes.is_open(2))  # the folded panel comes back
    assert not window.inspector_action.isChecked()

    _width(qtbot, window, 640)
    chat = window.panes.chat_width()
    _ctrl_i(window)
    qtbot.waitUntil(dock.isVisible)
    qtbot.wait(100)
    assert dock.isFloating() and dock.width() >= INSPECTOR_READABLE
    assert window.panes.chat_width() == chat  # the chat kept its width
    window.inspector_action.trigger()  # View → Inspector closes it
    qtbot.waitUntil(lambda: not dock.isVisible())

    _width(qtbot, window, 1400)
    window.inspector_action.trigger()
    qtbot.waitUntil(dock.isVisible)
    qtbot.wait(100)
    assert not dock.isFloating() and dock.width() >= INSPECTOR_READABLE
    # one the user dragged out stays a window of its own
    dock.setFloating(True)
    window.inspector_action.trigger()
    qtbot.waitUntil(lambda: not dock.isVisible())
    window.inspector_action.trigger()
    qtbot.waitUntil(dock.isVisible)
    assert dock.isFloating()


def test_docking_the_inspector_never_narrows_the_panes_for_good(qtbot, launch, tmp_path):
    """Inspect (docked) folds the panel and leaves the list its width; closed, both panes are back
    at their widths, also after hiding and showing them; a window closed while the Inspector was
    docked reopens with the panes at their own widths."""
    app = launch(FakeBackend(), profile=tmp_path)
    window, dock = app.window, app.window.inspector
    _width(qtbot, window, 1400)
    widths = window.splitter.sizes()[0], window.splitter.sizes()[2]
    ask(qtbot, app, "Hello there")
    _inspect_menu(window)
    qtbot.waitUntil(dock.isVisible)
    qtbot.wait(100)
    assert not dock.isFloating() and window.splitter.sizes()[0] == widths[0]
    window.activateWindow()
    _ctrl_i(window)
    qtbot.waitUntil(lambda: not dock.isVisible())
    qtbot.waitUntil(lambda: (window.splitter.sizes()[0], window.splitter.sizes()[2]) == widths)
    for action in (window.panel_action, window.panel_action, window.sidebar_action, window.sidebar_action):
        action.trigger()  # Ctrl+Shift+P twice, Ctrl+Shift+L twice
        qtbot.wait(20)
    assert (window.splitter.sizes()[0], window.splitter.sizes()[2]) == widths

    _inspect_menu(window)
    qtbot.waitUntil(dock.isVisible)
    qtbot.wait(100)
    app.close()  # quit while docked
    again = launch(FakeBackend(), profile=tmp_path)
    _width(qtbot, again.window, 1400)
    qtbot.waitUntil(lambda: again.window.panes.is_open(2))
    assert (again.window.splitter.sizes()[0], again.window.splitter.sizes()[2]) == widths
    assert (again.window.panes.last_width(0), again.window.panes.last_width(2)) == widths


def test_at_the_default_1180_px_the_inspector_docks_and_the_panes_come_back(qtbot, launch):
    """Verify 5: a 1180 px window (the default size) opened the Inspector as a window of its own:
    the folded panes kept their minimum widths in the window's layout, so the dock got ~430 px.
    Now Ctrl+I and right-click → Inspect dock it at a readable width, the panes it needs fold (the
    list keeps what the chat can spare), and closed, both panes are back at their widths."""
    app = launch(FakeBackend())
    window, dock = app.window, app.window.inspector
    _width(qtbot, window, 1180)
    qtbot.waitUntil(lambda: window.panes.is_open(0) and window.panes.is_open(2))
    widths = window.splitter.sizes()[0], window.splitter.sizes()[2]
    ask(qtbot, app, "Hello there")
    docked = []
    # trial 6, finding 17: Inspect on my own message (also after it failed, e.g. its character is not
    # found) docked at ~290 px beside a full-width chat: every way of opening makes the same room
    openers = (lambda: _ctrl_i(window), lambda: _inspect_menu(window), lambda: _inspect_mine(window),
               lambda: (dock.inspector.service.failed.emit("That step failed."), _inspect_mine(window, 3)))
    for open_it in openers:
        window.activateWindow()
        open_it()
        qtbot.waitUntil(dock.isVisible)
        qtbot.wait(100)
        docked.append(dock.width())
        assert not dock.isFloating() and dock.width() >= INSPECTOR_READABLE
        assert _right_edge(window, dock) <= window.width() == 1180
        assert not window.panes.is_open(2) and window.panes.chat_width() >= window.panes.chat_min
        assert window.panes.is_open(0) and window.splitter.sizes()[0] >= window.sidebar.minimumWidth()
        assert window.inspector_action.isChecked()
        window.activateWindow()
        _ctrl_i(window)
        qtbot.waitUntil(lambda: not dock.isVisible())
        qtbot.waitUntil(lambda: (window.splitter.sizes()[0], window.splitter.sizes()[2]) == widths)
        assert window.panel_action.isChecked() and window.sidebar_action.isChecked()
    assert len(set(docked)) == 1, docked


def test_tokenization_marks_what_the_step_reads_and_a_picked_token_stops_following(qtbot, launch, tmp_path):
    """Trial 6, finding 14: for a reply's token (predicted after the context, so never in the table)
    Tokenization marks the last position the step reads with ▶, says so, and shows that row; and
    once the user picks another token the Inspector no longer follows, so Follow is unticked."""
    from dataclasses import replace

    from engine.sampling import SamplingSettings
    from tests.engine.checkpoints import write_gguf
    from tests.ui.driver import clickable_token

    app = launch(model=str(write_gguf("llama", tmp_path / "base.gguf")), max_new_tokens=6)
    window = app.window
    # seeded: unseeded, the tiny random model may draw its end-of-text at any step (about 0.2 % a
    # step), and this test needs a token to pick before the reply's last
    app.controller.apply_settings(replace(app.controller.settings, sampling=SamplingSettings(seed=1)))
    reply = ask(qtbot, app, " ".join(f"word{n}" for n in range(20)))  # a context longer than the table shows
    inspector = window.inspector.inspector
    service = inspector.service
    with qtbot.waitSignal(service.step_ready, timeout=TIMEOUT_MS):
        window.inspector_action.trigger()  # View → Inspector (Ctrl+I): the newest token
    # trial 6, finding 1: the first Inspect opens where the walk starts, not mid-way at 8 · Logit lens
    assert inspector.stack.currentWidget().title.startswith("1 ·") and inspector.steps.currentRow() == 0
    inspector.follow_box.setChecked(True)
    assert service.follow
    view = window.transcript.views[1]
    k = clickable_token(view.text)
    assert k < len(reply.tokens) - 1
    with qtbot.waitSignal(service.step_ready, timeout=TIMEOUT_MS) as got:
        QTest.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, pos=view.text.token_point(k))
    report = got.args[0]
    assert report["token_index"] == k
    assert not inspector.follow_box.isChecked() and not service.follow  # picked: no longer following
    qtbot.waitUntil(lambda: inspector._pending is None, timeout=TIMEOUT_MS)  # shown

    tokens = inspector.select_step("2 ·")
    table, position = tokens.table, report["position"]
    assert table.rowCount() == len(report["ids"]) == position + 1 > 40
    marked = [r for r in range(table.rowCount()) if table.item(r, 0).text().startswith("▶")]
    assert marked == [position]
    shown = f"▶ marks position {position:,}, the last token the step reads; the selected token"
    assert shown in tokens.summary.text()
    row = table.item(position, 0)
    qtbot.wait(100)  # the view shown at its size: the row must be seen whole, not half under the bottom edge
    assert table.viewport().rect().contains(table.visualItemRect(row)), (table.visualItemRect(row), table.viewport().rect())
    table.verticalScrollBar().triggerAction(QAbstractSlider.SliderAction.SliderToMinimum)  # the user scrolls up
    dock = window.inspector
    dock.resize(dock.width(), dock.height() - 40)
    qtbot.wait(100)
    assert table.verticalScrollBar().value() == 0  # where the user scrolled to stays
