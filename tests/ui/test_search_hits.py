"""A search hit's row shows the matched word, highlighted, however long the message before it; the
message is drawn as text (its "<b>" stays "<b>")."""

from __future__ import annotations

from PySide6.QtGui import QImage, QPainter
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QStyleOptionViewItem

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask
from ui.search_hits import SPANS_ROLE


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


def test_a_narrow_row_drops_words_before_the_match_until_it_fits(qtbot):
    from PySide6.QtGui import QFont, QFontMetrics

    from ui.search_hits import fit_match

    metrics = QFontMetrics(QFont())
    line = "Assistant: …of France is Paris."
    start = line.index("Paris")
    fitted, spans = fit_match(line, [(start, 5)], metrics.horizontalAdvance("Assistant: …is Paris"), metrics)
    s, n = spans[0]
    assert fitted.startswith("Assistant: …") and fitted[s : s + n] == "Paris"
    assert metrics.horizontalAdvance(fitted[: s + n]) <= metrics.horizontalAdvance("Assistant: …is Paris")
