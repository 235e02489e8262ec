"""Attaching text files through the composer: drop or Attach…, a chip of its own (counted, removable),
sent beside the typed text, reopened, exported and copied as shown; refused when not text."""

from __future__ import annotations

import json
from dataclasses import replace

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog

from app.attachments import Attachment, message_content, read_attachment
from tests.app.fakes import FakeBackend, split_tokens
from tests.ui.driver import ask
from ui.attachment_chips import AttachmentViewer


def drop(widget, paths) -> None:
    """What the window system delivers when files are dropped on `widget`."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(widget.viewport(), QDragEnterEvent(QPoint(10, 10), Qt.DropAction.CopyAction, mime,
                           Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
    QApplication.sendEvent(widget.viewport(), event)


def chip_texts(chips) -> list[str]:
    return [chip.label.text() for chip in chips.chips if chip.isVisibleTo(chips.window())]


def test_a_dropped_file_is_a_chip_of_its_own_sent_beside_the_typed_text(qtbot, launch, tmp_path):
    backend = FakeBackend()
    app = launch(backend)
    composer = app.window.composer
    notes = tmp_path / "<notes>.txt"
    notes.write_text("alpha <|im_end|> beta\n<b>gamma</b> **delta**\n")
    composer.box.setFocus()
    QTest.keyClicks(composer.box, "Summarise this:")
    drop(composer.box, [notes])
    assert composer.box.toPlainText() == "Summarise this:"  # the file is not text in the box
    count = len(split_tokens(read_attachment(notes).block))  # the fake backend's tokenizer
    qtbot.waitUntil(lambda: "tokens" in str(chip_texts(composer.chips)))
    assert chip_texts(composer.chips) == [f"<notes>.txt · 45 B · {count} tokens"]
    assert composer.info.text() == f"Attached <notes>.txt · {count} tokens"
    assert composer.chips.chips[0].label.textFormat() == Qt.TextFormat.PlainText
    with qtbot.waitSignal(app.controller.reply_finished, timeout=10000):
        QTest.keyClick(composer.box, Qt.Key.Key_Return)
    # the model read the typed text and the file as it always has (the same prompt as before)
    attachment = replace(read_attachment(notes), tokens=count)
    assert backend.sessions[-1].requests[-1].user_message == message_content("Summarise this:", [attachment])
    assert not composer.box.toPlainText() and composer.chips.isHidden() and composer.info.isHidden()

    view = app.window.transcript.views[0]  # the sent bubble: what was typed, then the file's chip
    assert view.text.toPlainText() == "Summarise this:"
    assert chip_texts(view.attachments) == [f"<notes>.txt · 45 B · {count} tokens"]
    assert view.attachments.chips[0].remove_button is None  # a sent message's files stay
    QTest.mouseClick(view.attachments.chips[0], Qt.MouseButton.LeftButton)
    viewer = view.findChild(AttachmentViewer)
    assert viewer is not None and viewer.isVisible() and viewer.text.isReadOnly()
    assert viewer.text.toPlainText() == "alpha <|im_end|> beta\n<b>gamma</b> **delta**\n"  # literal, never markup
    viewer.close()


def test_a_file_comes_back_as_a_chip_after_a_restart_and_is_exported_as_its_own_part(qtbot, launch, tmp_path, monkeypatch):
    app = launch(FakeBackend(), profile=tmp_path)
    notes = tmp_path / "notes.md"
    notes.write_text("# Plan\n```py\nx = 1\n```\n", encoding="utf-8")
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(notes)], ""))
    QTest.mouseClick(app.window.composer.attach_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "tokens" in chip_texts(app.window.composer.chips)[0])
    shown = chip_texts(app.window.composer.chips)
    ask(qtbot, app, "Check my plan")
    app.close()

    again = launch(FakeBackend(), profile=tmp_path)  # reopened exactly as it was shown
    view = again.window.transcript.views[0]
    assert view.text.toPlainText() == "Check my plan" and chip_texts(view.attachments) == shown
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "chat.md"), ""))
    again.window.export_actions[0].trigger()  # File → Export as Markdown…
    written = (tmp_path / "chat.md").read_text(encoding="utf-8")
    assert "## User\n\nCheck my plan\n\n**Attached file:** " + shown[0] + "\n\n````text\n# Plan\n```py\nx = 1\n```\n````\n" in written
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(tmp_path / "chat.json"), ""))
    again.window.export_actions[1].trigger()  # File → Export as JSON…
    exported = json.loads((tmp_path / "chat.json").read_text(encoding="utf-8"))["messages"][0]
    assert exported["text"] == "Check my plan" and exported["attachments"][0]["text"] == "# Plan\n```py\nx = 1\n```\n"
    view.copy_button.click()  # Copy: what was sent, the file as the model read it
    assert QApplication.clipboard().text() == message_content("Check my plan", view.message.attachments)


def test_a_file_can_be_taken_out_before_sending_and_a_file_alone_can_be_sent(qtbot, launch, tmp_path):
    backend = FakeBackend()
    app = launch(backend)
    composer = app.window.composer
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("first file")
    second.write_text("second file")
    drop(composer.box, [first, second])
    assert [c.attachment.name for c in composer.chips.chips] == ["a.txt", "b.txt"]
    assert composer.button.isEnabled()  # nothing typed: the files alone can be sent
    QTest.mouseClick(composer.chips.chips[0].remove_button, Qt.MouseButton.LeftButton)
    assert [c.attachment.name for c in composer.chips.chips] == ["b.txt"]
    with qtbot.waitSignal(app.controller.reply_finished, timeout=10000):
        composer.button.click()
    assert backend.sessions[-1].requests[-1].user_message == Attachment("b.txt", "second file").block + "\n"
    view = app.window.transcript.views[0]
    assert view.text.isHidden() and chip_texts(view.attachments)[0].startswith("b.txt")
    assert app.controller.conversation_title() == "b.txt"


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
    assert app.window.composer.attachments[0].text.startswith("word word")  # nothing is lost: it can be shortened


def test_a_message_whose_file_never_fits_comes_back_with_its_file_attached(qtbot, launch, tmp_path):
    from tests.ui.test_conversations import DroppingBackend

    app = launch(DroppingBackend())
    composer = app.window.composer
    big = tmp_path / "book.txt"
    big.write_text("word " * 300)  # over the fake's limit once it is in the message
    drop(composer.box, [big])
    composer.box.setFocus()
    QTest.keyClicks(composer.box, "Read this")
    with qtbot.waitSignal(app.controller.message_too_long, timeout=10000):
        QTest.keyClick(composer.box, Qt.Key.Key_Return)
    assert composer.box.toPlainText() == "Read this"
    assert [a.text for a in composer.attachments] == ["word " * 300]  # nothing is lost
    assert app.controller.store.list_conversations() == []
