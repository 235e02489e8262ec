"""The next-token panel's "after your settings" column is what the sampler really drew from."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.ui.driver import ask

pytestmark = pytest.mark.slow


def test_at_temperature_0_the_chosen_token_is_certain_after_the_settings(qtbot, launch):
    app = launch(max_new_tokens=3)
    window, controller = app.window, app.controller

    settings = controller.settings
    controller.apply_settings(replace(settings, sampling=replace(settings.sampling, temperature=0.0)))
    reply = ask(qtbot, app, "What is the capital of France?")
    record = reply.tokens[0]
    best = max(record.top_raw, key=lambda t: t[2])
    assert record.token == best[0] and math.exp(record.logprob) < 0.999  # the model was not sure
    view = window.transcript.views[1]
    QTest.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, pos=view.text.token_point(0))
    panel = window.panel
    assert panel.values["settings"].text() == "100%"
    assert panel.values["model"].text() != "100%"
    assert [row[0] for row in panel.final_bars.rows] == [record.token]  # one candidate left
    assert "Only 1 token left" in panel.final_note.text()
