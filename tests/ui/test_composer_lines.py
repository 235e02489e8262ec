"""The line under the message box says what the user's last action did, and only while it applies:
a file that could not be attached until the message changes, "Remembered: …" after a memory."""

from __future__ import annotations

from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask
from tests.ui.test_attachments_ui import drop
from ui import main_window


def test_a_file_problem_goes_when_the_message_changes_or_is_sent(qtbot, launch, tmp_path):
    app = launch(FakeBackend())
    composer = app.window.composer
    binary = tmp_path / "bin.dat"
    binary.write_bytes(bytes(range(256)) * 4)
    drop(composer.box, [binary])
    assert composer.info.isVisible() and "bin.dat" in composer.info.text() and composer.info.property("problem")
    composer.box.setFocus()
    QTest.keyClicks(composer.box, "Hello")  # the user moves on: the problem no longer applies
    assert not composer.info.isVisible()
    drop(composer.box, [binary])
    assert composer.info.isVisible()
    good = tmp_path / "notes.txt"
    good.write_text("Line one of my notes.", encoding="utf-8")
    drop(composer.box, [good])  # a later attachment that works replaces the problem
    assert "bin.dat" not in composer.info.text()
    drop(composer.box, [binary])
    ask(qtbot, app, "")  # Enter sends the message (with notes.txt)
    assert not composer.info.isVisible(), composer.info.text()


def test_remember_that_says_remembered_under_the_box(qtbot, launch):
    app = launch(FakeBackend())
    composer = app.window.composer
    ask(qtbot, app, "remember that my cat is called Mochi")
    assert composer.info.isVisible() and composer.info.text().startswith("Remembered: My cat is called Mochi")
    assert not composer.info.property("problem")
    ask(qtbot, app, "And my dog?")  # the next message: the line has said its piece
    assert not composer.info.isVisible()


def test_remembered_goes_after_a_while_without_a_send(qtbot, launch, monkeypatch):
    monkeypatch.setattr(main_window, "REMEMBERED_MS", 300)  # the 15 s, shortened for the test
    app = launch(FakeBackend())
    composer = app.window.composer
    # what the line says the moment the memory is saved (after the window's own slot): by the time
    # the reply has ended the 300 ms may be over on a busy machine (the fresh-clone CI's 2 cores)
    said = []
    app.controller.memory_saved.connect(lambda _text: said.append((composer.info.isVisible(), composer.info.text())))
    ask(qtbot, app, "remember that my cat is called Mochi")
    assert said and said[0][0] and said[0][1].startswith("Remembered: ")
    qtbot.waitUntil(lambda: not composer.info.isVisible(), timeout=10000)
    assert composer.box.toPlainText() == ""  # nothing else changed
