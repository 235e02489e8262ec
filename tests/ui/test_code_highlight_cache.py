"""A code block's colours are kept per text (`ui.code_blocks._code_spans`: a streaming reply is
rendered again with every few tokens, and lexing its finished blocks again was half of a long
reply's render). A cache never changes an answer: a reply rendered with the colours kept shows
exactly what it shows with none kept, in the light and the dark palette, and a block that changed
is coloured for its new text."""

from __future__ import annotations

import pytest

from tests.app.fakes import record
from ui import code_blocks
from ui.token_text import TokenText

REPLY = (
    "Two blocks:\n\n```python\ndef add(a, b):\n    return a + b  # the sum\n\nprint(add(1, 'x'))\n```\n\n"
    "and\n\n```js\nconst f = (x) => `${x}` + 1;\n```\n\n```python\ndef add(a, b):\n    return a + b  # the sum\n\n"
    "print(add(1, 'x'))\n```\n\nThe end, with `inline` code."
)


def rendered(qtbot, text: str, dark: bool) -> str:
    view = TokenText()
    qtbot.addWidget(view)
    view.resize(500, 80)
    view._dark = lambda: dark  # the palette the colours are chosen for
    tokens = [record(i // 3, text[i : i + 3], logprob=-0.1 * (i % 7)) for i in range(0, len(text), 3)]
    view.set_content(text, tokens, tint=True)
    return view.document().toHtml()


@pytest.mark.parametrize("dark", [False, True], ids=["light", "dark"])
def test_a_reply_rendered_with_its_colours_kept_shows_what_it_shows_without(qtbot, dark):
    code_blocks._code_spans.cache_clear()
    first = rendered(qtbot, REPLY, dark)
    assert code_blocks._code_spans.cache_info().misses >= 2  # the two different blocks were lexed
    assert "color:#" in first  # and coloured
    kept = rendered(qtbot, REPLY, dark)
    assert code_blocks._code_spans.cache_info().hits >= 3  # the same blocks again: none lexed again
    assert kept == first
    code_blocks._code_spans.cache_clear()
    assert rendered(qtbot, REPLY, dark) == first  # nothing kept: the same document


def test_a_changed_block_is_coloured_for_its_new_text(qtbot):
    code_blocks._code_spans.cache_clear()
    before = rendered(qtbot, REPLY, False)
    changed = REPLY.replace("return a + b", "return a - b if a else 'none'", 1)
    after_kept = rendered(qtbot, changed, False)
    code_blocks._code_spans.cache_clear()
    assert rendered(qtbot, changed, False) == after_kept != before


def test_the_colours_kept_for_one_palette_are_not_used_for_the_other(qtbot):
    code_blocks._code_spans.cache_clear()
    dark_fresh = rendered(qtbot, REPLY, True)
    code_blocks._code_spans.cache_clear()
    light = rendered(qtbot, REPLY, False)  # kept for the light palette
    assert rendered(qtbot, REPLY, True) == dark_fresh != light
