"""The conversation list's rows fit their titles: each row draws its whole title (checked on the
text its painter is asked to draw), on as many lines as the title needs at the list's width, never
wider than the list (a row was drawn cut with "…" on one line, trial 6 and verify 6 finding 15),
after the titles change and after the window is resized. Fake backend."""

from __future__ import annotations

from PySide6.QtGui import QFontMetrics
from pytestqt.exceptions import TimeoutError as WaitedTooLong

from tests.app.fakes import FakeBackend
from tests.ui.drawn_text import row_drawn
from tests.ui.driver import ask
from ui.text_breaks import BREAK

TOP_BOTTOM_PADDING = 12  # resources/style.qss: #sidebar QListWidget::item { padding: 6px 8px }
TITLES = ["What is the capital of France?", "The history of the bicycle began", "Name three planets.",
          "Write Python code to reverse a string. Do not use markdown"]  # fmt: skip
BORDERLINE = ["The history of the bicycle began", "Tell me a long story about a cat.",
              "Explain how a rainbow forms, briefly", "Summarise the plot of Hamlet please",
              "Why is the sky blue during the day?", "A title of exactly the right length to wrap"]  # fmt: skip


def cut_rows(listed) -> list[str]:
    """The rows whose drawn text is not their whole title (cut with "…"; lines wrap between words,
    or inside a word too long for a line), or that are taller than the lines they draw."""
    line = QFontMetrics(listed.font()).lineSpacing()
    bad = []
    for row in range(listed.count()):
        item = listed.item(row)
        pieces = row_drawn(listed, listed.indexFromItem(item))
        rect = listed.visualItemRect(item)
        if rect.width() > listed.viewport().width():
            bad.append(f"{item.text()!r}: a row {rect.width()} px wide in a list {listed.viewport().width()} px wide")
        elif "".join(pieces).replace(BREAK, "").replace(" ", "") != item.text().replace(" ", ""):
            bad.append(f"{item.text()!r} drawn as {pieces} in a row {rect.width()}x{rect.height()}")
        elif rect.height() > TOP_BOTTOM_PADDING + len(pieces) * line + 2:
            bad.append(f"{item.text()!r} drawn on {len(pieces)} lines in a row {rect.height()} px tall")
    return bad


def with_titles(qtbot, launch, titles: list[str]):
    """The window with one conversation per title (asked, then renamed to it)."""
    app = launch(FakeBackend())
    for title in titles:
        app.window.new_chat()
        ask(qtbot, app, title)
        app.controller.rename_conversation(app.controller.conversation_id, title)
    return app


def list_width(window, side: int) -> None:
    """Drag the list's handle so the list is `side` px wide."""
    sizes = window.splitter.sizes()
    window.splitter.setSizes([side, sizes[1] + sizes[0] - side, *sizes[2:]])


def test_rows_reflow_when_titles_change_and_the_window_narrows(qtbot, launch):
    app = with_titles(qtbot, launch, TITLES)
    window = app.window
    for width in (1180, 900, 640):
        window.resize(width, 700)
        qtbot.wait(50)
        for side in (180, 230, 260):
            list_width(window, side)
            qtbot.waitUntil(lambda: not cut_rows(app.window.sidebar.list), timeout=2000)
    app.controller.rename_conversation(app.controller.conversation_id, "A new title, long enough to take two lines here")
    qtbot.waitUntil(lambda: not cut_rows(app.window.sidebar.list), timeout=2000)
    assert not cut_rows(app.window.sidebar.list)


def laid_out(qtbot, listed) -> None:
    """Give the list's relayout (a 100 ms timer of Qt's) longer when a busy machine runs it late:
    until no row is cut, at most the wait's bound (the assertion after it says which width)."""
    try:
        qtbot.waitUntil(lambda: not cut_rows(listed), timeout=10_000)
    except WaitedTooLong:
        pass


def test_a_title_just_over_one_line_wraps_whole_at_every_width(qtbot, launch):
    """Verify 6, finding 15: at the default 1180 px window "The history of the bicycle began" was
    drawn on one line cut with "…" though a second line was free (narrower it wrapped, wider again
    it was cut). At the default width and at every list width from narrow to wide, each title is
    drawn whole, on as many lines as it needs."""
    app = with_titles(qtbot, launch, BORDERLINE)
    window = app.window
    listed = window.sidebar.list
    window.resize(1180, 760)
    qtbot.wait(200)
    laid_out(qtbot, listed)
    assert not cut_rows(listed), "default width"
    for side in [*range(170, 330, 3), 230]:
        list_width(window, side)
        qtbot.wait(150)  # the list lays its rows out again 100 ms after a width change
        laid_out(qtbot, listed)
        assert not cut_rows(listed), f"list {side} px wide"


LONG_WORDS = ["Supercalifragilisticexpialidocious_antidisestablishmentarianism_floccinaucinihilipilification",
              "Why is pneumonoultramicroscopicsilicovolcanoconiosis so long a word?",
              "https://example.com/a/very/long/address/that/has/no/spaces/at/all/in/it"]  # fmt: skip


def test_a_title_with_a_word_longer_than_the_row_breaks_it_over_lines(qtbot, launch):
    """Verify 7: a title that is one very long word was cut to one line with "…" while the message
    bubble broke the same word over lines. Its row draws it whole, broken inside the word where it
    does not fit, on as many lines as it needs (the row exactly that tall), at several widths; the
    title itself is unchanged (the break points are only drawn)."""
    app = with_titles(qtbot, launch, LONG_WORDS)
    window = app.window
    listed = window.sidebar.list
    assert sorted(listed.item(r).text() for r in range(listed.count())) == sorted(LONG_WORDS)
    window.resize(1180, 760)
    for side in (170, 230, 300, 230):
        list_width(window, side)
        qtbot.wait(150)
        laid_out(qtbot, listed)
        assert not cut_rows(listed), f"list {side} px wide"
        row = next(r for r in range(listed.count()) if listed.item(r).text() == LONG_WORDS[0])
        assert len(row_drawn(listed, listed.indexFromItem(listed.item(row)))) >= 3  # the word takes lines
