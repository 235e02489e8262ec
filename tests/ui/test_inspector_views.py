"""Inspector views fed real-shaped records directly (no model): what they say about them."""

from __future__ import annotations

import pytest

from engine.events import TokenEvent
from ui.inspector.base import fill
from ui.inspector.dock import INSPECTOR_MIN_WIDTH, INSPECTOR_READABLE
from ui.inspector.loop_chart import nice_ceiling, time_axis_top
from ui.inspector.text_views import DetokenizationView, VocabularyView


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


def _vocabulary_report(tok, token: int) -> dict:
    """The report the Inspector's Vocabulary step is shown (its part of an inspected step)."""
    from app.inspection import vocabulary_report
    from engine.vocabulary import Vocabulary

    return {"vocabulary": vocabulary_report(tok, Vocabulary.of(tok), token), "names": {token: tok.piece(token)}}


@pytest.mark.parametrize("width", [INSPECTOR_MIN_WIDTH, INSPECTOR_READABLE])
def test_the_merge_rank_stays_readable_beside_long_labels(qtbot, default_model_path, width):
    """" dé" in the default model: é is built from its two bytes, shown "part of a character (bytes
    C3)": those long labels share the width (elided, whole in a tooltip) and the rank column keeps the
    width its numbers need, inside the table, at the Inspector's narrowest and its docked width."""
    from engine import gguf
    from engine.tokenizer import tokenizer_from_gguf

    tok = tokenizer_from_gguf(gguf.read_header(default_model_path).metadata)
    (token,) = [t for t in tok.encode("Café déjà vu", add_bos=False) if tok.piece(t) == " dé"]
    view = VocabularyView()
    qtbot.addWidget(view)
    view.resize(width, 700)
    view.show()
    qtbot.waitExposed(view)
    view.show_report(_vocabulary_report(tok, token))
    table, header = view.merges, view.merges.horizontalHeader()
    ranks = [table.item(r, 4).text() for r in range(table.rowCount())]
    assert ranks[-1].startswith("rank ") and ranks[-1] == f"rank {int(ranks[-1][5:].replace(',', '')):,}"
    assert "part of a character (bytes C3)" in [table.item(r, 1).text() for r in range(table.rowCount())]
    needed = max(table.sizeHintForColumn(4), header.sectionSizeHint(4))  # the numbers and the header, whole
    qtbot.waitUntil(lambda: table.columnWidth(4) >= needed)
    assert table.columnViewportPosition(4) + table.columnWidth(4) <= table.viewport().width()
    qtbot.waitUntil(lambda: not table.horizontalScrollBar().isVisible())
    for r in range(table.rowCount()):  # a piece cut to the room reads whole in its tooltip
        for c in (1, 2, 3):
            assert table.item(r, c).toolTip() == table.item(r, c).text()


def test_a_token_a_llama3_tokenizer_takes_whole_is_not_said_to_be_added_by_hand(qtbot, tmp_path):
    """" Việt" in a Llama 3 vocabulary: one token (the piece is in the vocabulary), though its merges
    stop at three pieces. The view says how it is made, shows the merges the rules alone make, and
    never says "added by hand"."""
    from tests.engine.test_vocabulary import _llama3_gguf

    tok, viet = _llama3_gguf(tmp_path / "vocab.gguf", "llama-bpe")
    assert tok.encode(" Việt", add_bos=False) == [viet]
    view = VocabularyView()
    qtbot.addWidget(view)
    view.show_report(_vocabulary_report(tok, viet))
    text = view.summary.text()
    assert "by hand" not in text
    assert "takes a piece of text that is itself in the vocabulary as that one token" in text
    assert "stop at 3 pieces, “␣Vi” │ “ệ” │ “t” (4 merges, below)" in text
    assert view.merges.rowCount() == 4 and view.merges.item(3, 3).text() == "ệ"
