"""A model's terms as readable text: headings, paragraphs and list items, from the copy kept
beside the model (`<model file>.license.html`, `.txt`, `.md`).

A saved web page holds far more than the terms: the site's menus, a language picker, breadcrumbs,
feedback buttons, scripts and styles. `read_terms` parses the page with the standard library's
HTML parser (never patterns over the markup), takes its main content (the `<article>` with the most
text, else `<main>` / `role="main"`, else `<body>`) and leaves out what is not content: navigation
(`<nav>`, `role="navigation"`), headers and footers of the page, forms and buttons, scripts, styles,
hidden elements (`hidden`, `aria-hidden="true"`) and those marked `class="nocontent"`. Text is
only ever text: nothing in the file is rendered, followed or run.

When the file holds no readable terms (no text left, an unreadable file), `Terms.problem` says so
in words and the blocks are empty: the dialog then points at the terms online.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 4, "h6": 4}
_BLOCKS = {"p", "div", "section", "li", "dt", "dd", "blockquote", "pre", "tr", "table", "ul", "ol", "dl",
           "article", "main", "body", "figure", "figcaption", "aside", *HEADINGS}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
         "wbr"}
_NOT_CONTENT = {"script", "style", "noscript", "template", "svg", "math", "nav", "button", "form", "select",
                "textarea", "iframe", "object", "canvas", "head", "title", "menu", "dialog"}
_NOT_CONTENT_ROLES = {"navigation", "banner", "contentinfo", "search", "menu", "menubar", "toolbar", "dialog"}
_BR = "\u2028"  # a <br> while a block's text is gathered (the page's own newlines are white space)
MIN_WORDS = 20  # fewer words than this left after the menus are gone: not the terms


@dataclass(frozen=True)
class Block:
    """One block of the terms. kind: "heading" (level 1–4), "paragraph", "item" (a list item) or
    "pre" (text kept with its line breaks). text: with runs of white space made one space (except
    "pre"), line breaks written in the page (`<br>`) kept as "\\n"."""

    kind: str
    text: str
    level: int = 0


@dataclass(frozen=True)
class Terms:
    """The terms read from `source`. problem: why there are no blocks (or why they may be
    incomplete), in words; None when the terms read cleanly."""

    blocks: tuple[Block, ...]
    source: Path
    problem: str | None = None

    def plain_text(self) -> str:
        """The terms as plain text: blocks separated by a blank line, list items marked "•"."""
        return "\n\n".join(("• " if b.kind == "item" else "") + b.text for b in self.blocks)


def read_terms(path: Path) -> Terms:
    """The terms in the file at `path` (HTML by its suffix; any other file is plain text, a
    paragraph per blank-line-separated part). Never raises for a bad file: `problem` says what is
    wrong."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        return Terms((), path, f"the copy of the terms ({path}) cannot be read: {e.strerror or e}")
    text = raw.decode("utf-8", errors="replace")
    if path.suffix.lower() in (".html", ".htm", ".xhtml"):
        blocks, complete = html_blocks(text)
    else:
        blocks, complete = _text_blocks(text), True
    if sum(len(b.text.split()) for b in blocks) < MIN_WORDS:
        return Terms((), path, f"the copy of the terms ({path.name}) holds no readable terms")
    problem = None if complete else f"the copy of the terms ({path.name}) ends before its page does: it may be incomplete"
    return Terms(tuple(blocks), path, problem)


def html_blocks(html: str) -> tuple[list[Block], bool]:
    """The main content of an HTML page as blocks, and whether that content was complete (its
    element closed before the file ended; a page cut short is not)."""
    root = _Tree.parse(html)
    main = _main_content(root)
    blocks: list[Block] = []
    _Walk(blocks).element(main)
    return blocks, main.closed


# -- the page as a light tree ---------------------------------------------------------------------


