"""The tint legend follows View → Probability Tint: with the tint off the panel draws no key for
colours that are not on screen (it says the tint is off), in the main window, in the API Requests
window, in an empty conversation's help and after a restart; "Tint Code Too" is offered only while
there is a tint to extend."""

from __future__ import annotations

from PySide6.QtGui import QColor

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask, seen


def swatch_pixels(legend) -> int:
    """Pixels of the legend in a tint's warm colour, as the legend is on screen (the rest of the
    panel is grey: background and text)."""
    image = legend.grab().toImage()
    colours = (QColor(image.pixel(x, y)) for x in range(image.width()) for y in range(image.height()))
    return sum(c.red() - c.blue() > 30 for c in colours)


def test_the_legend_follows_the_tint_setting(qtbot, launch, tmp_path):
    app = launch(FakeBackend())
    ask(qtbot, app, "hello")
    window = app.window
    legend = window.panel.legend
    assert swatch_pixels(legend) > 0 and window.code_tint_action.isEnabled()

    window.tint_action.trigger()  # View → Probability Tint (Ctrl+T): off
    assert not app.controller.settings.app.probability_tint
    assert swatch_pixels(legend) == 0
    assert legend.caption == "Token tint: off" and "View → Probability Tint" in legend.toolTip()
    assert not window.code_tint_action.isEnabled()
    window.new_chat()  # an empty conversation explains no colours either
    assert "tint is off" in seen(window.transcript.empty_label.text())
    assert "warmer the colour" not in seen(window.transcript.empty_label.text())
    requests = window.open_requests()  # View → API Requests: its panel says the same
    assert swatch_pixels(requests.panel.legend) == 0
    requests.close()

    app.close()
    again = launch(FakeBackend(), profile=tmp_path)  # the tint stays off after a restart, and so does the legend
    assert swatch_pixels(again.window.panel.legend) == 0 and not again.window.code_tint_action.isEnabled()

    again.window.tint_action.trigger()  # on again: the key comes back, everywhere
    assert swatch_pixels(again.window.panel.legend) > 0 and again.window.code_tint_action.isEnabled()
    assert again.window.panel.legend.caption == "Token tint: probability"
    again.window.new_chat()
    assert "warmer the colour" in seen(again.window.transcript.empty_label.text())
