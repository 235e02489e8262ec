"""Text a person or the model wrote is shown as written everywhere outside the reply too: the
sidebar and its tooltips, confirmations, notices, errors and menus; and the sidebar's highlight is
always the open conversation, even after a right-click."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QTextDocument
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox

from tests.app.fakes import FakeBackend, FakeSession
from tests.ui.driver import REPLY_TIMEOUT_MS, ask, seen, type_and_send, without_markup

MARKUP = "<b>bold</b> & <img src='file:///etc/x.png'> <i>end"


def label_seen(label: QLabel) -> str:
    return label.text() if label.textFormat() == Qt.TextFormat.PlainText else seen(label.text())


def test_markup_in_a_message_and_its_title_shows_as_written_in_the_sidebar_and_the_confirmation(
    qtbot, launch, monkeypatch
):
    app = launch(FakeBackend())
    ask(qtbot, app, MARKUP)
    window = app.window
    assert window.transcript.views[0].text.toPlainText() == MARKUP
    item = window.sidebar.list.item(0)
    title = app.controller.store.list_conversations()[0].title
    assert item.text() == title and seen(item.toolTip()) == title
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda _p, _t, text, *a: asked.append(text) or QMessageBox.StandardButton.Cancel)
    window.sidebar.delete(item)
    assert title in seen(asked[0])

    window.sidebar.search_box.setText("bold")
    qtbot.waitUntil(lambda: window.sidebar.list.count() and window.sidebar.list.item(0).data(Qt.ItemDataRole.UserRole + 1))
    hit = window.sidebar.list.item(0)
    assert "<b>bold</b>" in hit.text() and "<b>bold</b>" in seen(hit.toolTip())
    window.sidebar.search_box.clear()
    qtbot.waitUntil(lambda: not window.sidebar._search_timer.isActive())


class FailingSession(FakeSession):
    def stream(self, request, should_stop, progress):
        raise RuntimeError("<b>the fake model</b> failed on <i>this")


def test_an_error_quoting_markup_shows_as_written(qtbot, launch):
    app = launch(FakeBackend(session=FailingSession))
    with qtbot.waitSignal(app.controller.reply_failed, timeout=REPLY_TIMEOUT_MS):
        type_and_send(qtbot, app.window, "hello")
    assert "<b>the fake model</b> failed on <i>this" in label_seen(app.window.notice.label)
    reply = app.window.transcript.views[1]
    assert "<b>the fake model</b>" in label_seen(reply.error_label)


def test_the_sidebar_highlight_stays_on_the_open_conversation_after_a_right_click(qtbot, launch):
    app = launch(FakeBackend())
    ask(qtbot, app, "first conversation")
    app.window.new_chat()
    ask(qtbot, app, "second conversation")
    listing = app.window.sidebar.list
    open_id = app.controller.conversation_id
    other = next(listing.item(r) for r in range(listing.count()) if listing.item(r).data(Qt.ItemDataRole.UserRole) != open_id)
    point = listing.visualItemRect(other).center()

    def close_menu():
        popup = QApplication.activePopupWidget()
        if popup is not None:
            popup.close()

    QTimer.singleShot(200, close_menu)
    QTest.mouseClick(listing.viewport(), Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, point)
    listing.customContextMenuRequested.emit(point)  # offscreen Qt sends no context-menu event for a click
    assert app.controller.conversation_id == open_id
    assert listing.currentItem().data(Qt.ItemDataRole.UserRole) == open_id
    assert [i.data(Qt.ItemDataRole.UserRole) for i in listing.selectedItems()] == [open_id]


def test_the_markdown_export_reads_as_the_window_shows_it(qtbot, launch, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    reply = "Sure! I <smirk> and whisper.\n\n<div>\nstill here\n\n`<b>` in code stays\n</div>"
    app = launch(FakeBackend(reply=reply))
    question = "# not a heading\n<b>my</b> *words* & yours"
    box = app.window.composer.box
    box.setPlainText(question)
    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        QTest.keyClick(box, Qt.Key.Key_Return)
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "chat.md"), ""))
    app.window.export_actions[0].trigger()
    doc = QTextDocument()
    doc.setMarkdown((tmp_path / "chat.md").read_text(encoding="utf-8"))  # as a Markdown viewer shows it
    exported = doc.toPlainText()
    window_text = [without_markup(view.text.document()) for view in app.window.transcript.views]
    assert question in exported  # every character, its line break too
    assert all(word in window_text[1] for word in ("<smirk>", "<div>", "still here", "<b>", "</div>"))
    for line in window_text[1].splitlines():
        assert " ".join(line.split()) in " ".join(exported.split())


def test_a_memory_and_a_model_path_show_as_written_in_their_tooltips(qtbot):
    from ui.memories_popup import MemoriesPopup
    from ui.status_bar import StatusBar

    popup = MemoriesPopup([MARKUP])
    qtbot.addWidget(popup)
    assert seen(popup.list.item(0).toolTip()) == MARKUP
    status = StatusBar()
    qtbot.addWidget(status)
    path = "/models/<b>odd</b> & <i>name.gguf"
    status.show_model({"display_name": "<b>odd</b>", "n_params": 1e6, "path": path, "context_length": 512})
    assert seen(status.model_label.toolTip()).startswith(path + "\n")
    assert status.model_label.text().startswith("<b>odd</b> · ")  # the label is plain text already
