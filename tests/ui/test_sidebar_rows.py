"""The conversation list's rows fit their titles: each row is as tall as its title's wrapped lines
at the list's width, never wider than the list (a wider row was drawn cut with "…" on one line,
trial 6 finding 15), after the titles change and after the window is resized. Fake backend."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask

SIDE_PADDING, TOP_BOTTOM_PADDING = 16, 12  # resources/style.qss: #sidebar QListWidget::item { padding: 6px 8px }
TITLES = ["What is the capital of France?", "The history of the bicycle began", "Name three planets.",
          "Write Python code to reverse a string. Do not use markdown"]  # fmt: skip


def rows_fit(app) -> list[str]:
    """The rows that do not fit their title (empty when all do)."""
    listed = app.window.sidebar.list
    metrics = QFontMetrics(listed.font())
    width = listed.viewport().width()
    bad = []
    for row in range(listed.count()):
        item = listed.item(row)
        rect = listed.visualItemRect(item)
        room = rect.width() - SIDE_PADDING
        need = metrics.boundingRect(0, 0, room, 10000, Qt.TextFlag.TextWordWrap, item.text()).height()
        if rect.width() > width or rect.height() - TOP_BOTTOM_PADDING < need:
            bad.append(f"{item.text()!r}: row {rect.width()}x{rect.height()} in a list {width} wide, text needs {need}")
    return bad


def test_rows_reflow_when_titles_change_and_the_window_narrows(qtbot, launch):
    app = launch(FakeBackend())
    window = app.window
    for title in TITLES:
        window.new_chat()
        ask(qtbot, app, title)
        app.controller.rename_conversation(app.controller.conversation_id, title)
    for width in (1180, 900, 640):
        window.resize(width, 700)
        qtbot.wait(50)
        splitter = window.splitter
        for side in (180, 230, 260):
            sizes = splitter.sizes()
            splitter.setSizes([side, sizes[1] + sizes[0] - side, *sizes[2:]])
            qtbot.waitUntil(lambda: not rows_fit(app), timeout=2000)
    app.controller.rename_conversation(app.controller.conversation_id, "A new title, long enough to take two lines here")
    qtbot.waitUntil(lambda: not rows_fit(app), timeout=2000)
    assert not rows_fit(app)
