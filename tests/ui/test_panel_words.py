"""The next-token panel in words a newcomer reads: tooltips on every label, "end of reply" for the
end token, "part of 'こ'" for a byte token, no "Live" once the reply has ended, one 80 % everywhere,
and a chosen row whose percentage stays readable."""

from __future__ import annotations

import math

from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QColor, QFontMetrics
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel, QMessageBox

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask, seen
from ui.fonts import fixed_font
from ui.probability_panel import PERCENT_WIDTH, ROW_HEIGHT
from ui.text_format import utf16_offsets, visible_piece
from ui.theme import CONFIDENT

# (text the token added, the token's piece): "Hi こ" then the end-of-reply token; こ is three bytes
# (E3 81 93) in two tokens, the first of which adds no text yet.
SCRIPT = [("Hi", "Hi"), (" ", " "), ("", "<0xE3><0x81>"), ("こ", "<0x93>"), ("", "<|im_end|>")]


def test_the_panel_reads_end_of_reply_and_byte_tokens_in_words_and_stops_saying_live(qtbot, launch):
    app = launch(FakeBackend(reply=SCRIPT))
    ask(qtbot, app, "Say hi in Japanese")
    panel = app.window.panel
    assert panel.piece_label.text() == "end of reply"  # not "<|im_end|>"
    assert "(<|im_end|>)" in seen(panel.piece_label.toolTip()) and "finished" in seen(panel.piece_label.toolTip())
    assert not panel.subtitle.text().startswith("Live") and "finished" in panel.subtitle.text()
    chosen = panel.raw_bars.chosen_row()
    assert panel.raw_bars.rows[chosen][1] == "<|im_end|>"

    view = app.window.transcript.views[1]
    assert view.text.toPlainText() == "Hi こ"
    position = utf16_offsets("Hi こ")[3]
    point = view.text.token_point(3)
    assert view.text.token_at(point) == 3 and view.text.token_span(2) == view.text.token_span(3) == (position, position + 1)
    QTest.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    assert panel.piece_label.text() == "part of 'こ' (bytes 93)"
    assert "bytes" in seen(panel.piece_label.toolTip())
    assert panel.subtitle.text().startswith("Selected")


def test_every_label_in_the_panel_explains_itself(qtbot, launch):
    app = launch(FakeBackend())
    ask(qtbot, app, "Hello")
    panel = app.window.panel
    shown = [label for label in panel.findChildren(QLabel) if label.isVisible() and label.text()
             and label not in (panel.title, panel.subtitle, panel.final_note)]  # fmt: skip
    names = {label.text() for label in shown}
    assert {"the model gave it", "after your settings", "uncertainty (entropy)", "token id",
            "Model", "After settings"} <= names  # fmt: skip
    assert all(len(label.toolTip()) > 30 for label in shown), [l.text() for l in shown if not l.toolTip()]
    assert "␣" in panel.raw_bars.toolTip() and "↵" in panel.raw_bars.toolTip()
    assert "nats" in panel.values["entropy"].text()


def test_help_the_legend_and_the_tint_use_the_same_confidence(qtbot, launch, monkeypatch):
    app = launch(FakeBackend())
    said = []
    monkeypatch.setattr(QMessageBox, "information", lambda _parent, _title, text: said.append(text))
    help_menu = next(a.menu() for a in app.window.menuBar().actions() if a.text() == "&Help")
    next(a for a in help_menu.actions() if "Colours" in a.text()).trigger()
    expected = f"{CONFIDENT:.0%}"
    assert expected == "80%" and f"({expected} or more)" in said[0]
    assert app.window.panel.legend.STOPS[0][1] == f"≥{expected}"


