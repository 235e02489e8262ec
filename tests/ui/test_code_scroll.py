"""A code block scrolls sideways on its own: a long code line moves only its block, never the reply;
prose keeps wrapping; every token keeps its hover, click, tint and selection where it is drawn, while
scrolled and while the reply streams. Driven through the window (wheel, mouse) with a fake backend."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QTextCursor, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from tests.app.fakes import FakeBackend, split_tokens
from tests.ui.driver import ask

PROSE = "This paragraph is long enough that it has to wrap onto a second line in a narrow window like this one."
LONG = "    result = compute(alpha, beta, gamma, delta, epsilon, zeta, eta, theta, iota, kappa, lambda_, mu_value)"
REPLY = (f"{PROSE}\n\n```python\ndef f():\n{LONG}\n    return result\n```\n\nBetween the blocks.\n\n"
         "```\nshort = 1\n```\n\nThe end of the reply.")  # fmt: skip


def narrow_reply(qtbot, launch, width: int = 640):
    app = launch(FakeBackend(reply=REPLY))
    app.window.resize(width, 800)
    qtbot.waitUntil(lambda: app.window.width() == width)
    ask(qtbot, app, "Show me")
    qtbot.wait(50)
    return app, app.window.transcript.views[1].text


def wheel(widget, point: QPoint, dx: int, dy: int, modifiers=Qt.KeyboardModifier.NoModifier) -> bool:
    """A mouse wheel turned over `point` of `widget` (a viewport); whether the widget took it."""
    event = QWheelEvent(QPointF(point), QPointF(widget.mapToGlobal(point)), QPoint(), QPoint(dx, dy),
                        Qt.MouseButton.NoButton, modifiers, Qt.ScrollPhase.NoScrollPhase, False)  # fmt: skip
    QApplication.sendEvent(widget, event)
    return event.isAccepted()


def position_of(text, word: str, after: str = "") -> int:
    shown = text.toPlainText()  # ASCII only: Python offsets are Qt positions here
    return shown.index(word, shown.index(after) if after else 0)


def point_of(text, position: int) -> QPoint:
    cursor = QTextCursor(text.document())
    cursor.setPosition(position)
    left = text.cursorRect(cursor)
    cursor.setPosition(position + 1)
    return QPoint((left.left() + text.cursorRect(cursor).left()) // 2, left.center().y())


def token_index(text, position: int) -> int:
    return next(i for i in range(len(text._tokens)) if (s := text.token_span(i)) and s[0] <= position < s[1])


def test_a_long_code_line_scrolls_its_own_block_and_the_prose_keeps_wrapping(qtbot, launch):
    app, text = narrow_reply(qtbot, launch)
    scroll = text.code_scroll()
    long_bar, short_bar = scroll.bars
    assert long_bar.isVisible() and long_bar.maximum() > 0  # the long line's block has its own bar
    assert not short_bar.isVisible()  # a block that fits has none
    assert text.horizontalScrollBar().maximum() == 0 or not text.horizontalScrollBar().isVisible()
    first, last = point_of(text, position_of(text, "This")), point_of(text, position_of(text, "window"))
    assert last.y() > first.y()  # the prose wrapped
    assert text.height() >= text.document().size().height()  # the whole reply shows: no scroll inside it
    assert "\n" + LONG + "\n" in text.toPlainText()  # the code line is whole: not broken, indentation kept

    prose_before = point_of(text, position_of(text, "Between"))
    code = position_of(text, "compute")
    code_before = point_of(text, code)
    band = scroll.band_rect(0)
    assert wheel(text.viewport(), band.center(), -120, 0)  # a sideways wheel over the block
    assert wheel(text.viewport(), band.center(), 0, -240, Qt.KeyboardModifier.ShiftModifier)  # Shift+wheel too
    moved = scroll.offsets[0]
    assert moved > 0 and long_bar.value() == moved and scroll.offsets[1] == 0
    assert point_of(text, code).x() == code_before.x() - moved  # the code moved left with its block
    assert point_of(text, position_of(text, "Between")) == prose_before  # the prose did not move
    assert text.cursorRect(QTextCursor(text.document())).left() == point_of(text, 0).x() - (
        point_of(text, 0).x() - text.cursorRect(QTextCursor(text.document())).left())
    # an up-and-down wheel over the code (or the prose) scrolls the conversation, not the block
    assert not wheel(text.viewport(), band.center(), 0, -120)
    assert not wheel(text.viewport(), prose_before, -120, 0)
    assert scroll.offsets[0] == moved
    long_bar.setValue(long_bar.maximum())  # dragging the block's own bar to its end
    end = position_of(text, "mu_value") + len("mu_value")
    assert point_of(text, end - 1).x() < text.viewport().width()  # the line's end is in sight


def test_hover_click_and_tint_stay_on_their_tokens_in_a_scrolled_block(qtbot, launch):
    app, text = narrow_reply(qtbot, launch)
    scroll = text.code_scroll()
    scroll.bars[0].setValue(scroll.bars[0].maximum())
    for word in ("mu_value", "kappa", "return"):
        position = position_of(text, word)
        point = point_of(text, position)
        expected = token_index(text, position)
        if not 0 <= point.x() < text.viewport().width():
            assert word == "return"  # scrolled out of sight to the left: nothing to hover there
            continue
        assert text.token_at(point) == expected, word  # hover finds the token drawn there
        QTest.mouseClick(text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
        assert app.window.panel.record is text._tokens[expected], word  # the click shows that step
    after = position_of(text, "Between")
    QTest.mouseClick(text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     point_of(text, after))  # fmt: skip
    assert app.window.panel.record is text._tokens[token_index(text, after)]
    # the selected token's highlight is drawn where the token is: grab the pixels under it
    app.window.code_tint_action.trigger()
    text = app.window.transcript.views[1].text
    scroll = text.code_scroll()
    assert scroll.offsets[0] == scroll.bars[0].maximum() > 0  # a re-render keeps the block's scroll
    position = position_of(text, "mu_value")
    point = point_of(text, position)
    QTest.mouseClick(text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    image = text.viewport().grab().toImage()
    plain = text.viewport().grab(scroll.band_rect(1)).toImage().pixelColor(2, 2)  # the shaded band, no text
    assert image.pixelColor(point.x(), point.y() + 2) != plain  # highlight and tint drawn at the token


def test_a_selection_in_a_scrolled_block_copies_the_code_under_the_mouse(qtbot, launch):
    app, text = narrow_reply(qtbot, launch)
    scroll = text.code_scroll()
    scroll.bars[0].setValue(scroll.bars[0].maximum())
    start, end = position_of(text, "kappa"), position_of(text, "mu_value") + len("mu_value")
    viewport, no = text.viewport(), Qt.KeyboardModifier.NoModifier

    def edge(position: int) -> QPoint:  # the boundary before a character, as drawn
        cursor = QTextCursor(text.document())
        cursor.setPosition(position)
        rect = text.cursorRect(cursor)
        return QPoint(rect.left() + 1, rect.center().y())

    QTest.mousePress(viewport, Qt.MouseButton.LeftButton, no, edge(start))
    QTest.mouseMove(viewport, edge(end))
    QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, no, edge(end))
    assert text.textCursor().selectedText() == "kappa, lambda_, mu_value"


def test_the_block_keeps_its_scroll_while_the_reply_streams(qtbot, launch):
    app, text = narrow_reply(qtbot, launch)
    view = app.window.transcript.views[1]
    message = view.message
    scroll = text.code_scroll()
    scroll.bars[0].setValue(60)
    full_tokens, full_text = list(message.tokens), message.text
    # the reply as it was mid-stream, then each later batch, re-rendered as the transcript does
    cut = len(split_tokens(full_text.split("Between")[0]))
    for count in (cut, cut + 3, len(full_tokens)):
        message.tokens = full_tokens[:count]
        message.text = "".join(t.text for t in message.tokens)
        view.refresh()
        assert scroll.offsets[0] == 60 and scroll.bars[0].value() == 60
        code = position_of(text, "compute")
        assert text.token_at(point_of(text, code)) == token_index(text, code)


def test_selecting_with_the_keyboard_to_the_end_of_a_long_line_scrolls_only_its_block(qtbot, launch):
    app, text = narrow_reply(qtbot, launch)
    scroll = text.code_scroll()
    start = position_of(text, "result")
    QTest.mouseClick(text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point_of(text, start))
    text.setFocus()
    QTest.keyClick(text, Qt.Key.Key_End, Qt.KeyboardModifier.ShiftModifier)
    assert text.textCursor().selectedText().endswith("mu_value)")
    qtbot.waitUntil(lambda: scroll.offsets[0] > 0)
    assert text.horizontalScrollBar().value() == 0 and scroll.offsets[1] == 0
    assert 0 <= text.cursorRect().left() <= text.viewport().width()  # the cursor is in sight
    assert point_of(text, position_of(text, "Between")).x() >= 0  # the prose did not move


def test_a_reply_that_opens_with_a_code_block_shows_its_header(qtbot, launch):
    app = launch(FakeBackend(reply="```python\nprint(\",\".join(str(n * n) for n in range(1, 21)))\n```\n\nThat prints them."))
    ask(qtbot, app, "One line")
    text = app.window.transcript.views[1].text
    (header,) = text.headers()
    cursor = QTextCursor(text.document())  # the first code line (under the fence line, drawn faint)
    cursor.setPosition(text.code_blocks[0].start)
    assert text.toPlainText().startswith("```python\nprint(")
    assert header.isVisible() and header.language.text() == "python"
    assert 0 <= header.geometry().top() and header.geometry().bottom() <= text.cursorRect(cursor).top()
    assert text.code_scroll().band_rect(0).top() >= 0  # the shaded band holds the header too


NUMBERS = ("Numbers:\n\n| " + " | ".join(f"Col{i}" for i in range(12)) + " |\n|" + "---|" * 12 + "\n| "
           + " | ".join(str(1_000_000 + i) for i in range(12)) + " |\n\nAfter the table.")  # fmt: skip
WORDS = ("| Term | Meaning |\n|---|---|\n| Logit | The raw score the model gives each token before softmax turns the "
         "scores into probabilities that add up to one. |\n\nDone.")  # fmt: skip


def on_one_line(text, word: str) -> bool:
    start = position_of(text, word)
    first, last = QTextCursor(text.document()), QTextCursor(text.document())
    first.setPosition(start)
    last.setPosition(start + len(word) - 1)
    return text.cursorRect(first).top() == text.cursorRect(last).top()


def test_a_wide_table_keeps_its_numbers_whole_and_scrolls_on_its_own(qtbot, launch):
    app = launch(FakeBackend(reply=NUMBERS))
    app.window.resize(640, 800)
    qtbot.waitUntil(lambda: app.window.width() == 640)
    ask(qtbot, app, "Numbers")
    qtbot.wait(50)
    text = app.window.transcript.views[1].text
    assert all(on_one_line(text, str(1_000_000 + i)) for i in range(12))  # never "10 00 00 0"
    scroll = text.code_scroll()
    (bar,) = scroll.bars
    assert bar.isVisible() and bar.maximum() > 0  # the table is wider than the view: it scrolls
    after = point_of(text, position_of(text, "After"))
    last = position_of(text, "1000011")
    assert point_of(text, last).x() > text.viewport().width()  # out of sight, to the right
    assert wheel(text.viewport(), scroll.band_rect(0).center(), -6000, 0)  # a long sideways swipe
    qtbot.waitUntil(lambda: 0 <= point_of(text, last).x() < text.viewport().width())
    assert point_of(text, position_of(text, "After")) == after  # the text below did not move
    QTest.mouseClick(text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point_of(text, last))
    assert app.window.panel.record is text._tokens[token_index(text, last)]  # a click finds the cell's token


def test_a_table_of_sentences_wraps_them_at_words_to_fit_the_view(qtbot, launch):
    app = launch(FakeBackend(reply=WORDS))
    app.window.resize(640, 800)
    qtbot.waitUntil(lambda: app.window.width() == 640)
    ask(qtbot, app, "Words")
    text = app.window.transcript.views[1].text
    qtbot.waitUntil(lambda: not text.code_scroll().bars[0].isVisible())  # it fits: no sideways scroll
    assert point_of(text, position_of(text, "one.")).y() > point_of(text, position_of(text, "The raw")).y()
    assert all(on_one_line(text, word) for word in ("probabilities", "softmax", "Meaning"))
    app.window.resize(1400, 800)  # wider: the sentence gets more room per line, still no scroll
    qtbot.waitUntil(lambda: app.window.width() == 1400)
    qtbot.wait(50)
    assert not text.code_scroll().bars[0].isVisible()


def test_after_a_zoom_a_table_still_keeps_its_words_whole(qtbot, launch):
    app = launch(FakeBackend(reply=NUMBERS))
    app.window.resize(640, 800)
    qtbot.waitUntil(lambda: app.window.width() == 640)
    ask(qtbot, app, "Numbers")
    for _ in range(4):  # Ctrl + : a larger text size
        QTest.keyClick(app.window.composer.box, Qt.Key.Key_Plus, Qt.KeyboardModifier.ControlModifier)
    assert app.controller.settings.app.zoom_percent > 100
    text = app.window.transcript.views[1].text
    qtbot.waitUntil(lambda: all(on_one_line(text, str(1_000_000 + i)) for i in range(12)))
    QTest.keyClick(app.window.composer.box, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)


ENDS_IN_CODE = f"Here it is:\n\n```\nshort()\n{LONG.strip()}\n```"  # no language, the reply's last line is long


def at_column_zero(text) -> bool:
    """Every code block is drawn from its first column: offset 0, and its first character at the left."""
    shown = text.toPlainText()
    first = point_of(text, shown.index("result"))
    return text.code_scroll().offsets == [0] and 0 <= first.x() < text.viewport().width() // 4


def test_a_code_block_starts_at_its_first_column_live_reopened_and_resized(qtbot, launch, tmp_path):
    app = launch(FakeBackend(reply=ENDS_IN_CODE))
    app.window.resize(640, 800)
    qtbot.waitUntil(lambda: app.window.width() == 640)
    ask(qtbot, app, "Code")
    text = app.window.transcript.views[1].text
    assert text.code_scroll().bars[0].maximum() > 0  # it is wider than the view
    qtbot.wait(50)
    assert at_column_zero(text)  # as it arrived
    app.window.resize(700, 800)  # re-laid out
    qtbot.waitUntil(lambda: app.window.width() == 700)
    assert at_column_zero(text)
    app.window.new_chat()
    ask(qtbot, app, "Other")
    listing = app.window.sidebar.list
    QTest.mouseClick(listing.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     listing.visualItemRect(listing.item(1)).center())  # fmt: skip
    text = app.window.transcript.views[1].text
    qtbot.wait(50)
    assert at_column_zero(text)  # reopened
    # the user's own scroll stays through a re-layout (clamped to what the code has to show)
    assert wheel(text.viewport(), text.code_scroll().band_rect(0).center(), -120, 0)
    moved = text.code_scroll().offsets[0]
    assert moved > 0
    app.window.resize(660, 800)
    qtbot.waitUntil(lambda: app.window.width() == 660)
    qtbot.wait(50)
    assert text.code_scroll().offsets[0] == min(moved, text.code_scroll().bands[0].max_offset) > 0
    app.close()
    again = launch(FakeBackend(reply=ENDS_IN_CODE), profile=tmp_path)  # restarted: the last conversation reopens
    text = again.window.transcript.views[-1].text
    qtbot.wait(50)
    assert text.code_scroll().bars[0].maximum() > 0 and at_column_zero(text)
