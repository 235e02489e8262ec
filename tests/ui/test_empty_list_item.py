"""A reply that ends on an empty list item ("…\\n2. ", cut there by a stop string) shows that "2."
and its tokens can be hovered and clicked (trial 5 #33: the bubble ended at "1. Red (R)", the
stored reply had "2. " after it; what is shown must be what is stored)."""

from __future__ import annotations

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask

WORDS = [("Colors", "Colors"), (":\n", ":\n"), ("1", "1"), (".", "."), (" Red", " Red"), (" (R)", " (R)"), ("\n", "\n"),
         ("2", "2"), (".", "."), (" Orange", " Orange")]


def test_a_reply_cut_after_a_list_marker_shows_the_marker_and_its_tokens(qtbot, launch):
    app = launch(FakeBackend(reply=WORDS), stop_strings=(" Orange",))
    reply = ask(qtbot, app, "List colours")
    assert reply.finish_reason == "stop" and reply.text == "Colors:\n1. Red (R)\n2."
    view = app.window.transcript.views[1]
    assert view.text.toPlainText().replace("\u2028", "\n").endswith("Red (R)\n2.")
    for index in (7, 8):  # "2" and "."
        point = view.text.token_point(index)
        assert point is not None and view.text.token_at(point) == index


def test_markers_in_code_and_a_heading_underline_are_left_alone():
    from ui.reply_document import keep_empty_list_items

    assert keep_empty_list_items("```\n2.\n-\n```") == "```\n2.\n-\n```"
    assert keep_empty_list_items("Title\n-") == "Title\n-"  # a heading
    assert keep_empty_list_items("- a\n- ") == "- a\n\\- "
    assert keep_empty_list_items("1. a\n2.\n3. b") == "1. a\n2\\.\n3. b"
