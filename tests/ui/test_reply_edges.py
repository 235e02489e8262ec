"""A reply's whitespace at its start, and a reply with no text at all, are shown as written and can
be clicked; the reopened conversation shows the same (what is reopened is exactly what was shown).

A byte-level BPE reply may begin with a space token or with line breaks (the model chose them: they
are content; a SentencePiece "▁" the detokenizer strips never reaches the text). Markdown drops
whitespace at the start of a block, so " Hello" was drawn "Hello" and its space token could not be
found; and a reply that is only its end-of-reply token was an empty bubble headed "1 token"."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask

LEADING = {
    "a space token": [(" ", " "), ("Hello", "Hello"), (" world", " world")],
    "two spaces in one token": [("  Hi", "  Hi"), (" there", " there")],
    "a blank line": [("\n\n", "\n\n"), ("Hi", "Hi")],
    "a line break, then a space": [("\n", "\n"), (" ", " "), ("Hi", "Hi")],
}


def shown(view) -> str:
    """The reply as drawn, in the stored text's characters (no-break spaces and kept line breaks
    are how the document holds a written space and line break)."""
    return view.text.toPlainText().replace("\u00a0", " ")


def click_token(qtbot, window, view, index: int):
    point = view.text.token_point(index)
    assert point is not None, f"token {index} draws nothing to click"
    QTest.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    return window.panel.record


@pytest.mark.parametrize("words", LEADING.values(), ids=LEADING.keys())
def test_a_reply_that_starts_with_whitespace_shows_it_live_and_reopened(qtbot, launch, tmp_path, words):
    app = launch(FakeBackend(reply=words))
    reply = ask(qtbot, app, "hello")
    written = "".join(text for text, _piece in words)
    assert reply.text == written  # stored as the model wrote it
    view = app.window.transcript.views[1]
    assert shown(view) == written
    for index, (text, _piece) in enumerate(words):
        if text.strip(" "):  # a space has width: it is clicked; a line break draws nothing
            continue
        assert click_token(qtbot, app.window, view, index).index == index
    app.close()

    again = launch(FakeBackend(reply=words), profile=tmp_path)
    reopened = again.window.transcript.views[1]
    assert reopened.message.text == written and shown(reopened) == written


def test_a_paragraph_indented_by_the_model_keeps_its_spaces():
    """Markdown strips up to three spaces before a paragraph; they are the model's tokens too."""
    from PySide6.QtGui import QColor, QTextDocument

    from ui.reply_document import render_markdown

    doc = QTextDocument()
    source = "One.\n\n  Two."
    rendered, mapping, _blocks = render_markdown(doc, source, QColor("black"), False)
    assert all(mapping[k] >= 0 for k in (6, 7)), rendered  # the two spaces before "Two."
    assert doc.toPlainText().replace("\u00a0", " ").endswith("\n  Two.")
    for code in ("\tx = 1", "    x = 1"):  # a tab or four spaces make code: its indentation is Markdown's
        render_markdown(doc, code, QColor("black"), False)
        assert doc.toPlainText() == "x = 1"


def test_a_reply_with_no_text_shows_its_end_token_to_click(qtbot, launch, tmp_path):
    app = launch(FakeBackend(reply=[]))
    reply = ask(qtbot, app, "say nothing")
    assert reply.text == "" and len(reply.tokens) == 1  # only the end-of-reply token
    view = app.window.transcript.views[1]
    assert "end of reply" in view.text.toPlainText()
    assert click_token(qtbot, app.window, view, 0).token == reply.tokens[0].token
    assert "token 1 of this reply" in app.window.panel.subtitle.text()
    app.close()

    again = launch(FakeBackend(reply=[]), profile=tmp_path)
    reopened = again.window.transcript.views[1]
    assert reopened.message.text == "" and reopened.text.toPlainText() == view.text.toPlainText()
    assert reopened.text.token_point(0) is not None
