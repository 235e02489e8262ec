"""While a reply streams, the status bar fits its row again with every token batch, remembering the
widths it has measured: what it shows must be what a status bar showing those numbers for the first
time shows, at every width and after the text size changes."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QFont

from ui.status_bar import StatusBar
from ui.theme import apply_look

INFO = {"display_name": "SmolLM2-135M-Instruct", "n_params": 135_000_000, "context_length": 8192,
        "path": "/models/smollm2.gguf", "load_s": 0.4}  # fmt: skip


def live(step: int) -> dict:
    """The numbers of a reply `step` tokens in, as `ChatController.live_numbers` gives them."""
    return {"prompt_tokens": 2173, "cached_tokens": 2146, "computed_tokens": 27, "ttft_s": 0.41,
            "tokens_per_s": 9.5 + step * 0.37, "kv_bytes": 1_200_000 + step * 46_080,
            "context_used": 2173 + step, "context_length": 8192, "generated_tokens": step}  # fmt: skip


def shown(status: StatusBar) -> list:
    """Everything the row shows: each item's text, tooltip and whether it is there, and the message."""
    items = [*status.labels, status.other_label, status.more_label]
    return [(w.text(), w.toolTip(), not w.isHidden()) for w in items] + [status.currentMessage()]


def bar(qtbot, width: int, font: QFont | None = None, message: str = "") -> StatusBar:
    status = StatusBar()
    qtbot.addWidget(status)
    if font is not None:
        status.setFont(font)
    status.resize(width, 24)
    status.show_model(INFO)
    if message:
        status.showMessage(message)
    return status


@pytest.mark.parametrize("styled", [False, True], ids=["bare", "the app's look"])
@pytest.mark.parametrize("width", [420, 640, 900, 1180])
@pytest.mark.parametrize("message", ["", "Copied the reply to the clipboard"])
def test_a_streaming_bar_shows_what_a_fresh_one_shows_for_the_same_numbers(qtbot, look, width, message, styled):
    """With the app's style sheet (its padding is in a label's size hint only) a streamed bar cut
    the message a letter earlier than a fresh one: a label's padding was measured against the
    text it showed before (CI, session 9)."""
    apply_look(look, "light", 100) if styled else look.setStyleSheet("")
    streaming = bar(qtbot, width, message=message)
    for step in range(0, 60, 3):
        streaming.show_stats(live(step), "SmolLM2-135M-Instruct")
        fresh = bar(qtbot, width, message=message)
        fresh.show_stats(live(step), "SmolLM2-135M-Instruct")
        assert shown(streaming) == shown(fresh), step


@pytest.mark.parametrize("width", [640, 900])
def test_after_a_text_size_change_the_widths_are_measured_again(qtbot, look, width):
    look.setStyleSheet("")  # a font set on the bar shows (the app's style sheet would set its own)
    streaming = bar(qtbot, width)
    for step in range(10):
        streaming.show_stats(live(step), "SmolLM2-135M-Instruct")
    larger = QFont(streaming.font())
    larger.setPointSizeF(larger.pointSizeF() * 1.6)
    streaming.setFont(larger)  # View → Zoom In reaches every label as a font change
    streaming.show_stats(live(10), "SmolLM2-135M-Instruct")
    fresh = bar(qtbot, width, font=larger)
    fresh.show_stats(live(10), "SmolLM2-135M-Instruct")
    assert shown(streaming) == shown(fresh)
    narrow = bar(qtbot, width)  # the old text size would have fitted more: the test can tell them apart
    narrow.show_stats(live(10), "SmolLM2-135M-Instruct")
    assert shown(narrow) != shown(fresh)


@pytest.mark.parametrize("width", [420, 900, 1180])
@pytest.mark.parametrize(("theme", "zooms"), [("light", (100, 240)), ("dark", (270, 130)), ("light", (100, 200, 270))])
def test_zoomed_mid_stream_the_bar_shows_what_a_fresh_one_shows(qtbot, look, width, theme, zooms):
    """View → Zoom In/Out while a reply streams (the whole app's font and style sheet change)."""
    apply_look(look, theme, zooms[0])
    streaming = bar(qtbot, width)
    streaming.show()
    step = 0
    for zoom in zooms:
        apply_look(look, theme, zoom)
        for _ in range(4):
            step += 3
            streaming.show_stats(live(step), "SmolLM2-135M-Instruct")
            fresh = bar(qtbot, width)
            fresh.show()
            fresh.show_stats(live(step), "SmolLM2-135M-Instruct")
            assert shown(streaming) == shown(fresh), (zoom, step)


def test_resized_mid_stream_the_bar_shows_what_a_fresh_one_shows(qtbot, look):
    apply_look(look, "light", 200)
    streaming = bar(qtbot, 1180)
    streaming.show()
    for step, width in enumerate([1180, 420, 900, 300, 640, 1600, 500]):
        streaming.resize(width, 24)
        qtbot.waitUntil(lambda width=width: streaming.width() == width)
        for k in range(3):
            streaming.show_stats(live(step * 5 + k), "SmolLM2-135M-Instruct")
        fresh = bar(qtbot, width)
        fresh.show()
        fresh.show_stats(live(step * 5 + 2), "SmolLM2-135M-Instruct")
        assert shown(streaming) == shown(fresh), width
