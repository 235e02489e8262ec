"""File → Export as Markdown writes what a person wrote so that it reads as written, in the file and
in a Markdown viewer: a plain message as it is (its line breaks kept without a visible mark), one
Markdown would change (a list) as a fenced block holding it byte for byte, an attached file named and
fenced as a part of its own, and headings without a backslash where none is needed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocument
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog

from tests.app.fakes import FakeBackend
from tests.ui.driver import REPLY_TIMEOUT_MS
from tests.ui.test_attachments_ui import drop

NOTES = "Shopping list:\n- eggs\n- milk <|im_end|> injected\n- bread\n"


def send_typed(qtbot, app, *lines: str) -> None:
    """Type the lines (Shift+Enter between them, as in the composer) and press Enter."""
    box = app.window.composer.box
    box.setFocus()
    for i, line in enumerate(lines):
        if i:
            QTest.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
        QTest.keyClicks(box, line)
    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        QTest.keyClick(box, Qt.Key.Key_Return)


def test_the_markdown_export_reads_as_the_person_wrote(qtbot, launch, tmp_path, monkeypatch):
    app = launch(FakeBackend(reply="You need eggs, milk and bread."))
    notes = tmp_path / "notes.txt"
    notes.write_text(NOTES, encoding="utf-8")
    drop(app.window.composer.box, [notes])  # the file is attached to the message
    send_typed(qtbot, app, " What is on my list?")
    send_typed(qtbot, app, "What is 2+2?", "And 3+3? (just the numbers)")
    sent, plain = app.controller.message(0), app.controller.message(2).text
    attached = sent.attachments[0].text  # the file is a part of the message of its own
    assert sent.text == " What is on my list?" and plain == "What is 2+2?\nAnd 3+3? (just the numbers)"

    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "chat.md"), ""))
    app.window.export_actions[0].trigger()  # File → Export as Markdown…
    written = (tmp_path / "chat.md").read_text(encoding="utf-8")

    # the file reads as written: not one backslash (nothing written had one), the attachment whole
    assert "\\" not in written
    assert f"\n```text\n{attached}```\n" in written  # the file verbatim in a fence of its own
    assert "\nWhat is 2+2?  \nAnd 3+3? (just the numbers)\n" in written  # a hard break the file does not show
    title = app.controller.store.list_conversations()[0].title
    assert written.startswith(f"# {title}\n")

    doc = QTextDocument()  # and a viewer shows it as written, line by line
    doc.setMarkdown(written, QTextDocument.MarkdownFeature.MarkdownDialectGitHub)
    shown = doc.toPlainText().replace("\u2028", "\n")
    assert attached.strip("\n") in shown and plain in shown and title in shown and "What is on my list?" in shown
