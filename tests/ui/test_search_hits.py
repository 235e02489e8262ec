"""Conversation search as a user drives it: a hit's row shows the matched word, highlighted, however
long the message before it, cut only between words; rows sit with no gaps; the keyboard goes from
the box into the hits and back; opening a hit scrolls the transcript to the match and marks it. The
message is drawn as text (its "<b>" stays "<b>")."""

from __future__ import annotations

import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QStyleOptionViewItem

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask
from ui.search_hits import ELLIPSIS, SPANS_ROLE, HitDelegate
from ui.sidebar import MESSAGE_ROLE


def test_a_hit_shows_the_match_near_its_start_highlighted(qtbot, launch):
    app = launch(FakeBackend())
    ask(qtbot, app, "I was wondering, after all this time and many travels, whether the capital of France "
                    "is really <b>Paris</b> or some other city")
    sidebar = app.window.sidebar
    sidebar.search_box.setFocus()
    QTest.keyClicks(sidebar.search_box, "Paris")
    qtbot.waitUntil(lambda: bool(sidebar.list.count() and sidebar.list.item(0).data(SPANS_ROLE)))
    item = sidebar.list.item(0)
    text, spans = item.text(), item.data(SPANS_ROLE)
    line = text.split("\n")[1]
    assert [text[s : s + n] for s, n in spans] == ["Paris"]
    assert line.index("Paris") < 40  # within the first words of the row, not cut off behind "…"
    assert "<b>Paris</b>" in line  # the message's own text, as written

    # drawn: the matched word's pixels differ from the same row drawn without highlight
    delegate = sidebar.list.itemDelegate()
    option = QStyleOptionViewItem()
    option.rect = sidebar.list.visualItemRect(item)
    option.widget = sidebar.list
    index = sidebar.list.indexFromItem(item)

    def drawn() -> QImage:
        image = QImage(option.rect.size(), QImage.Format.Format_ARGB32)
        image.fill(0)
        painter = QPainter(image)
        painter.translate(-option.rect.topLeft())
        delegate.paint(painter, option, index)
        painter.end()
        return image

    highlighted = drawn()
    item.setData(SPANS_ROLE, None)
    plain = drawn()
    assert plain != highlighted


LONG_REPLY = " ".join(["The plantation keeps its records in ledgers, rows of figures for every field."] * 30
                      + ["Somewhere in here a pineapple is mentioned exactly once."]
                      + ["After that the ledgers go on about weather, labour and the price of sugar cane."] * 30)  # fmt: skip


def search(qtbot, app, query: str) -> None:
    box = app.window.sidebar.search_box
    box.setFocus()
    box.clear()
    QTest.keyClicks(box, query)
    qtbot.waitUntil(lambda: app.window.sidebar.list.count() > 0 and app.window.sidebar.searching)
    # the search runs a moment after the last key (a timer): waited for, not for a time a busy
    # machine may overrun
    qtbot.waitUntil(lambda: not app.window.sidebar._search_timer.isActive())


def hit_rows(sidebar) -> list[int]:
    return [r for r in range(sidebar.list.count()) if sidebar.list.item(r).data(SPANS_ROLE) is not None]


def test_down_goes_from_the_search_box_into_the_hits_up_comes_back_and_enter_opens(qtbot, launch):
    app = launch(FakeBackend())
    for topic in ("pineapple farming", "pineapple recipes", "pineapple history"):
        ask(qtbot, app, topic)
        app.window.new_chat()
    ask(qtbot, app, "unrelated")
    opened = app.controller.conversation_id
    sidebar = app.window.sidebar
    search(qtbot, app, "pineapple")
    box, listing = sidebar.search_box, sidebar.list
    assert len(hit_rows(sidebar)) == 3
    QTest.keyClick(box, Qt.Key.Key_Down)
    assert QApplication.focusWidget() is listing and listing.currentRow() == 0
    QTest.keyClick(listing, Qt.Key.Key_Down)
    assert listing.currentRow() == 1 and app.controller.conversation_id == opened  # moving does not open
    QTest.keyClick(listing, Qt.Key.Key_Up)
    QTest.keyClick(listing, Qt.Key.Key_Up)  # from the first hit: back to the box, the query kept
    assert QApplication.focusWidget() is box and box.text() == "pineapple"
    QTest.keyClick(box, Qt.Key.Key_Down)
    QTest.keyClick(listing, Qt.Key.Key_Down)
    wanted = listing.item(1).data(Qt.ItemDataRole.UserRole)
    QTest.keyClick(listing, Qt.Key.Key_Return)  # Enter opens the hit
    assert app.controller.conversation_id == wanted != opened
    assert app.window.transcript.views[0].property("highlighted") is True
    box.setFocus()
    QTest.keyClick(box, Qt.Key.Key_Return)  # Enter in the box opens the first hit
    assert app.controller.conversation_id == listing.item(0).data(Qt.ItemDataRole.UserRole)


