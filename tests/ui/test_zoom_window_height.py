"""A large text size never makes the window taller than it is (verify 7: at 270 % the next-token
panel's rows set the window's minimum height to 1,291 px, and the window grew off a 1,000 px screen,
the message box and status bar with it; Ctrl+0 did not bring it back)."""

from __future__ import annotations

from tests.ui.driver import ask


def test_zooming_in_keeps_the_window_height_and_the_panel_scrolls_instead(qtbot, launch):
    app = launch(max_new_tokens=6)
    window = app.window
    window.resize(1180, 780)
    ask(qtbot, app, "Tell me a long story about a cat.")
    assert window.panel.raw_bars.rows  # the panel shows a step's candidates
    for _ in range(17):  # 100 % -> 270 %
        window.zoom(+1)
    qtbot.wait(50)
    assert app.core.controller.settings.app.zoom_percent == 270
    assert window.minimumSizeHint().height() < 780 and window.height() == 780
    pane = window.panel_pane
    assert pane.verticalScrollBar().maximum() > 0  # the panel is taller than its pane: it scrolls
    assert window.panel.width() + pane.verticalScrollBar().width() <= pane.width()  # nothing cut at the side
    window.zoom(0)
    qtbot.wait(50)
    assert window.height() == 780 and pane.verticalScrollBar().maximum() == 0
