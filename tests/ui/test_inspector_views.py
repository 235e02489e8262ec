"""Inspector views fed real-shaped records directly (no model): what they say about them."""

from __future__ import annotations

from engine.events import TokenEvent
from ui.inspector.text_views import DetokenizationView


def _event(index: int, piece: str, text: str, finish: str | None = None) -> TokenEvent:
    return TokenEvent(index=index, token=100 + index, text=text, piece=piece, logprob=-0.1, sampled_logprob=-0.1,
                      entropy=0.5, finish_reason=finish)  # fmt: skip


def test_detokenization_names_the_end_marker_and_counts_only_held_bytes(qtbot):
    view = DetokenizationView()
    qtbot.addWidget(view)
    records = [
        _event(0, "Hi", "Hi"),
        _event(1, "<0xE2>", ""),  # the first byte of "…": held back until the character is complete
        _event(2, "<0x80><0xA6>", "…"),
        _event(3, "<|im_end|>", "", finish="eos"),  # the end of the reply: no text, nothing held
    ]
    view.show_records(records)
    shown = [view.table.item(r, 3).text() for r in range(view.table.rowCount())]
    assert shown == ["Hi", "(held)", "…", "(end of reply: no text)"]
    assert "1 added no text when they arrived (held back)" in view.summary.text()
