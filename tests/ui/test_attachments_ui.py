"""Attaching text files through the composer: drop or Attach…, counted, refused when not text."""

from __future__ import annotations

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QFileDialog

from app.attachments import read_attachment
from tests.app.fakes import FakeBackend, split_tokens
from tests.ui.driver import ask


def drop(widget, paths) -> None:
    """What the window system delivers when files are dropped on `widget`."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget.viewport(), QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                           Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    QApplication.sendEvent(widget.viewport(), event)


def test_a_dropped_text_file_goes_into_the_message_counted_and_is_sent(qtbot, launch, tmp_path):
    backend = FakeBackend()
    app = launch(backend)
    composer = app.window.composer
    notes = tmp_path / "<notes>.txt"
    notes.write_text("alpha beta gamma\ndelta\n")
    composer.box.setPlainText("Summarise this:")
    drop(composer.box, [notes])
    text = composer.box.toPlainText()
    assert text.startswith("Summarise this:\n\n[Attached file: <notes>.txt]\n```\nalpha beta gamma\ndelta\n\n```")
    assert "file://" not in text
    qtbot.waitUntil(lambda: "tokens" in composer.info.text() and "counting" not in composer.info.text())
    count = len(split_tokens(read_attachment(notes).block))  # the fake backend's tokenizer
    assert composer.info.text() == f"Attached <notes>.txt · {count} tokens"
    assert composer.info.textFormat() == Qt.TextFormat.PlainText
    with qtbot.waitSignal(app.controller.reply_finished, timeout=10000):
        composer.button.click()
    assert "alpha beta gamma\ndelta" in backend.sessions[-1].requests[-1].user_message
    assert composer.info.isHidden() and not composer.box.toPlainText()


def test_binary_and_undecodable_files_are_refused_and_the_message_is_untouched(qtbot, launch, tmp_path, monkeypatch):
    app = launch(FakeBackend())
    composer = app.window.composer
    image = tmp_path / "cat.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    latin = tmp_path / "old.txt"
    latin.write_bytes(b"caf\xe9")
    composer.box.setPlainText("keep me")
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a: ([str(image), str(latin)], ""))
    composer.attach_button.click()
    assert composer.box.toPlainText() == "keep me"
    assert composer.info.isVisible() and composer.info.property("problem")
    assert "cat.png is not a text file" in composer.info.text() and "old.txt is not UTF-8 text" in composer.info.text()


def test_an_attachment_too_big_for_the_context_window_says_so(qtbot, launch, tmp_path):
    app = launch(FakeBackend(), max_new_tokens=256)
    ask(qtbot, app, "hello")
    big = tmp_path / "book.txt"
    big.write_text("word " * 3000)  # 3,000 tokens to the fake; its context window is 2,048
    app.window.composer.attach_files([str(big)])
    info = app.window.composer.info
    qtbot.waitUntil(lambda: "counting" not in info.text())
    assert info.property("problem")
    count = len(split_tokens(read_attachment(big).block))
    assert info.text().startswith(f"book.txt is {count:,} tokens, but only about 1,")
    assert "the context window is 2,048 tokens, 256 are kept for the reply" in info.text()
    assert "word word" in app.window.composer.box.toPlainText()  # nothing is lost: it can be shortened
