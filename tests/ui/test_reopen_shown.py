"""A restart reopens the conversation that was on screen, not the one updated last, showing the
version of each reply it showed; a new conversation left on screen reopens as a new one (with what
was typed in it). Driven through the window with a fake backend."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend, FakeSession
from tests.ui.driver import REPLY_TIMEOUT_MS, ask


class NumberedSession(FakeSession):
    """Each reply says which it is, so a reopened version can be told from the others."""

    def stream(self, request, should_stop, progress):
        self.reply = f"Reply number {len(self.requests) + 1}."
        yield from super().stream(request, should_stop, progress)


def click(widget) -> None:
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton)


def click_conversation(window, title: str) -> None:
    listing = window.sidebar.list
    row = next(r for r in range(listing.count()) if listing.item(r).text() == title)
    rect = listing.visualItemRect(listing.item(row))
    QTest.mouseClick(listing.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())


def shown(window) -> list[str]:
    return [view.message.text for view in window.transcript.views]


def highlighted(window) -> str:
    return window.sidebar.list.currentItem().text()


def test_a_restart_reopens_the_conversation_and_reply_version_on_screen(qtbot, launch, tmp_path):
    app = launch(FakeBackend(session=NumberedSession))
    ask(qtbot, app, "older conversation")  # reply 1
    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        click(app.window.transcript.views[1].regenerate_button)  # reply 2, shown as version 2/2
    click(app.window.transcript.views[1].previous_button)  # back to version 1/2
    app.window.new_chat()
    ask(qtbot, app, "newer conversation")  # reply 3: this one is the latest updated
    click_conversation(app.window, "older conversation")  # the person goes back to the older one
    assert shown(app.window) == ["older conversation", "Reply number 1."]
    app.close()  # Ctrl+Q

    again = launch(FakeBackend(session=NumberedSession), profile=tmp_path)
    window = again.window
    assert shown(window) == ["older conversation", "Reply number 1."]
    assert window.transcript.views[1].branch_label.text() == "1/2"
    assert highlighted(window) == "older conversation" and "older conversation" in window.windowTitle()

    window.new_chat()  # a new conversation left on screen, with a message typed but not sent
    window.composer.box.setFocus()
    QTest.keyClicks(window.composer.box, "half a thought")
    again.close()

    third = launch(FakeBackend(session=NumberedSession), profile=tmp_path)
    assert shown(third.window) == [] and third.controller.conversation_id is None
    assert third.window.composer.box.toPlainText() == "half a thought"
    assert third.window.sidebar.list.count() == 2  # both conversations are still listed
