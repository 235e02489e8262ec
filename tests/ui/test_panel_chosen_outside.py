"""The next-token panel always has a row for the token the reply took (trial 6, finding 5): when it
ranks below the rows shown, it comes after a dotted line with its own probability, and its tooltip
says it ranked below them."""

from __future__ import annotations

import math

from engine.events import TokenEvent
from ui.probability_panel import ProbabilityPanel

TOP = tuple((i, f"w{i}", math.log(0.9 / (i + 1) / 3)) for i in range(12))


def _record(token: int, logprob: float, sampled: float) -> TokenEvent:
    return TokenEvent(index=0, token=token, text="場合に", piece="場合に", logprob=logprob, sampled_logprob=sampled,
                      entropy=2.0, top_raw=TOP, top_final=TOP[:11])


def test_a_token_ranked_below_the_shown_rows_gets_its_own_row(qtbot):
    panel = ProbabilityPanel(top_k=10)
    qtbot.addWidget(panel)
    panel.show_step(_record(500, math.log(0.0043), math.log(0.015)), "Selected · token 1 of this reply")
    for bars, logprob in ((panel.raw_bars, math.log(0.0043)), (panel.final_bars, math.log(0.015))):
        assert len(bars.rows) == 11 and bars.outside
        assert bars.rows[-1] == (500, "場合に", logprob) and bars.chosen_row() == 10
        tip = bars.row_tip(10 * bars.row_height() + 2)
        assert "the one the reply took" in tip and "ranked below the 10 shown above it" in tip
        assert bars.height() == 11 * bars.row_height()  # the extra row is laid out, not cut off
    assert panel.values["model"].text() == "0.43%"


def test_a_token_among_the_shown_rows_adds_none(qtbot):
    panel = ProbabilityPanel(top_k=10)
    qtbot.addWidget(panel)
    panel.show_step(_record(3, TOP[3][2], TOP[3][2]), "Selected · token 1 of this reply")
    assert len(panel.raw_bars.rows) == 10 and not panel.raw_bars.outside and panel.raw_bars.chosen_row() == 3
    panel.raw_bars.grab()  # paints without error
    panel.show_step(_record(500, -9.0, -8.0), "Selected · token 2 of this reply")
    panel.show()
    assert not panel.raw_bars.grab().isNull()
