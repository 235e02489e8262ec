"""At a large text size the next-token panel still shows everything a reader needs whole (verify 7:
at 250-270 % in the 400 px pane the fact names read "the model ga", "uncertainty (", the Model
column showed percentages with no token names, and the tint legend's "≥80%" was cut): fact names
wrap between their words, the two candidate lists go one under the other when they cannot both
hold a percentage and a token side by side, the legend's swatches take more rows; at the normal
size the panel looks as before (lists side by side, each name on one line)."""

from __future__ import annotations

from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QLabel

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask
from ui.fonts import fixed_font
from ui.text_format import visible_piece


def shows_whole(label: QLabel) -> bool:
    """Every character of the label is drawn: on one line within its width, or wrapped between
    words that each fit, in a height that holds every line."""
    metrics = label.fontMetrics()
    if not label.wordWrap():
        return metrics.horizontalAdvance(label.text()) <= label.contentsRect().width()
    words_fit = all(metrics.horizontalAdvance(w) <= label.contentsRect().width() for w in label.text().split())
    return words_fit and label.heightForWidth(label.width()) <= label.height()


def cut_pieces(bars) -> list[str]:
    """The candidates whose token is drawn cut short in a list (the chosen row's bold font, the widest)."""
    font = fixed_font(bars.font())
    font.setBold(True)
    metrics = QFontMetrics(font)
    room = bars.width() - bars.percent_width() - 8
    return [piece for _id, piece, _lp in bars.rows if metrics.horizontalAdvance(visible_piece(piece, compact=True)) > room]


def cut_swatches(legend) -> list[str]:
    cell = legend.width() / getattr(legend, "per_row", lambda: len(legend.STOPS))() - 2
    return [label for _p, label in legend.STOPS if legend.fontMetrics().horizontalAdvance(label) > cell]


def names(panel) -> list[QLabel]:
    return panel.findChildren(QLabel, "factName")


def stacked(panel) -> bool:
    """The settings' list is under the model's, not beside it."""
    return panel.final_bars.x() == panel.raw_bars.x() and panel.final_bars.y() > panel.raw_bars.y()


def everything_cut(panel) -> list[str]:
    labels = [*names(panel), *panel.values.values(), panel.raw_heading, panel.final_heading]
    return ([label.text() for label in labels if not shows_whole(label)]
            + cut_pieces(panel.raw_bars) + cut_pieces(panel.final_bars) + cut_swatches(panel.legend))


def test_the_panel_shows_its_names_tokens_and_legend_whole_at_a_large_text_size(qtbot, launch):
    app = launch(FakeBackend())
    window, panel = app.window, app.window.panel
    window.resize(1180, 780)
    ask(qtbot, app, "hello")
    qtbot.wait(50)
    assert not stacked(panel) and everything_cut(panel) == []
    one_line = [n.text() for n in names(panel) if n.height() >= 2 * n.fontMetrics().lineSpacing()]
    assert one_line == []  # at 100 % each name is on one line
    for zoom in (250, 270):
        while app.controller.settings.app.zoom_percent < zoom:
            window.zoom(+1)
        qtbot.wait(50)
        assert everything_cut(panel) == [] and stacked(panel), f"at {zoom} %"
        assert window.height() == 780  # the window stays as tall as it was (the panel scrolls)
    window.zoom(0)
    qtbot.wait(50)
    assert not stacked(panel) and everything_cut(panel) == []


def test_a_token_too_long_for_the_panel_is_cut_with_its_whole_text_in_the_tooltip(qtbot, launch):
    """The step's token is drawn large: at 270 % a long one was clipped at the panel's edge
    ("␣internat") with nothing saying what was left out."""
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from tests.ui.driver import seen

    app = launch(FakeBackend(reply=[("Hello", "Hello"), (" internationalization", " internationalization")]))
    window, panel = app.window, app.window.panel
    window.resize(1180, 780)
    ask(qtbot, app, "hello")
    view = window.transcript.views[1]
    QTest.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     view.text.token_point(1))
    label = panel.piece_label
    assert label.text() == "␣internationalization" and shows_whole(label)  # whole at 100 %
    while app.controller.settings.app.zoom_percent < 270:
        window.zoom(+1)
    qtbot.wait(50)
    assert shows_whole(label)  # what is drawn fits; it says it is cut, and the tooltip has it whole
    assert label.text() != "␣internationalization" and label.text().endswith("…")
    assert seen(label.toolTip()).startswith("␣internationalization\n")
    window.zoom(0)
    qtbot.wait(50)
    assert label.text() == "␣internationalization" and not seen(label.toolTip()).startswith("␣international")
