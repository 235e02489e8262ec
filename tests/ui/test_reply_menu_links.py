"""A reply's context menu offers link items only over a link (trial 6, finding 4: a greyed "Copy
Link Location" on plain text, which LM Studio and Jan do not show)."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication, QTextCursor

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask


def point_at(view, text: str):
    doc = view.text.document()
    at = doc.toPlainText().index(text) + 1
    cursor = QTextCursor(doc)
    cursor.setPosition(at)
    return view.text.cursorRect(cursor).center()


def menu_texts(view, point) -> list[str]:
    return [a.text().split("\t")[0].replace("&", "") for a in view.build_context_menu(point).actions()]


def test_no_link_items_on_plain_text_and_copy_link_on_a_link(qtbot, launch):
    app = launch(FakeBackend(reply="Plain words here. See [the docs](https://example.org/docs) for more."))
    ask(qtbot, app, "where")
    view = app.window.transcript.views[1]
    plain = point_at(view, "words")
    assert not view.text.anchorAt(plain)
    texts = menu_texts(view, plain)
    assert "Copy Link Location" not in texts and "Copy" in texts and "Copy Message" in texts
    link = point_at(view, "docs")
    assert view.text.anchorAt(link) == "https://example.org/docs"  # a Markdown link is drawn as a link
    actions = {a.text().replace("&", ""): a for a in view.build_context_menu(link).actions()}
    assert actions["Copy Link Location"].isEnabled()  # over a link its item is there, and works
    actions["Copy Link Location"].trigger()
    assert QGuiApplication.clipboard().text() == "https://example.org/docs"
