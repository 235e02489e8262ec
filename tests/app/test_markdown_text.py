"""Markdown handed to a renderer shows what was written: a reply's HTML, character references and
non-Markdown backslashes as text, its code verbatim (fenced, indented, spans, inside lists); plain
text keeps every character and line break. Checked against Qt's own Markdown renderer, the one the
reply view uses."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from app.markdown_text import markdown_as_written, plain_as_markdown, plain_line_as_markdown, verbatim_ranges


def rendered(qapp, markdown: str, html: bool = False) -> str:
    """What a Markdown viewer shows (Qt's renderer; `html`: raw HTML on, as most viewers have it)."""
    from PySide6.QtGui import QTextDocument

    features = QTextDocument.MarkdownFeature.MarkdownDialectGitHub
    if not html:
        features |= QTextDocument.MarkdownFeature.MarkdownNoHTML
    doc = QTextDocument()
    doc.setMarkdown(markdown, features)
    return doc.toPlainText().replace("\u2028", "\n")


def test_raw_html_and_character_references_are_escaped_outside_code_only():
    md = "I <smirk> &amp; x `<b>&amp;` ok\n\n```html\n<div>&amp;\n```\n<i>"
    assert markdown_as_written(md) == "I \\<smirk> \\&amp; x `<b>&amp;` ok\n\n```html\n<div>&amp;\n```\n\\<i>"


def test_an_unclosed_fence_keeps_the_rest_as_code():
    assert markdown_as_written("a <x>\n```\n<y> &amp;") == "a \\<x>\n```\n<y> &amp;"


@pytest.mark.parametrize(
    "md, code",
    [
        ("Para\n\n    if a < b &amp;&amp; c:\n        pass\n", "    if a < b &amp;&amp; c:\n        pass\n"),
        ("1. Step\n\n   ```py\n   x = a<b\n   ```\n", "   ```py\n   x = a<b\n   ```\n"),
        ("- item\n\n      nested code <x> \\(y\\)\n", "      nested code <x> \\(y\\)\n"),
        ("Text `a <b> \\*` and ``x ` y``", "`a <b> \\*`"),
        ("See <https://example.com/?a=1&amp;b=2>.", "<https://example.com/?a=1&amp;b=2>"),
    ],
)
def test_code_blocks_spans_and_autolinks_are_left_exactly_as_written(md, code):
    assert any(md[start:end] == code for start, end in verbatim_ranges(md))
    assert code in markdown_as_written(md)


def test_a_lazy_paragraph_line_is_not_code():
    md = "Para &amp;\n    lazy &amp;"
    assert verbatim_ranges(md) == [] and markdown_as_written(md) == "Para \\&amp;\n    lazy \\&amp;"


@pytest.mark.parametrize(
    "reply, shown",
    [
        ("Use &amp; for &, and &lt;b&gt; for <b>; &#65; is A.", "Use &amp; for &, and &lt;b&gt; for <b>; &#65; is A."),
        ("Inline \\(x^2 + y^2\\) and display \\[ \\sum_i x_i \\]", "Inline \\(x^2 + y^2\\) and display \\[ \\sum_i x_i \\]"),
        ("a & b \\\\\nc & d \\\\", "a & b \\\\\nc & d \\\\"),  # LaTeX's \\ at a line's end: both kept
        ("\\{1, 2\\} costs 50\\% \\& more in C:\\Users\\me and \\\\server", "\\{1, 2\\} costs 50\\% \\& more in C:\\Users\\me and \\\\server"),
        ("\\*not italic\\* and 1\\. not a list and \\# no heading", "*not italic* and 1. not a list and # no heading"),
        ("Party 🎉 &amp; 你好 \\(x\\) 😀", "Party 🎉 &amp; 你好 \\(x\\) 😀"),
    ],
)
def test_a_reply_renders_with_every_character_the_model_wrote(qapp, reply, shown):
    for html in (False, True):  # the reply view (raw HTML off) and a viewer of the export (on)
        assert rendered(qapp, markdown_as_written(reply), html).split() == shown.split()  # a viewer joins lines


def test_code_shows_verbatim_in_a_viewer_with_html_on(qapp):
    reply = "Compare:\n\n    if (a < b && c) { x = \"&amp;\"; }\n\nand `<|im_end|>` &amp; ```<b>```"
    shown = rendered(qapp, markdown_as_written(reply), html=True)
    assert 'if (a < b && c) { x = "&amp;"; }' in shown
    assert "<|im_end|> &amp; <b>" in shown


TEXT_PIECES = ["a", "b", "Z", " ", "\n", "&", ";", "<", "\\(", "\\)", "\\[", "\\]", "\\\\", "\\{", "\\%", "&amp;",
               "&lt;b&gt;", "&#65;", "&#x41;", "<i>", "</div>", "{", "$", "😀", "你"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(TEXT_PIECES), max_size=30).map("".join))
def test_text_without_markdown_formatting_renders_exactly(qapp, text):
    for html in (False, True):
        assert rendered(qapp, markdown_as_written(text), html).split() == text.split()


