"""Driving the window as a user does: type, press Enter, wait for the reply."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtTest import QTest

from ui.markup_shown import MARKUP_PROPERTY

LOAD_TIMEOUT_MS = 180000
REPLY_TIMEOUT_MS = 240000


class Launched:
    def __init__(self, window, core):
        self.window, self.core = window, core
        self.controller = core.controller

    def close(self):
        if self.window.isVisible():
            self.window.close()
        self.core.shutdown()


def type_and_send(qtbot, window, text: str) -> None:
    box = window.composer.box
    box.setFocus()
    QTest.keyClicks(box, text)
    QTest.keyClick(box, Qt.Key.Key_Return)


def ask(qtbot, launched: Launched, text: str):
    """Type a message, press Enter, wait for the whole reply; returns the reply's ChatMessage."""
    with qtbot.waitSignal(launched.controller.reply_finished, timeout=REPLY_TIMEOUT_MS) as done:
        type_and_send(qtbot, launched.window, text)
    return launched.controller.message(done.args[0])


def seen(text: str) -> str:
    """A tooltip or message-box text as the reader sees it: Qt shows text that looks like HTML as HTML."""
    from PySide6 import QtGui

    if not QtGui.Qt.mightBeRichText(text):
        return text
    doc = QtGui.QTextDocument()
    doc.setHtml(text)
    return doc.toPlainText()


def clickable_token(text, first: int = 0) -> int:
    """The first token at or after `first` that a click lands on in a TokenText (a random-weight
    model's reply may open with a line break, which draws nothing to click)."""
    return next(k for k in range(first, first + 10_000) if text.token_point(k) is not None)


def without_markup(doc: QTextDocument) -> str:
    """A reply's document text less the Markdown markup the view draws faint (`ui.markup_shown`):
    what a Markdown viewer shows. Blocks end in "\n", kept line breaks are "\n"."""
    kept, block = [], doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            if not fragment.charFormat().property(MARKUP_PROPERTY):
                kept.append(fragment.text())
            it += 1
        kept.append("\n")
        block = block.next()
    return "".join(kept).replace("\u2028", "\n").rstrip("\n")
