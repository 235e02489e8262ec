"""At a large text size nothing in the window is drawn cut (verify 7, at 250-270 % in a 1180x780
window: the "New Conversation" button read "ew Conversati", the status bar's "context" label was
cut, a reply's Regenerate read "Rege…rate", the Preferences' last tab was cut at the dialog's edge):
every label, button, tick box and field draws its text inside the part of it a reader sees, or cuts
it with "…" itself with the whole text in its tooltip (tests/ui/cut_text.py). The text size is
changed as a user does: Ctrl+= pressed one step at a time, or held down (the steps then come
faster than the window lays itself out)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend
from tests.ui.cut_text import cut_texts, settled_cut_texts
from tests.ui.drawn_text import widget_drawn
from tests.ui.driver import ask, seen
from tests.ui.zooming import zoom_to


def preferences_cut(qtbot, window) -> list[str]:
    window.preferences_action.trigger()  # Edit > Preferences…
    qtbot.waitUntil(lambda: window.preferences is not None and window.preferences.isVisible())
    qtbot.wait(50)
    dialog = window.preferences
    found = settled_cut_texts(qtbot, dialog)
    screen = dialog.screen().availableGeometry()
    assert dialog.width() <= screen.width() and dialog.height() <= screen.height()  # never past the screen
    dialog.reject()
    return found


@pytest.mark.parametrize(("size", "held"), [((1180, 780), False), ((1600, 1000), True)],
                         ids=["1180x780 step by step", "1600x1000 held down"])  # (each pair took 12 s)
def test_nothing_in_the_window_is_cut_at_a_large_text_size(qtbot, launch, size, held):
    app = launch(FakeBackend(), max_new_tokens=4)  # the reply stops at the token limit: its longest header
    window = app.window
    window.resize(*size)
    ask(qtbot, app, "Tell me a long story about a cat.")
    qtbot.wait(50)
    assert cut_texts(window) == [] and window.sidebar.new_button.text() == "New Conversation"
    for percent in (200, 250, 270):
        zoom_to(qtbot, app, percent, held)
        assert settled_cut_texts(qtbot, window) == [], f"at {percent} %"
        assert preferences_cut(qtbot, window) == [], f"Preferences at {percent} %"
        assert (window.width(), window.height()) == size  # the window never grows for it
    zoom_to(qtbot, app, 100)
    assert settled_cut_texts(qtbot, window) == [] and window.sidebar.new_button.text() == "New Conversation"


def test_the_new_conversation_button_is_shortened_never_cut_at_its_ends(qtbot, launch):
    app = launch(FakeBackend())
    window = app.window
    window.resize(1180, 780)
    button = window.sidebar.new_button
    assert button.text() == "New Conversation" and seen(button.toolTip()) == "Start a new conversation (Ctrl+N)"
    zoom_to(qtbot, app, 270)
    pieces = widget_drawn(button)
    assert pieces and all(0 <= p.left and p.right <= button.width() for p in pieces)  # was drawn at -39 to 253 px
    assert button.text() != "New Conversation"
    assert seen(button.toolTip()).startswith("New Conversation\n")  # the whole name, then what it does
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)  # still starts a new conversation
    qtbot.waitUntil(lambda: window.sidebar.list.count() == 0 or app.controller.conversation_id is None, timeout=2000)


def test_a_replys_buttons_take_more_rows_rather_than_cut_their_names(qtbot, launch):
    app = launch(FakeBackend(), max_new_tokens=4)
    window = app.window
    window.resize(1180, 780)
    ask(qtbot, app, "Tell me a long story about a cat.")
    view = window.transcript.views[1]
    buttons = (view.continue_button, view.regenerate_button, view.copy_button)
    assert all(b.isVisible() for b in buttons)
    for percent in (250, 270):
        zoom_to(qtbot, app, percent, held=True)
        for button in buttons:
            assert "".join(p.text for p in widget_drawn(button)) == button.text(), f"at {percent} %"
        assert settled_cut_texts(qtbot, view) == []
    zoom_to(qtbot, app, 100)
    rows = {b.geometry().center().y() for b in buttons}
    assert len(rows) == 1  # one row again


def test_the_settings_note_is_never_drawn_over_the_candidates(qtbot, launch):
    """verify 7: at 250-270 % "Only 3 tokens left after the settings' filters." was drawn over the
    last rows of the settings' list (the panel squeezed into the window's height)."""
    app = launch(FakeBackend())
    window = app.window
    window.resize(1180, 780)
    ask(qtbot, app, "hello")
    panel = window.panel
    note, bars = panel.final_note, panel.final_bars
    for percent in (100, 250, 270):
        zoom_to(qtbot, app, percent)
        assert note.isVisible() and note.text().startswith("Only ")
        note_box = note.geometry().translated(note.parentWidget().mapTo(panel, note.pos()) - note.pos())
        bars_box = bars.geometry().translated(bars.parentWidget().mapTo(panel, bars.pos()) - bars.pos())
        assert not note_box.intersects(bars_box), f"at {percent} %"
        assert bars.height() >= len(bars.rows) * bars.row_height()  # every candidate row has its height
        assert note.heightForWidth(note.width()) <= note.height()  # every line of the note shows
        assert settled_cut_texts(qtbot, panel) == []