def test_the_chosen_rows_percentage_never_sits_on_the_dark_bar(qtbot, launch):
    app = launch(FakeBackend())
    bars = app.window.panel.raw_bars
    bars.resize(240, 100)
    bars.set_rows([[5, "sure", math.log(0.99)], [6, "maybe", math.log(0.01)]], chosen=5, k=10)
    image = bars.grab().toImage()
    accent = bars.palette().color(bars.palette().ColorRole.Highlight)
    # the percentage's area of the chosen row (right-hand 50 px): no pixel there is the bar's colour
    near_accent = 0
    for x in range(bars.width() - 50, bars.width() - 2):
        for y in range(4, 18):
            pixel = QColor(image.pixel(x, y))
            if abs(pixel.hue() - accent.hue()) < 12 and pixel.saturation() > 120:
                near_accent += 1
    assert near_accent < 10  # only the row's thin outline, not a bar under the text


def test_hovering_a_row_of_alternatives_shows_its_whole_token(qtbot, launch):
    from PySide6.QtCore import QEvent, QPoint
    from PySide6.QtGui import QHelpEvent
    from PySide6.QtWidgets import QToolTip

    app = launch(FakeBackend(reply=SCRIPT))
    ask(qtbot, app, "Say hi in Japanese")
    bars = app.window.panel.raw_bars
    bars.set_rows([[5, "Hi", -0.1], [6, "<0xE3>", -2.0]], chosen=5, k=10)
    row = 1
    point = QPoint(20, row * 22 + 11)
    QTest.mouseMove(bars, point)
    bars.event(QHelpEvent(QEvent.Type.ToolTip, point, bars.mapToGlobal(point)))  # what resting there sends
    qtbot.waitUntil(lambda: "bytes E3" in seen(QToolTip.text()))
    assert "part of a character" in seen(QToolTip.text()) and "%" in seen(QToolTip.text())


def test_a_clicked_alternative_is_marked_and_end_of_reply_fits_its_row(qtbot, launch):
    app = launch(FakeBackend(reply=SCRIPT))
    ask(qtbot, app, "Say hi in Japanese")
    panel = app.window.panel
    bars = panel.raw_bars
    end = next(r for r, row in enumerate(bars.rows) if row[1] == "<|im_end|>")
    label = visible_piece(bars.rows[end][1], compact=True)
    room = bars.width() - PERCENT_WIDTH - 8
    assert QFontMetrics(fixed_font()).horizontalAdvance(label) <= room  # "«end»", not "end of r…"
    other = next(r for r in range(len(bars.rows)) if r != bars.chosen_row())
    QTest.mouseClick(bars, Qt.MouseButton.LeftButton, pos=QPoint(20, int((other + 0.5) * ROW_HEIGHT)))
    assert bars.offered_row() == other and panel.continue_button.isVisible()
    token = bars.rows[other][0]
    assert panel.final_bars.offered == token  # marked in both columns
    chosen = bars.chosen_row()
    QTest.mouseClick(bars, Qt.MouseButton.LeftButton, pos=QPoint(20, int((chosen + 0.5) * ROW_HEIGHT)))
    assert bars.offered_row() is None and not panel.continue_button.isVisible()


def test_in_a_narrow_panel_the_header_wraps_whole_and_byte_rows_keep_their_bytes(qtbot, launch):
    """Trial 5 #24 and #29: "Reply stopped at the token limit · its last t" was cut, and every row
    of a byte-level step read "bytes …"."""
    app = launch(FakeBackend(), max_new_tokens=3)
    ask(qtbot, app, "hello")
    panel = app.window.panel
    panel.setMaximumWidth(300)  # as narrow as it gets (its minimum): the Inspector docked beside it
    qtbot.waitUntil(lambda: panel.width() == 300, timeout=2000)
    subtitle = panel.subtitle
    assert subtitle.text().startswith("Reply stopped at the token limit")
    qtbot.waitUntil(lambda: subtitle.height() >= subtitle.heightForWidth(subtitle.width()), timeout=2000)
    assert QFontMetrics(subtitle.font()).horizontalAdvance(subtitle.text()) > subtitle.width()  # it wrapped: the case
    rows = [visible_piece(p, compact=True) for p in ("<0x89>", "<0x8A>", "<0xE3><0x81>")]
    assert [r[:5] for r in rows] == ["89 · ", "8A · ", "E3 81"]  # told apart by their first characters
