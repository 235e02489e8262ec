"""While a reply streams, the panel's live token is the newest token the text shows: its number is
the header's count, never one ahead."""

from __future__ import annotations

import re

from tests.app.fakes import FakeBackend
from tests.ui.driver import type_and_send


def test_the_live_panel_and_the_header_count_the_same_tokens(qtbot, launch):
    app = launch(FakeBackend(endless=True))
    window, controller = app.window, app.controller
    type_and_send(qtbot, window, "Go on")
    qtbot.waitUntil(lambda: len(controller.message(1).tokens) > 10, timeout=20000)
    view = window.transcript.views[1]
    seen = 0
    for _ in range(40):
        qtbot.wait(7)
        header = re.match(r"([\d,]+) tokens?…", view.meta_label.text())
        live = re.match(r"Live · token ([\d,]+)", window.panel.subtitle.text())
        if header and live:
            assert header.group(1) == live.group(1), (view.meta_label.text(), window.panel.subtitle.text())
            seen += 1
    assert seen > 5
    window.composer.button.click()