@dataclass
class _Element:
    tag: str
    attrs: dict[str, str]
    children: list[_Element | str] = field(default_factory=list)
    closed: bool = False
    tag_is_page_level: bool = False  # a <header>/<footer> outside any <article>: the site's, not the text's

    def skipped(self) -> bool:
        """Whether this element is page furniture, not content."""
        a = self.attrs
        classes = set(a.get("class", "").split())
        return (self.tag in _NOT_CONTENT or "hidden" in a or a.get("aria-hidden", "").lower() == "true"
                or a.get("role", "").lower() in _NOT_CONTENT_ROLES or "nocontent" in classes
                or (self.tag in ("header", "footer") and self.tag_is_page_level))

    def find_all(self, test) -> list[_Element]:
        out = []
        for child in self.children:
            if isinstance(child, _Element):
                if test(child):
                    out.append(child)
                out.extend(child.find_all(test))
        return out

    def text_length(self) -> int:
        return sum(len(c.strip()) if isinstance(c, str) else (0 if c.skipped() else c.text_length())
                   for c in self.children)


class _Tree(HTMLParser):
    """Builds `_Element`s; an end tag closes the nearest open element of its name (and those left
    open inside it, as browsers do for `<p>` and `<li>`); a stray end tag is ignored."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = _Element("#document", {})
        self.stack = [self.root]

    @classmethod
    def parse(cls, html: str) -> _Element:
        tree = cls()
        tree.feed(html)
        tree.close()
        return tree.root

    def handle_starttag(self, tag, attrs):
        element = _Element(tag, {k: v or "" for k, v in attrs})
        if tag in ("header", "footer"):
            element.tag_is_page_level = not any(e.tag == "article" for e in self.stack)
        if tag in ("p", "li", "dt", "dd") and self.stack[-1].tag == tag:  # <p>a<p>b: the first ends
            self._close(tag)
        self.stack[-1].children.append(element)
        if tag not in _VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self._close(tag)

    def handle_endtag(self, tag):
        self._close(tag)

    def _close(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i].tag == tag:
                self.stack[i].closed = True
                del self.stack[i:]
                return

    def handle_data(self, data):
        self.stack[-1].children.append(data)


def _main_content(root: _Element) -> _Element:
    """The `<article>` with the most text, else the first `<main>` / role="main", else `<body>`,
    else the whole document."""
    articles = root.find_all(lambda e: e.tag == "article" and not e.skipped())
    if articles:
        return max(articles, key=_Element.text_length)
    for test in (lambda e: e.tag == "main" or e.attrs.get("role", "").lower() == "main", lambda e: e.tag == "body"):
        found = root.find_all(test)
        if found:
            return found[0]
    root.closed = True
    return root


class _Walk:
    """Turns an element's content into blocks: a block element ends the text before it; inline
    elements (links, emphasis) give their text only."""

    def __init__(self, blocks: list[Block]):
        self.blocks, self.parts = blocks, []
        self.kind, self.level = "paragraph", 0

    def element(self, e: _Element) -> None:
        if e.skipped():
            return
        if e.tag == "br":
            self.parts.append(_BR)
            return
        block = e.tag in _BLOCKS
        if block:
            self.flush()
        outer = self.kind, self.level
        if e.tag in HEADINGS:
            self.kind, self.level = "heading", HEADINGS[e.tag]
        elif e.tag == "li":
            self.kind, self.level = "item", 0
        elif e.tag == "pre":
            self.kind, self.level = "pre", 0
        for child in e.children:
            if isinstance(child, str):
                self.parts.append(child)
            else:
                self.element(child)
        if block:
            self.flush()
            self.kind, self.level = outer

    def flush(self) -> None:
        raw = "".join(self.parts)
        self.parts = []
        if self.kind == "pre":
            text = raw.replace(_BR, "\n").strip("\n")
        else:  # the page's own line breaks are white space; only <br> breaks a line
            text = "\n".join(" ".join(line.split()) for line in raw.split(_BR)).strip()
        if text.strip():
            self.blocks.append(Block(self.kind, text, self.level))


def _text_blocks(text: str) -> list[Block]:
    """A plain-text copy: a paragraph per part between blank lines, its line breaks kept."""
    parts = [p.strip("\n").rstrip() for p in text.replace("\r\n", "\n").split("\n\n")]
    return [Block("pre", p) for p in parts if p.strip()]