def test_plain_text_is_written_as_it_is_where_markdown_shows_it_so():
    assert plain_as_markdown("What is 2+2? I'd say 4 (or 5) - maybe; C:\\Users & snake_case_name.") == (
        "What is 2+2? I'd say 4 (or 5) - maybe; C:\\Users & snake_case_name.")
    assert plain_as_markdown("one\ntwo\n\nthree\n") == "one  \ntwo\n\nthree"  # a hard break the file does not show
    assert plain_as_markdown("") == ""


def test_plain_text_markdown_would_change_is_a_fenced_block_holding_it_byte_for_byte():
    for text in ("# no\n1. no\n- no", "a *b* <c> & d_e", "&amp;", "~gone~", "a\\\nb", "    indented", "| a | b |\n|---|---|"):
        assert plain_as_markdown(text) == f"```text\n{text}\n```", text
    attached = "[Attached file: notes.txt]\n```\n- eggs\n- milk <|im_end|>\n````\n What is on my list?"
    assert plain_as_markdown(attached) == f"`````text\n{attached}\n`````"  # longer than any run inside


def test_a_heading_escapes_only_what_needs_it():
    assert plain_line_as_markdown("[Attached file: notes.txt] ``` Shopping list: - eggs") == (
        "[Attached file: notes.txt] ``` Shopping list: - eggs")
    assert plain_line_as_markdown("Assistant (SmolLM2-135M-Instruct (Q4_1))") == "Assistant (SmolLM2-135M-Instruct (Q4_1))"
    assert plain_line_as_markdown("a *b* <i>c</i> &amp; C #") == "a \\*b* \\<i>c\\</i> \\&amp; C \\#"


PLAIN = st.text(alphabet=st.sampled_from(list("ab #*_`<>&-+1.|~[]()!\\\n ")), max_size=40)


@settings(max_examples=300, deadline=None)
@given(PLAIN)
@example("1\n+\n1")  # a bare marker line: an empty list item to Qt once the hard break's spaces follow it
@example("a\n2.\nb")
@example("1\n-|")  # a table to Qt (md4c), whose header row needs no pipe; a paragraph to markdown-it
def test_plain_text_survives_a_markdown_renderer_and_reads_as_written(qapp, text):
    written = plain_as_markdown(text)
    for html in (True, False):
        assert rendered(qapp, written, html=html).split() == text.split()
    body = text.strip("\n")
    fence = written.split("\n", 1)[0]
    assert written.replace("  \n", "\n") == body or written == f"{fence}\n{body}\n{fence[:-4]}"


@settings(max_examples=300, deadline=None)
@given(PLAIN)
def test_a_heading_shows_as_written(qapp, text):
    line = " ".join(text.splitlines()).strip()
    assert rendered(qapp, "# " + plain_line_as_markdown(text), html=True).split() == line.split()


FENCE_ON_A_MARKER_LINE = re.compile(r"^[ \t]*(?:(?:[-*]|\d\.|>)[ \t]*)+[^\n]*(?:```|~~~)", re.MULTILINE)
STRUCTURE_PIECES = ["x", " ", "\n", "\n\n", "    ", "  ", "\t", "```\n", "~~~\n", "`", "``", "- ", "1. ", "> ", "# ", "*",
                    "&amp;", "\\(", "&lt;", "<b>", "\\\\"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(STRUCTURE_PIECES), max_size=40).map("".join))
def test_references_and_latex_survive_any_block_structure(qapp, text):
    """Wherever they land (code block, code span, list, quote, heading, paragraph), `&amp;`, `&lt;`
    and `\\(` show exactly as often as the model wrote them: where code is agrees with the renderer."""
    for fence in ("```", "~~~"):  # a fence's info string (its language) is not shown as text
        assume(fence not in text.replace(fence + "\n", ""))
    assume(not FENCE_ON_A_MARKER_LINE.search(text))  # where Qt's parser leaves CommonMark (module docstring)
    shown = rendered(qapp, markdown_as_written(text))
    for written in ("&amp;", "&lt;", "\\("):
        assert shown.count(written) == text.count(written), written


def test_a_block_marker_with_nothing_in_its_block_is_written_as_text():
    assert markdown_as_written("#\n\n##\n\n# #\n\n>") == "\\#\n\n\\##\n\n\\# #\n\n\\>"
    assert markdown_as_written("# Title\n\n> quoted\n\n#hashtag\n\n```\n#\n```") == (
        "# Title\n\n> quoted\n\n#hashtag\n\n```\n#\n```")  # headings, quotes and code as they were


@pytest.mark.parametrize(
    "text",
    [
        "\\\\```\nx```\n&amp;```\n",  # hypothesis found it: a code span after a model's "\\"
        "\\\\\\`a` &amp; `b &amp;`",  # three backslashes: each shown, the backtick after them opens a span
        "\\`a &amp; `b`",  # one backslash escapes the backtick: the span is `b`
        "C:\\\\dir\\`x &amp; y`",
    ],
)
def test_a_backtick_after_the_models_backslashes_opens_code_where_the_renderer_does(qapp, text):
    shown = rendered(qapp, markdown_as_written(text))
    for written in ("&amp;", "&lt;", "\\("):
        assert shown.count(written) == text.count(written), written
