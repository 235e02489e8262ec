"""Copy, Export and memory saves say what they did, in plain text (fake backend, fast)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog

from tests.app.fakes import REPLY, FakeBackend
from tests.ui.driver import ask
from ui.memories_popup import MemoriesPopup


def test_copy_says_copied(qtbot, launch):
    app = launch(FakeBackend())
    ask(qtbot, app, "hello")
    QTest.mouseClick(app.window.transcript.views[1].copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == REPLY
    assert app.window.status.full_message() == f"Copied {len(REPLY)} characters to the clipboard"
    app.window.status.clearMessage()
    app.window.copy_last_reply()  # Edit > Copy Last Reply
    assert app.window.status.full_message().startswith("Copied")


def test_copying_a_code_block_says_copied(qtbot, launch):
    from PySide6.QtGui import QTextCursor

    app = launch(FakeBackend(reply="Try:\n\n```python\nprint('hi')\n```\n"))
    ask(qtbot, app, "code")
    view = app.window.transcript.views[1]
    doc = view.text.document()
    cursor = QTextCursor(doc.findBlock(doc.toPlainText().index("print")))
    point = view.text.cursorRect(cursor).center()
    actions = {a.text(): a for a in view.build_context_menu(point).actions()}
    actions["Copy Code Block"].trigger()
    assert QGuiApplication.clipboard().text() == "print('hi')"
    assert app.window.status.full_message() == "Copied 11 characters to the clipboard"


def test_export_says_where_it_went_and_the_dialog_reopens_there(qtbot, launch, tmp_path, monkeypatch):
    app = launch(FakeBackend())
    ask(qtbot, app, "hello")
    target = tmp_path / "out" / "chat.json"
    target.parent.mkdir()
    starts = []

    def save_as(_parent, _title, start, _filter):
        starts.append(start)
        return str(target), ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_as)
    app.window.export_actions[1].trigger()  # File > Export as JSON…
    assert target.exists()
    assert app.window.status.full_message() == f"Exported to {target}"
    app.window.export_actions[0].trigger()
    assert starts[1].startswith(str(target.parent))  # the second export opens where the first went


def test_an_export_that_cannot_be_written_says_why(qtbot, launch, tmp_path, monkeypatch):
    app = launch(FakeBackend())
    ask(qtbot, app, "hello")
    missing = tmp_path / "no such folder" / "chat.md"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: (str(missing), ""))
    app.window.export_actions[0].trigger()
    assert app.window.notice.isVisible() and "Could not export the conversation" in app.window.notice.text()


def test_memory_feedback_and_the_chip_list_show_markup_as_text(qtbot, launch):
    app = launch(FakeBackend())
    fact = 'My cat is called <b>Tom</b> & <img src="x">'
    ask(qtbot, app, f"Remember that {fact.lower()}")
    assert app.window.status.full_message().startswith("Remembered: My cat is called <b>tom</b>")
    view = app.window.transcript.views[1]
    popup = view.show_memories()
    assert popup.texts() == ["My cat is called <b>tom</b> & <img src=\"x\">"]
    assert popup.title.textFormat() == Qt.TextFormat.PlainText
    popup.close()
    app.controller.remember_fact("Added in the dialog")
    assert app.window.status.full_message() == "Remembered: Added in the dialog"
    assert isinstance(popup, MemoriesPopup)


def test_the_window_title_names_the_open_conversation_as_plain_text(qtbot, launch):
    app = launch(FakeBackend())
    assert app.window.windowTitle() == "Glassbox"
    ask(qtbot, app, "Plan a trip to Lisbon")
    first = app.controller.conversation_id
    title = app.controller.store.conversation(first).title
    assert app.window.windowTitle() == f"{title} — Glassbox"
    app.controller.rename_conversation(first, "<b>Trip</b> [*] & more")
    assert app.window.windowHandle().title() == "<b>Trip</b> [*] & more — Glassbox"  # as the title bar shows it
    app.window.new_chat()
    assert app.window.windowTitle() == "Glassbox"
    app.controller.open_conversation(first)
    assert app.window.windowTitle().startswith("<b>Trip</b>")
