"""A reply is shown exactly as the model wrote it: every word, its line breaks, emoji with their own
tint, raw HTML as text, links that ask first, code blocks a person can read and copy, tables.

Driven through the window with a fake backend whose reply is the text under test."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication, QTextCursor, QTextTable
from PySide6.QtTest import QTest

import ui.links
from tests.app.fakes import FakeBackend, split_tokens
from tests.ui.driver import ask
from ui.text_format import utf16_offsets
from ui.theme import tint_color


def reply_view(qtbot, launch, reply: str, profile=None, **settings):
    app = launch(FakeBackend(reply=reply), profile=profile, **settings)
    ask(qtbot, app, "Go on")
    return app, app.window.transcript.views[1]


def tinted(brush) -> bool:
    return brush.style() != Qt.BrushStyle.NoBrush and brush.color().alpha() > 0


def words(text: str) -> list[str]:
    return text.split()


def point_at(text_view, position: int) -> QPoint:
    """The viewport point in the middle of the character at a document position."""
    cursor = QTextCursor(text_view.document())
    cursor.setPosition(position)
    left = text_view.cursorRect(cursor)
    cursor.movePosition(QTextCursor.MoveOperation.NextCharacter)
    right = text_view.cursorRect(cursor)
    return QPoint((left.left() + right.left()) // 2, left.center().y())


@pytest.mark.parametrize(
    "reply",
    [
        "Sure! I <smirk> and whisper.",
        "<unknown-tag>Everything after an unknown leading tag is still here.",
        "<div>\nThe div opens here\n\nand this next paragraph is not swallowed\n</div>\n\nThe end.",
        "Look: <span style=\"display:none\">hidden words</span> and <a href=\"file:///etc/passwd\">a file</a>.",
        "An image ![the alt text](file:///home/me/secret.png) stays text.",
    ],
)
def test_raw_html_in_a_reply_is_shown_as_the_text_it_is(qtbot, launch, reply):
    app, view = reply_view(qtbot, launch, reply)
    shown = view.text.toPlainText()
    assert words(shown) == words(reply)  # every word, in order, none interpreted
    assert "\ufffc" not in view.text.document().toRawText()  # no image object: nothing was loaded


def test_single_line_breaks_keep_a_poem_and_a_list_on_their_lines(qtbot, launch):
    poem = "Roses are red,\nviolets are blue,\nsugar is sweet\n\nand so are you.\napples\npears"
    app, view = reply_view(qtbot, launch, poem)
    assert view.text.toPlainText().splitlines() == [line for line in poem.splitlines() if line]


def test_emoji_keep_their_place_and_each_later_token_keeps_its_tint_hover_and_click(qtbot, launch):
    reply = "Party 🎉🎉 time for everyone 😀 today"
    app, view = reply_view(qtbot, launch, reply)
    text = view.text
    assert text.toPlainText() == reply  # no "�", no box
    tokens = view.message.tokens
    qt = utf16_offsets(reply)
    for index, piece in enumerate(split_tokens(reply)):
        start = reply.index(piece.strip(), sum(len(p) for p in split_tokens(reply)[:index]))
        position = qt[start]
        assert text.token_span(index)[0] <= position < text.token_span(index)[1]
        cursor = QTextCursor(text.document())
        cursor.setPosition(position + 1)  # the format of the character before the cursor
        expected = tint_color(tokens[index].logprob)
        background = cursor.charFormat().background()
        if expected is None:
            assert not tinted(background)
        else:
            assert background.color() == expected, piece
        assert text.token_at(point_at(text, position)) == index, piece
    # a click on the word after the emoji fills the panel with that word's step
    last = len(tokens) - 2  # " today" (the end-of-turn token follows it)
    QTest.mouseClick(text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     point_at(text, qt[reply.index("today")]))  # fmt: skip
    assert app.window.panel.record.piece == " today" == tokens[last].piece


def test_references_and_backslashes_show_as_written_and_every_token_keeps_its_tint_and_hover(qtbot, launch):
    reply = "Use &amp; for & 🎉 and &lt;b&gt; then \\(x^2\\) not \\*bold\\* 你好 C:\\Users 😀 today"
    shown = reply  # Markdown's own escapes too: "\\*" shows its backslash, faint (a token never loses a character)
    app, view = reply_view(qtbot, launch, reply)
    text = view.text
    assert text.toPlainText() == shown
    tokens, qt = view.message.tokens, utf16_offsets(shown)
    words = shown.split()
    assert len(words) == len(tokens) - 1  # and the end-of-turn token, which shows no text
    position = 0
    for index, word in enumerate(words):  # one token per word: each word's first and last character
        position = shown.index(word, position)
        for at in (qt[position], qt[position + len(word) - 1]):
            assert text.token_span(index)[0] <= at < text.token_span(index)[1], word
            assert text.token_at(point_at(text, at)) == index, word
            cursor = QTextCursor(text.document())
            cursor.setPosition(at + 1)
            expected = tint_color(tokens[index].logprob)
            assert (cursor.charFormat().background().color() == expected) if expected else True, word
        position += len(word)


def test_links_open_only_after_the_user_saw_where_they_go(qtbot, launch, monkeypatch):
    reply = "See [the docs](https://example.com/guide) or [this](file:///etc/passwd) or [that](notes.txt)."
    app, view = reply_view(qtbot, launch, reply)
    asked, opened = [], []
    answers = iter(["Cancel", "Open", "Open", "Open"])
    monkeypatch.setattr(ui.links, "ask", lambda _parent, _title, text, _buttons: asked.append(text) or next(answers))
    monkeypatch.setattr(ui.links.QDesktopServices, "openUrl", lambda url: opened.append(url.toString()) or True)
    shown = view.text.toPlainText()

    def click_word(word):
        QTest.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         point_at(view.text, shown.index(word) + 1))  # fmt: skip

    click_word("the docs")  # cancelled: nothing opens
    assert "https://example.com/guide" in asked[-1] and opened == []
    click_word("the docs")
    assert opened == ["https://example.com/guide"]
    click_word("this")  # a local file: shown in full, never opened
    assert "file:///etc/passwd" in asked[-1] and "does not open" in asked[-1]
    click_word("that")  # a relative link would have loaded a file into the view
    assert "notes.txt" in asked[-1]
    assert opened == ["https://example.com/guide"]
    assert view.text.toPlainText() == shown  # the view did not navigate away


CODE = "def greet(name):\n    return f\"hello {name}\"  # a line long enough to need more room than the view has here"
CODE_REPLY = f"Here it is:\n\n```python\n{CODE}\n```\n\nUse `greet` well."


def code_sizes(view) -> tuple[float, float]:
    """(prose, code) font point sizes as drawn."""
    doc = view.text.document()
    shown = view.text.toPlainText()
    cursor = QTextCursor(doc)
    cursor.setPosition(shown.index("Here") + 1)
    prose = cursor.charFormat().font().pointSizeF()
    cursor.setPosition(shown.index("return") + 1)
    return prose, cursor.charFormat().font().pointSizeF()


def test_a_code_block_has_a_language_label_copy_button_colours_and_keeps_its_lines(qtbot, launch, tmp_path):
    app, view = reply_view(qtbot, launch, CODE_REPLY, profile=tmp_path)
    view.resize(420, view.height())
    qtbot.wait(50)
    text = view.text
    (header,) = text.headers()
    assert header.language.text() == "python" and header.isVisible()
    QTest.mouseClick(header.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == CODE
    assert header.copy_button.text() == "Copied"
    # highlighted: the keyword is coloured differently from the name after it
    shown = text.toPlainText()
    cursor = QTextCursor(text.document())
    cursor.setPosition(shown.index("def") + 1)
    keyword = cursor.charFormat().foreground().color()
    cursor.setPosition(shown.index("greet") + 1)
    assert keyword != cursor.charFormat().foreground().color()
    # the long line is not wrapped: its block scrolls sideways, indentation intact
    (bar,) = text.code_scroll().bars
    assert "    return f\"hello" in shown and bar.maximum() > 0 and bar.isVisible()
    # code is drawn at the text's size, and the same after a restart
    prose, code = code_sizes(view)
    assert prose == code
    app.close()
    again = launch(FakeBackend(), profile=tmp_path)
    assert code_sizes(again.window.transcript.views[1]) == (prose, code)


def test_code_is_not_tinted_unless_asked_in_the_view_menu(qtbot, launch):
    reply = "Text text text text text\n\n```\nx = 1 + 2 + 3 + 4 + 5 + 6\n```"
    app, view = reply_view(qtbot, launch, reply)
    text, tokens = view.text, view.message.tokens
    code_tokens = [i for i, t in enumerate(tokens) if text.token_span(i) and text.is_code(text.token_span(i)[0])]
    tinted_code = [i for i in code_tokens if tint_color(tokens[i].logprob) is not None]
    assert tinted_code

    shown = text.toPlainText()  # no characters outside the BMP here: Python offsets are positions

    def background(i):
        start, end = text.token_span(i)
        first = start + len(shown[start:end]) - len(shown[start:end].lstrip())
        cursor = QTextCursor(text.document())
        cursor.setPosition(first + 1)
        return tinted(cursor.charFormat().background())

    assert not any(background(i) for i in tinted_code)
    app.window.code_tint_action.trigger()
    view = app.window.transcript.views[1]
    assert all(background(i) for i in tinted_code)


def test_a_markdown_table_renders_as_a_table(qtbot, launch):
    reply = "| Planet | Moons |\n|---|---|\n| Earth | 1 |\n| Mars | 2 |"
    app, view = reply_view(qtbot, launch, reply)
    tables = [f for f in view.text.document().rootFrame().childFrames() if isinstance(f, QTextTable)]
    assert len(tables) == 1 and (tables[0].rows(), tables[0].columns()) == (3, 2)
    assert tables[0].format().border() >= 1
    shown = view.text.toPlainText()
    assert [w for w in words(shown) if w.strip("|-")] == ["Planet", "Moons", "Earth", "1", "Mars", "2"]
    assert shown.count("|") == reply.count("|") and shown.count("-") == reply.count("-")  # the pipes, faint


def test_emoji_are_drawn_in_colour_not_as_boxes(qtbot, launch):
    from PySide6.QtGui import QColor, QFontDatabase

    from ui.fonts import EMOJI_FAMILIES

    if not set(EMOJI_FAMILIES) & set(QFontDatabase.families()):
        pytest.skip("no colour emoji font installed (make setup installs fonts-noto-color-emoji)")
    app, view = reply_view(qtbot, launch, "🎉🎉🎉🎉", probability_tint=False)
    text = view.text
    start, end = text.cursorRect(QTextCursor(text.document())), None
    cursor = QTextCursor(text.document())
    cursor.movePosition(QTextCursor.MoveOperation.End)
    end = text.cursorRect(cursor)
    image = text.viewport().grab().toImage()
    colourful = 0
    for x in range(start.left(), end.left()):
        for y in range(start.top(), start.bottom()):
            pixel = QColor(image.pixel(x, y))
            colourful += pixel.saturation() > 120 and pixel.value() > 120
    assert colourful > 20  # a party popper has yellow, red and blue; a missing-glyph box has none


MIXED = (
    "Intro:\n\n```python\ndef f(x):\n    return x  # a comment long enough to make this line wider than the view\n```\n\n"
    "| Planet | Moons |\n|---|---|\n| Earth | 1 |\n\nRoses are red,\nviolets are blue"
)


def test_after_a_code_block_and_a_table_the_text_keeps_its_lines_tint_and_a_readable_header(qtbot, launch):
    app, view = reply_view(qtbot, launch, MIXED)
    text = view.text
    shown = text.toPlainText()
    assert shown.endswith("Roses are red,\nviolets are blue")  # the line break after a table is kept
    assert "Planet" in shown and "\n\nPlanet" not in shown  # no empty first line in the table
    last = len(view.message.tokens) - 2  # " blue" (before the end of turn): every token after the table has its place
    assert text.token_span(last) is not None and shown[text.token_span(last)[0]:].strip() == "blue"
    # code colours read on the light theme: no near-white text on the light block
    cursor = QTextCursor(text.document())
    for word in ("def", "f(x)", "return", "comment"):
        cursor.setPosition(shown.index(word) + 1)
        brush = cursor.charFormat().foreground()
        assert brush.style() == Qt.BrushStyle.NoBrush or brush.color().lightness() < 170, word
    # the header sits above the first code line, with Copy inside the visible width
    (header,) = text.headers()
    cursor.setPosition(shown.index("def"))
    assert header.geometry().bottom() <= text.cursorRect(cursor).top()
    assert header.copy_button.isVisible()
    right = header.mapTo(text.viewport(), header.copy_button.geometry().topRight()).x()
    assert right <= text.viewport().width()


def test_code_colours_follow_a_switch_to_the_dark_theme(qtbot, launch):
    from PySide6.QtWidgets import QApplication

    from ui.theme import set_palette

    app, view = reply_view(qtbot, launch, CODE_REPLY)
    text = view.text
    shown = text.toPlainText()

    def lightness(word):
        cursor = QTextCursor(text.document())
        cursor.setPosition(shown.index(word) + 1)
        brush = cursor.charFormat().foreground()
        return None if brush.style() == Qt.BrushStyle.NoBrush else brush.color().lightness()

    assert lightness("def") < 128  # dark keyword on the light theme
    try:
        set_palette(QApplication.instance(), dark=True)
        qtbot.waitUntil(lambda: lightness("def") > 128)  # light keyword on the dark theme
    finally:
        set_palette(QApplication.instance(), dark=False)
    qtbot.waitUntil(lambda: lightness("def") < 128)


def test_lines_of_lone_block_markers_show_as_the_characters_written(qtbot, launch):
    """A reply of `#` lines (an empty heading each, in Markdown) and a lone `>` shows every character,
    each token findable and clickable, in a bubble no taller than its lines need."""
    reply = "#\n\n#\n\n##\n\n>\n\n# Heading\n\nDone."
    app, view = reply_view(qtbot, launch, reply)
    shown = view.text.toPlainText()
    assert shown.split("\n") == ["#", "#", "##", ">", "# Heading", "Done."]  # a real heading, its "# " faint
    assert view.text.document().findBlockByNumber(4).blockFormat().headingLevel() == 1
    text = view.text
    for index, token in enumerate(view.message.tokens):
        if token.text.strip():
            assert text.token_span(index) is not None, token.text  # every written token is on screen
            point = text.token_point(index)
            QTest.mouseClick(text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
            assert app.window.panel.record is view.message.tokens[index]
    line = text.fontMetrics().lineSpacing()
    assert text.height() < 16 * line  # six short lines, not screens of empty headings
