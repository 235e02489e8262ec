"""Inspector views fed real-shaped records directly (no model): what they say about them."""

from __future__ import annotations

from engine.events import TokenEvent
from ui.inspector.base import fill
from ui.inspector.loop_chart import nice_ceiling, time_axis_top
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


def test_the_step_time_axis_is_a_round_value_above_the_decode_steps():
    assert [nice_ceiling(v) for v in (0.7, 1.0, 1.3, 2.2, 4.9, 498.0, 5001.0)] == [1, 1, 2, 2.5, 5, 500, 10000]
    steps = [464.5] + [30.0 + i % 7 for i in range(40)]  # the first step reads the prompt
    top = time_axis_top(steps)
    assert top == 50 and top >= 1.2 * sorted(steps[1:])[int(0.95 * 39)]  # the decode steps fit with room
    assert steps[0] > top  # the first is drawn clipped, its time written on it


def test_a_table_s_last_column_takes_the_rest_of_the_width_and_never_more(qtbot):
    from ui.inspector.output_views import LMHeadView

    view = LMHeadView()
    qtbot.addWidget(view)
    view.resize(420, 600)
    view.show()
    qtbot.waitExposed(view)
    fill(view.table, [[1, "a", 7, "-0.1", "90 %", "█" * 200]])  # a bar far wider than the room
    header, width = view.table.horizontalHeader(), view.table.viewport().width()
    assert header.length() == width
    qtbot.waitUntil(lambda: not view.table.horizontalScrollBar().isVisible())
    assert view.table.item(0, 5).toolTip() == "█" * 200  # the elided text, whole in its tooltip


def test_a_reopened_reply_shows_the_cache_lengths_it_showed_live():
    """The loop's lengths come from the engine's measurement while the app runs, and are worked out
    from the reply's numbers once reopened (no per-token measurement is kept): the same values, and
    the last one's bytes are the reply's (as the status bar showed them)."""
    from dataclasses import replace

    from engine.events import TokenEvent
    from ui.inspector.loop_chart import LoopSeries

    prompt, per_token = 29, 46_080
    for finish, fed in (("eos", 1), ("length", 0), ("cancelled", 1)):
        live = [
            TokenEvent(index=i, token=7, text="a", piece="a", logprob=-0.1, sampled_logprob=-0.1, entropy=0.2,
                       prompt_tokens=prompt, cached_tokens=19, step_s=0.1, kv_tokens=prompt + i + 1,
                       kv_bytes=(prompt + i + 1) * per_token)
            for i in range(12)
        ]  # fmt: skip
        live[-1] = replace(live[-1], kv_tokens=prompt + 11 + fed, kv_bytes=(prompt + 11 + fed) * per_token,
                           finish_reason=finish)  # fmt: skip
        stats = {"prompt_tokens": prompt, "cached_tokens": 19, "context_used": prompt + 12, "finish_reason": finish,
                 "kv_bytes": live[-1].kv_bytes}  # fmt: skip
        reopened = [TokenEvent(index=t.index, token=t.token, text=t.text, piece=t.piece, logprob=t.logprob,
                               sampled_logprob=t.sampled_logprob, entropy=t.entropy) for t in live]  # fmt: skip
        shown, again = LoopSeries.from_records(live, stats), LoopSeries.from_records(reopened, stats)
        assert shown.lengths == again.lengths == [t.kv_tokens for t in live], finish
        assert again.kv_bytes[-1] == shown.kv_bytes[-1] == shown.lengths[-1] * per_token
        assert (again.prompt, again.cached) == (shown.prompt, shown.cached) == (prompt, 19)