def marks(text) -> list[str]:
    """The text under each search mark in a message, as marked (find's colour)."""
    from ui.token_text import FOUND_BACKGROUND

    return [s.cursor.selectedText() for s in text.extraSelections() if s.format.background().color() == FOUND_BACKGROUND]


def test_opening_a_hit_scrolls_to_the_match_and_marks_it(qtbot, launch):
    app = launch(FakeBackend(reply=LONG_REPLY))
    app.window.resize(900, 600)
    ask(qtbot, app, "Tell me about the plantation")
    for _ in range(3):
        ask(qtbot, app, "And the ledgers?")  # a long conversation: the hit is far from the end
    app.window.new_chat()
    search(qtbot, app, "pineapp")
    sidebar = app.window.sidebar
    listing = sidebar.list
    row = min(hit_rows(sidebar), key=lambda r: listing.item(r).data(MESSAGE_ROLE))  # the first reply of four
    QTest.mouseClick(listing.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     listing.visualItemRect(listing.item(row)).center())  # fmt: skip
    transcript = app.window.transcript
    view = next(v for v in transcript.views if v.property("highlighted"))
    assert marks(view.text) == ["pineapple"]  # the matched word itself is marked
    assert all(marks(v.text) == [] for v in transcript.views if v is not view)

    def match_in_sight() -> bool:
        rect = view.text.show_position(view.text.mark_matches(view.text._found))
        top = view.text.viewport().mapTo(transcript.viewport(), rect.topLeft()).y()
        return 0 <= top and top + rect.height() <= transcript.viewport().height()

    qtbot.waitUntil(match_in_sight)  # scrolled to the match, not just to the message's top
    # the mark is drawn: the pixels under the word are find's colour
    rect = view.text.show_position(view.text.mark_matches(view.text._found))
    image = view.text.viewport().grab().toImage()
    colours = {image.pixelColor(x, rect.top() + 2).name() for x in range(rect.left() + 1, rect.left() + 30)}
    assert QColor("#ffd54a").name() in colours
    sidebar.search_box.clear()  # the search ends: its marks go, the conversations come back
    assert marks(view.text) == []
    qtbot.waitUntil(lambda: not hit_rows(sidebar) and sidebar.list.count() == 1)


QUESTION = "Where is the pineapple in the plantation ledgers, and what do they say about the harvest?"


def test_hit_rows_sit_with_no_gaps_and_are_cut_only_between_words(qtbot, launch):
    app = launch(FakeBackend(reply=LONG_REPLY))
    ask(qtbot, app, QUESTION)
    app.window.new_chat()
    ask(qtbot, app, "A pineapple")
    sidebar = app.window.sidebar
    for width in (170, 260, 400):
        sidebar.setFixedWidth(width)
        search(qtbot, app, "pineapple")
        listing = sidebar.list
        listing.setCurrentRow(-1)
        qtbot.wait(50)
        image = listing.viewport().grab().toImage()
        ratio = image.devicePixelRatio()
        background = image.pixelColor(int(listing.viewport().width() * ratio) - 2, image.height() - 2)
        rows = hit_rows(sidebar)
        assert len(rows) >= 3
        for row in rows:
            rect = listing.visualItemRect(listing.item(row))
            inked = [y for y in range(rect.top(), rect.bottom() + 1)
                     if any(image.pixelColor(int(x * ratio), int(y * ratio)) != background
                            for x in range(rect.left() + 2, rect.right() - 2, 2))]  # fmt: skip
            assert inked, row
            assert rect.bottom() - inked[-1] <= 10, (width, row)  # no empty band under the text
            assert inked[0] - rect.top() <= 10, (width, row)
            # every word drawn is a whole word of the title or the message (or "…" in its place)
            item = listing.item(row)
            font = listing.font()
            lines = HitDelegate.lines(item.text(), item.data(SPANS_ROLE), rect.width() - 16, font)
            source = " ".join([QUESTION, LONG_REPLY, "A pineapple"])
            bold = QFont(font)
            bold.setBold(True)
            for number, (line, spans) in enumerate(lines):
                body = line.split(": ", 1)[1] if number == 1 else line
                assert QFontMetricsF(bold).horizontalAdvance(line) <= rect.width() - 16, (width, line)  # not clipped
                if len(body.split()) == 1 and line != item.text().split("\n")[number]:
                    continue  # one word wider than the row: elided inside, its cut marked "…"
                for word in body.split():
                    bare = word.strip(ELLIPSIS)
                    assert bare and re.search(rf"(^|\s){re.escape(bare)}(\s|$)", source), (width, line, word)
                assert [line[s : s + n].lower() for s, n in spans] in ([], ["pineapple"])
