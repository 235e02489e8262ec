"""A model's terms read from the copy kept beside it: the real Gemma page (as `fetch` keeps it) gives
the terms from their first line, with no menu, language picker or button text; odd and damaged
pages give what they hold or say plainly that they hold no terms."""

from __future__ import annotations

import pytest

from app.licence_text import Block, html_blocks, read_terms
from engine import model_catalog

GEMMA_TERMS = model_catalog.license_path(model_catalog.GEMMA3_270M)
LONG = "These terms govern the use of the model and every output it writes. " * 3


@pytest.mark.skipif(not GEMMA_TERMS.is_file(), reason="the Gemma terms are not fetched (python -m engine fetch gemma3-270m)")
def test_the_real_gemma_page_gives_the_terms_from_their_first_line():
    terms = read_terms(GEMMA_TERMS)
    assert terms.problem is None
    assert terms.blocks[0] == Block("heading", "Gemma Terms of Use", 1)
    assert terms.blocks[1].text.startswith("Last modified:")
    assert terms.blocks[2].text.startswith("By using, reproducing, modifying, distributing")
    headings = [b.text for b in terms.blocks if b.kind == "heading"]
    assert "Section 1: DEFINITIONS" in headings and "4.9 No Waiver" in headings and headings[-1] == "Appendix"
    assert Block("item", "Gemma 3") in terms.blocks  # the appendix lists the models the terms cover
    text = terms.plain_text()
    for chrome in ("Skip to main content", "Sign in", "Deutsch", "中文", "Send feedback", "Pricing", "Imagen",
                   "{", "function(", "devsite"):
        assert chrome not in text, chrome
    assert "&quot;" not in text and '"Gemma Services"' in text  # entities read as the characters they are


def test_menus_headers_hidden_and_script_text_are_left_out():
    html = f"""<html><head><title>T</title><style>p {{color: red}}</style></head><body>
    <header><a href="/">Home</a> <a href="/docs">Docs</a></header>
    <nav><ul><li>English</li><li>Deutsch</li></ul></nav>
    <div role="navigation">Breadcrumbs</div>
    <main><article>
      <div class="banner nocontent">Try our new API!</div>
      <h1>Licence <span aria-hidden="true">☰</span></h1>
      <p>First  paragraph,
      over two source lines.<br>After a break.</p>
      <button>Copy link</button><div hidden>secret</div>
      <ul><li>one<li>two</ul>
      <h2>Section &amp; more</h2><p>{LONG}</p>
      <script>var x = "<p>not text</p>";</script>
    </article></main><footer>© Site</footer></body></html>"""
    blocks, complete = html_blocks(html)
    assert complete
    assert blocks == [Block("heading", "Licence", 1),
                      Block("paragraph", "First paragraph, over two source lines.\nAfter a break."),
                      Block("item", "one"), Block("item", "two"), Block("heading", "Section & more", 2),
                      Block("paragraph", LONG.strip())]


def test_a_page_without_article_or_main_uses_its_body(tmp_path):
    path = tmp_path / "m.gguf.license.html"
    path.write_text(f"<h1>Terms</h1><p>{LONG}</p>")
    terms = read_terms(path)
    assert terms.problem is None and [b.text for b in terms.blocks] == ["Terms", LONG.strip()]


def test_a_page_cut_short_gives_what_it_holds_and_says_it_may_be_incomplete(tmp_path):
    path = tmp_path / "m.gguf.license.html"
    path.write_text(f"<html><body><nav>Menu</nav><article><h1>Terms</h1><p>{LONG}</p><p>Section 2 is cut he")
    terms = read_terms(path)
    assert [b.text for b in terms.blocks] == ["Terms", LONG.strip(), "Section 2 is cut he"]
    assert terms.problem == "the copy of the terms (m.gguf.license.html) ends before its page does: it may be incomplete"


@pytest.mark.parametrize("content", [
    b"", b"<html><body><nav>Home Docs Pricing Sign in</nav><script>1</script></body></html>",
    b"\x00\xff\xfe garbage \x89PNG", b"<<<>>><!--",
])
def test_a_page_with_no_readable_terms_says_so(tmp_path, content):
    path = tmp_path / "m.gguf.license.html"
    path.write_bytes(content)
    terms = read_terms(path)
    assert terms.blocks == () and terms.problem == "the copy of the terms (m.gguf.license.html) holds no readable terms"


def test_an_unreadable_file_says_why(tmp_path):
    terms = read_terms(tmp_path / "missing.license.html")
    assert terms.blocks == () and "cannot be read" in terms.problem and "missing.license.html" in terms.problem


def test_a_plain_text_copy_keeps_its_paragraphs_and_lines(tmp_path):
    path = tmp_path / "m.gguf.license.txt"
    path.write_text(f"TERMS\nof use\n\n{LONG}\n\n<b>not markup</b> {LONG}")
    terms = read_terms(path)
    assert [b.text for b in terms.blocks] == ["TERMS\nof use", LONG.strip(), f"<b>not markup</b> {LONG}".strip()]
