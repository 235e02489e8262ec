"""Token text shown with visible whitespace, percentages, and the Markdown source-to-document map."""

from __future__ import annotations

import math

from ui.markdown_align import align
from ui.text_format import byte_size, duration, percent, percent_html, utf16_offsets, visible_piece


def test_whitespace_is_made_visible():
    assert visible_piece(" the") == "␣the"
    assert visible_piece("\n\n") == "↵↵"
    assert visible_piece("\tx") == "⇥x"
    assert visible_piece("") == "∅"


def test_percentages_keep_small_numbers_readable():
    assert percent(math.log(0.4237)) == "42%"
    assert percent(math.log(0.0512)) == "5.1%"
    assert percent(math.log(0.00034)) == "0.03%"
    assert percent(math.log(0.000001)) == "<0.01%"
    assert percent(-math.inf) == "0%"
    assert percent_html(math.log(0.000001)) == "&lt;0.01%"


def test_byte_sizes():
    assert byte_size(512) == "512 B"
    assert byte_size(3_000_000) == "3.0 MB"
    assert byte_size(1_889_280) == "1.9 MB"  # decimal, as Manage Models shows a file (app/byte_sizes.py)
    assert byte_size(98_362_432) == "98.4 MB"  # as Manage Models writes the default model's file


def test_markup_is_unmatched_and_text_maps_in_order():
    source = "Say **hi** to\n\n1. `x`"
    rendered = "Say hi to\u2029x"
    mapping = align(source, rendered)
    assert [rendered[j] for j in mapping if j >= 0] == list(rendered)
    assert mapping[source.index("h")] == rendered.index("h")
    assert mapping[source.index("*")] == -1 and mapping[source.index("`")] == -1
    assert mapping[source.index("\n")] == rendered.index("\u2029")


def test_durations_read_as_people_say_them():
    assert duration(0.0456) == "46 ms"
    assert duration(22.207) == "22.2 s"
    assert duration(185) == "3 min 5 s"


def test_python_offsets_become_qt_positions_in_utf16_units():
    assert utf16_offsets("a😀b") == [0, 1, 3, 4]
    assert utf16_offsets("") == [0]


def test_byte_and_end_tokens_read_as_words():
    assert visible_piece("<0xE3><0x81>", "こ") == "part of 'こ' (bytes E3 81)"
    assert visible_piece("<0xE3><0x81>") == "part of a character (bytes E3 81)"
    assert visible_piece("<0xE3><0x81><0x93>") == "'こ' (bytes E3 81 93)"
    assert visible_piece("<|im_end|>") == "end of reply" and visible_piece("</s>") == "end of reply"
    assert visible_piece("<0xZZ>") == "<0xZZ>"
    assert visible_piece("<0xF0><0x9F>", compact=True) == "F0 9F · part of a character"  # the bytes tell rows apart


def test_a_piece_of_characters_that_draw_nothing_is_visible():
    """Verify 5, N8: the logit lens showed a blank top token (a control character of the byte-level
    vocabulary); every character that draws nothing gets a visible form, the exact text behind it."""
    from ui.text_format import visible_piece

    assert visible_piece("\x00") == "␀" and visible_piece("\x1b[") == "␛["
    assert visible_piece("a\u00a0b") == "a⟨U+00A0⟩b" and visible_piece("\u200b") == "⟨U+200B⟩"
    assert visible_piece(" x\n\t") == "␣x↵⇥" and visible_piece("日本") == "日本" and visible_piece("😀") == "😀"
