"""Text placed into the Markdown export reads back as written: raw HTML in a reply is escaped
outside code; plain text keeps every character and line break."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.markdown_text import escape_raw_html, plain_as_markdown


def test_raw_html_is_escaped_outside_code_only():
    md = "I <smirk> & x `<b>` ok\n\n```html\n<div>&\n```\n<i>"
    assert escape_raw_html(md) == "I &lt;smirk> &amp; x `<b>` ok\n\n```html\n<div>&\n```\n&lt;i>"


def test_an_unclosed_fence_keeps_the_rest_as_code():
    assert escape_raw_html("a <x>\n```\n<y>") == "a &lt;x>\n```\n<y>"


def test_plain_text_escapes_markdown_syntax_and_keeps_line_breaks():
    assert plain_as_markdown("# no\n1. no\n- no") == "\\# no\\\n1\\. no\\\n\\- no"
    assert plain_as_markdown("a *b* <c> & d_e") == "a \\*b\\* \\<c\\> \\& d\\_e"
    assert plain_as_markdown("one\n\ntwo") == "one\n\ntwo"


@given(st.text(alphabet=st.sampled_from(list("ab #*_`<>&-+1.|~[]()!\n")), max_size=40))
def test_plain_text_survives_a_markdown_renderer(qapp, text):
    from PySide6.QtGui import QTextDocument

    doc = QTextDocument()
    doc.setMarkdown(plain_as_markdown(text))
    shown = doc.toPlainText().replace("\u2028", "\n")
    assert shown.split() == text.split()
