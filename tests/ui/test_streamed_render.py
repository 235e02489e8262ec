"""A streaming reply shows, after every batch of tokens, exactly what rendering it whole shows.

While a reply streams, tokens that only carry on the paragraph it ends in are added to the end of
the document instead of rendering the whole reply again (`TokenText._appends`). Each reply below is
streamed token by token into two views, one allowed to add and one that renders everything whole
(as before); after every token their documents (text, formats and tint, as HTML), the map from
source characters to the document, every token's place, and the code marks must be the same.
"""

from __future__ import annotations

import re

import pytest

from tests.app.fakes import record
from ui.token_text import TokenText, appends_as_plain_text

REPLIES = [
    "Bread is made from flour, water, salt and yeast. First, you mix the flour and water! Then? You wait."
    "\n\nThe dough rises; it doubles in size. It is 'ready' when \"poked\" dough springs back.",
    "Here are the steps:\n\n1. Mix the flour and water.\n2. Knead it for ten minutes.\n\n- a bullet item with "
    "words\n- another one, longer than the first\n  continued on a second line",
    "Use **strong** words and *emphasis* with `code` spans and _under_scores_ here and snake_case_names too. "
    "A lone * star and a ~~strike~~ or ~one.",
    "Visit www.example.com or https://example.org/path and mail me at foo@example.com today. See [the docs]"
    "(http://x.y) now, or <https://z.example> and ftp.example.org.",
    "# A heading line here\n\nSome text after it.\n\n> a quoted line with words\n> and more\n\nSetext title\n===\n\n"
    "Another\n---\nlast words",
    "In 2024. The year was good.\n\n2024. Was it a list?\n\n10) another one\n\n1. one\n\nthe end 3. of it",
    "Text before.\n\n```python\nx = compute(1, 2)\nprint(x)\n```\n\nText after the code block ends here.\n\n    indented code"
    "\n\nand prose again",
    "| a | b |\n|---|---|\n| one two | three four |\n| five |\n\nAfter the table, some words.",
    "Write <smirk> and &amp; and a \\ backslash and C:\\Users path. Also \\*not italic\\* and a\\\nbreak.",
    "Café crème brûlée, naïve coöperation and 漢字 text, emoji 🙂 too. Ünïcödé words and ½ or ² signs.",
    "Line one  \nLine two\nLine three   with spaces and  double  spaces  \n\n   indented words here",
    "Version 1.2.3 is out. Items: a, b, c. Time 10:30 today; ratio 3:2 and e.g. this or i.e. that.",
    "  leading spaces\n\n\nthree blank lines, then text.\n\n\n",
    "```\nstray fence then prose\n\nand more prose after it",
]


def bpe_pieces(text: str) -> list[str]:
    """Word-like tokens as a byte-level BPE cuts prose: " word", "1", ".", "\\n\\n"."""
    pieces = re.findall(r" ?[A-Za-z]+| ?\d| ?[^\sA-Za-z\d]+|\s+", text)
    assert "".join(pieces) == text
    return pieces


def state(view: TokenText) -> tuple:
    """What the view shows and knows about its tokens."""
    return (view.document().toHtml(), view._rendered, view._mapping, view._token_at, view._token_span,
            view._code, view.unfinished, view.end_marked, view.code_blocks, view.height())  # fmt: skip


def views(qtbot) -> tuple[TokenText, TokenText]:
    pair = []
    for _ in range(2):
        view = TokenText()
        qtbot.addWidget(view)
        view.resize(480, 60)
        pair.append(view)
    pair[1]._appends = lambda *_args: False  # renders everything whole, as every batch did before
    return pair[0], pair[1]


def stream(qtbot, pieces: list[str], select: int | None = None) -> int:
    """Stream `pieces` into both views, comparing after each; how many were added to the end."""
    streaming, whole = views(qtbot)
    added = []
    append = streaming._append
    streaming._append = lambda text, tokens: (added.append(text), append(text, tokens))
    tokens: list = []  # one list, grown in place, as a streaming message's is
    text = ""
    for i, piece in enumerate(pieces):
        tokens.append(record(i, piece, logprob=-0.05 - 0.7 * (i % 4)))
        text += piece
        for view in (streaming, whole):
            if select is not None:
                view.select_token(select)
            view.set_content(text, tokens, True)
        assert state(streaming) == state(whole), (i, text)
    for view in (streaming, whole):
        view.set_content(text, tokens, True, ended=True)
    assert state(streaming) == state(whole)
    return len(added)


@pytest.mark.parametrize("reply", REPLIES, ids=range(len(REPLIES)))
def test_streamed_token_by_token_it_shows_what_a_whole_render_shows(qtbot, reply):
    stream(qtbot, bpe_pieces(reply))


@pytest.mark.parametrize("reply", REPLIES[:4] + REPLIES[9:12], ids=range(7))
def test_streamed_character_by_character_it_shows_what_a_whole_render_shows(qtbot, reply):
    stream(qtbot, list(reply), select=3)


def test_prose_is_mostly_added_not_rendered_again(qtbot):
    """The reason for all this: most batches of a prose reply only carry on its last paragraph."""
    pieces = bpe_pieces(REPLIES[0])
    assert stream(qtbot, pieces) > len(pieces) // 2


@pytest.mark.parametrize(("old", "added", "appends"), [
    ("The dough", " rises", True),
    ("The dough", " rises.", True),
    ("1. Mix", " the", True),
    ("The dough", " *rises*", False),  # Markdown's own characters
    ("snake", "_case", False),
    ("The dough", "\n", False),  # a new line may start a block
    ("12", ".", False),  # "12." may start a list
    ("see www", ".example", False),  # an autolink in the making
    ("mail foo", "@example", False),
    ("The dough ", "rises", False),  # a trailing space is not drawn until something follows it
    ("The dough", " rises ", False),
    ("The _dough", " rises", True),  # an opener that nothing closes stays text
    ("The dough_", " rises", False),  # a delimiter whose meaning depends on what follows
])
def test_what_may_be_added_as_plain_text(old, added, appends):
    assert appends_as_plain_text(old, added) is appends
