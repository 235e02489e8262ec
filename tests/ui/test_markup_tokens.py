"""No token a model wrote vanishes from the reply view (verify 5, N7): Markdown's markup (a heading's
`#`, list markers, fences, emphasis, quotes, rules, table pipes, escapes) still renders as
formatting, and its characters are drawn, faint, where they were written, so each token is hovered
and clicked like any other; a fence that closes nothing is the text it is; a paragraph line keeps
its leading spaces.

Driven through the window with a fake backend whose reply is cut into tokens as a byte-level BPE
cuts it (words with their leading space, punctuation runs, whitespace runs)."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask

PIECES = re.compile(r"'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+")
N7 = (
    "Here is a function that reverses a string:\n\n"
    "def reverse_string(s):\n    return s[::-1]\n\n"
    'print(reverse_string("Hello World"))\n# Output: "dlroW olleH"\n```'
)
# Trial 6, finding 7: code written without an opening fence, its closing fence, then prose
UNOPENED = (
    "def reverse_string(input):\n    return input[::-1]\n"
    'print(reverse_string("Hello World"))  # Output: "dlroW olleH"\n\n'
    "# Example of using the built-in function to reverse a string in Python\n```\n\n"
    "This code uses slicing (`[::-1]`) to create a reversed copy of the string."
)
REPLIES = {
    "n7": N7,
    "closer without opener": "def f(s):\n    return s[::-1]\n```\n\nThis uses `slicing`.",
    "headings": "# Title\n\nSome text.\n\n## Part two\n\nMore.\n\nSetext\n===",
    "lists": "Steps:\n\n1. First\n2. Second\n   still second\n\n- a\n- b\n* c\n\n- [ ] task",
    "fenced": "Code:\n\n```python\ndef f(x):\n    return x\n```\n\nDone.",
    "inline": "This is **bold** and *it* and `code` and [link](https://example.org) and ~~gone~~ \\*ok\\*.",
    "quote and rule": "> quoted text\n> more\n\n---\n\nafter",
    "table": "| a | b |\n|---|---|\n| 1 | 2 |",
    "indented": "Text\n    indented line\n        more\nend",
}


def bpe_reply(text: str) -> list[tuple[str, str]]:
    pieces = PIECES.findall(text)
    assert "".join(pieces) == text
    return [(p, p) for p in pieces]


@pytest.mark.parametrize("reply", REPLIES.values(), ids=REPLIES.keys())
def test_every_token_with_characters_can_be_hovered_and_clicked(qtbot, launch, reply):
    app = launch(FakeBackend(reply=bpe_reply(reply)))
    ask(qtbot, app, "Go on")
    view = app.window.transcript.views[1]
    text, tokens = view.text, view.message.tokens
    assert "".join(t.text for t in tokens) == reply
    for index, token in enumerate(tokens):
        if not token.text.strip():
            continue
        point = text.token_point(index)
        assert point is not None, f"token {index} {token.text!r} is not on screen"
        if text.anchorAt(point):  # a link's text: a click asks to open the link (ui.links); hover finds it
            assert text.token_at(point) == index
            continue
        QTest.mouseClick(text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
        assert app.window.panel.record is tokens[index], token.text
    shown = text.toPlainText()
    assert sorted(shown.replace("\u2028", "").split()) == sorted(reply.split())  # every character, once


def test_the_n7_reply_keeps_its_heading_mark_its_stray_fence_and_its_indent(qtbot, launch):
    app = launch(FakeBackend(reply=bpe_reply(N7)))
    ask(qtbot, app, "Go on")
    text = app.window.transcript.views[1].text
    lines = text.toPlainText().replace("\u2028", "\n").splitlines()
    assert "    return s[::-1]" in [
        line.replace("\u00a0", " ") for line in lines
    ]  # the indent Markdown strips
    assert '# Output: "dlroW olleH"' in lines  # its "#" drawn
    comment = next(b for b in _blocks(text.document()) if '# Output: "dlroW olleH"' in b.text().split("\u2028"))
    assert comment.blockFormat().headingLevel() == 0  # a comment of the code above the stray fence
    assert (
        lines[-1] == "```" and not text.code_blocks
    )  # a fence that closes nothing is text, not an empty block


def _blocks(doc):
    block = doc.begin()
    while block.isValid():
        yield block
        block = block.next()


@pytest.mark.parametrize(
    ("reply", "prose"),
    [
        (UNOPENED, "This code uses slicing (`[::-1]`) to create a reversed copy of the string."),  # its ` drawn faint
        # the stray closer, prose, then a real block: the real block is code, the prose is not
        ("x = 1\n```\nThen add:\n```python\ny = 2\n```\nDone.", "Then add:"),
    ],
    ids=["trial 6", "then a real block"],
)
def test_a_closing_fence_with_no_opener_does_not_turn_the_prose_after_it_into_code(qtbot, launch, reply, prose):
    """Trial 6, finding 7: the model's "```" after code it never opened opened a code block that
    swallowed the prose after it. It shows as the characters written; the prose is a paragraph."""
    app = launch(FakeBackend(reply=bpe_reply(reply)))
    ask(qtbot, app, "Go on")
    text = app.window.transcript.views[1].text
    lines = text.toPlainText().replace("\u2028", "\n").splitlines()
    assert "```" in lines  # the stray fence is drawn where it was written
    block = next(b for b in _blocks(text.document()) if prose in b.text().split("\u2028"))
    assert not block.blockFormat().nonBreakableLines()  # a paragraph's line, not a code line
    real = [b for b in _blocks(text.document()) if b.text() == "y = 2"]
    assert len(text.code_blocks) == len(real)  # only the block the model opened is code
    if real:
        assert real[0].blockFormat().nonBreakableLines()


def test_a_bare_fence_that_opens_and_closes_code_is_still_code(qtbot, launch):
    app = launch(FakeBackend(reply=bpe_reply("Run:\n\n```\nls -l\n```\n\nDone.")))
    ask(qtbot, app, "Go on")
    text = app.window.transcript.views[1].text
    assert len(text.code_blocks) == 1
    assert next(b for b in _blocks(text.document()) if b.text() == "ls -l").blockFormat().nonBreakableLines()


def _line_of(text, words: str):
    """The block of `text`'s document showing the line `words`, and that line's height in px."""
    for block in _blocks(text.document()):
        shown = block.text().split("\u2028")
        if words in shown:
            line = block.layout().lineAt(block.text()[: block.text().index(words)].count("\u2028"))
            return block, line.height()
    raise AssertionError(f"{words!r} is not a line of {text.toPlainText()!r}")


COMMENTS = {  # a reply, a "#" line of it that is a comment of unfenced code, a line of code near it
    "trial 6": (UNOPENED, "# Example of using the built-in function to reverse a string in Python",
                "def reverse_string(input):"),
    "n7": (N7, '# Output: "dlroW olleH"', 'print(reverse_string("Hello World"))'),
    "between code": ("Try this:\n\nimport math\n# Compute the area\narea = math.pi * r ** 2\nprint(area)\n```\n\nDone.",
                     "# Compute the area", "import math"),
    "javascript": ("const xs = [3, 1, 2];\n## Sort the numbers\nxs.sort((a, b) => a - b);\n```", "## Sort the numbers",
                   "const xs = [3, 1, 2];"),
}  # fmt: skip


@pytest.mark.parametrize(("reply", "comment", "code"), COMMENTS.values(), ids=COMMENTS.keys())
def test_a_hash_comment_of_code_written_without_its_fence_is_not_a_heading(qtbot, launch, reply, comment, code):
    """Verify 6, finding 7: in code the model wrote without an opening fence (a stray closing ```
    after it), a `# Example …` comment line was drawn as the reply's biggest heading. It is a line
    of the text, as tall as the code's lines, its "#" drawn."""
    app = launch(FakeBackend(reply=bpe_reply(reply)))
    ask(qtbot, app, "Go on")
    text = app.window.transcript.views[1].text
    block, height = _line_of(text, comment)
    assert block.blockFormat().headingLevel() == 0
    assert height == _line_of(text, code)[1]
    where, tokens = reply.index(comment), app.window.transcript.views[1].message.tokens
    mark = next(k for k, t in enumerate(tokens) if sum(len(u.text) for u in tokens[: k + 1]) > where)  # its "#"
    QTest.mouseClick(text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, text.token_point(mark))
    assert app.window.panel.record is tokens[mark]  # its "#" is a token a click reaches


HEADINGS = {  # a reply, a heading line of it, a line of its text
    "above unfenced code": ("## Solution\n\ndef reverse(s):\n    return s[::-1]\n```", "## Solution",
                            "def reverse(s):"),
    "between code and prose": ("x = compute()\n\n# Notes\n\nThe result is cached.\n```", "# Notes",
                               "The result is cached."),
    "in prose": ("# Bicycles\n\nThe history of the bicycle began in 1817.\n\n## Today\n\nMillions ride.",
                 "## Today", "Millions ride."),
    "in a fenced reply": ("Code:\n\n```python\nx = 1\n```\n\n# Next steps\n\ny = 2", "# Next steps", "y = 2"),
}  # fmt: skip


@pytest.mark.parametrize(("reply", "heading", "prose"), HEADINGS.values(), ids=HEADINGS.keys())
def test_a_heading_in_prose_stays_a_heading(qtbot, launch, reply, heading, prose):
    """A heading the model wrote in prose (above code, or between code and prose) is drawn as one."""
    app = launch(FakeBackend(reply=bpe_reply(reply)))
    ask(qtbot, app, "Go on")
    text = app.window.transcript.views[1].text
    block, height = _line_of(text, heading)
    assert block.blockFormat().headingLevel() == heading.index(" ")
    assert height > _line_of(text, prose)[1]
