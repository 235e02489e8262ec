"""The conversation list as other chat apps have it: Up and Down switch conversations, Enter opens,
Delete asks to delete; the highlighted row and the open conversation are always the same one
(after a right-click, and when an open fails). Driven with the keyboard and mouse, fake backend."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QMessageBox

from app.store import Store, StoreError
from tests.app.fakes import FakeBackend
from tests.ui.driver import ask

ID = Qt.ItemDataRole.UserRole


def three_conversations(qtbot, launch):
    app = launch(FakeBackend())
    for topic in ("first topic", "second topic", "third topic"):
        app.window.new_chat()
        ask(qtbot, app, topic)
    return app


def highlighted(app) -> int | None:
    item = app.window.sidebar.list.currentItem()
    return None if item is None else item.data(ID)


def shown(app) -> str:
    return app.window.transcript.views[0].message.text


def in_step(app) -> bool:
    listing = app.window.sidebar.list
    selected = [item.data(ID) for item in listing.selectedItems()]
    return highlighted(app) == app.controller.conversation_id and selected == [app.controller.conversation_id]


def test_up_and_down_switch_conversations_and_enter_opens(qtbot, launch):
    app = three_conversations(qtbot, launch)
    listing = app.window.sidebar.list
    listing.setFocus()
    assert shown(app) == "third topic" and in_step(app)  # newest first, and open
    QTest.keyClick(listing, Qt.Key.Key_Down)
    assert shown(app) == "second topic" and in_step(app)
    QTest.keyClick(listing, Qt.Key.Key_Down)
    assert shown(app) == "first topic" and in_step(app)
    QTest.keyClick(listing, Qt.Key.Key_Home)
    assert shown(app) == "third topic" and in_step(app)
    QTest.keyClick(listing, Qt.Key.Key_Up)  # already at the top: nothing changes
    assert shown(app) == "third topic" and in_step(app)

    app.window.new_chat()  # a new, unsaved conversation: nothing in the list is open
    assert highlighted(app) is None and app.window.transcript.views == []
    listing.setFocus()
    QTest.keyClick(listing, Qt.Key.Key_Down)
    assert app.window.transcript.views and in_step(app)
    QTest.keyClick(listing, Qt.Key.Key_End)
    assert shown(app) == "first topic" and in_step(app)
    QTest.keyClick(listing, Qt.Key.Key_Return)  # Enter on the open one keeps it open
    assert shown(app) == "first topic" and in_step(app)


def test_enter_opens_a_search_hit_that_the_arrow_keys_reached(qtbot, launch):
    app = three_conversations(qtbot, launch)
    sidebar = app.window.sidebar
    sidebar.search_box.setFocus()
    QTest.keyClicks(sidebar.search_box, "topic")
    qtbot.waitUntil(lambda: sidebar.list.count() == 3 and sidebar.list.item(0).data(ID) is not None)
    sidebar.list.setFocus()
    QTest.keyClick(sidebar.list, Qt.Key.Key_Down)
    QTest.keyClick(sidebar.list, Qt.Key.Key_Down)
    assert shown(app) == "third topic"  # moving through hits opens nothing yet
    target = sidebar.list.currentItem().data(ID)
    QTest.keyClick(sidebar.list, Qt.Key.Key_Return)
    assert app.controller.conversation_id == target and shown(app) != "third topic"
    sidebar.search_box.clear()
    qtbot.waitUntil(lambda: sidebar.list.count() == 3 and "\n" not in sidebar.list.item(0).text())
    assert in_step(app)


def test_a_right_click_leaves_the_highlight_on_the_open_conversation(qtbot, launch):
    app = three_conversations(qtbot, launch)
    listing = app.window.sidebar.list
    other = listing.item(2)
    point = listing.visualItemRect(other).center()
    QTimer.singleShot(200, lambda: QApplication.activePopupWidget() and QApplication.activePopupWidget().close())
    QTest.mousePress(listing.viewport(), Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, point)
    assert in_step(app) and shown(app) == "third topic"  # the press alone moves nothing
    QTest.mouseRelease(listing.viewport(), Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, point)
    listing.customContextMenuRequested.emit(point)  # offscreen Qt sends no context-menu event for a click
    assert in_step(app) and shown(app) == "third topic"
    listing.setFocus()
    QTest.keyClick(listing, Qt.Key.Key_Down)  # the keys go on from the open conversation
    assert shown(app) == "second topic" and in_step(app)


def test_when_a_conversation_cannot_be_opened_the_highlight_stays_on_the_open_one(qtbot, launch, monkeypatch):
    app = three_conversations(qtbot, launch)
    listing = app.window.sidebar.list
    listing.setFocus()

    def disk_gone(_store, _message_id):
        raise StoreError("the disk went away")

    monkeypatch.setattr(Store, "tokens", disk_gone)
    QTest.keyClick(listing, Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: in_step(app))
    assert shown(app) == "third topic"
    assert app.window.notice.isVisible() and "could not be opened" in app.window.notice.text()
    rect = listing.visualItemRect(listing.item(1))
    QTest.mouseClick(listing.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    qtbot.waitUntil(lambda: in_step(app))
    assert shown(app) == "third topic"
    monkeypatch.undo()
    QTest.keyClick(listing, Qt.Key.Key_Down)
    assert shown(app) == "second topic" and in_step(app)


def test_delete_asks_then_deletes_the_highlighted_conversation(qtbot, launch, monkeypatch):
    app = three_conversations(qtbot, launch)
    listing = app.window.sidebar.list
    listing.setFocus()
    QTest.keyClick(listing, Qt.Key.Key_Down)
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda _p, _t, text, *a: asked.append(text) or QMessageBox.StandardButton.Yes)
    QTest.keyClick(listing, Qt.Key.Key_Delete)
    assert "second topic" in asked[0]
    assert [listing.item(r).text() for r in range(listing.count())] == ["third topic", "first topic"]


def test_deleting_the_conversation_whose_reply_streams_says_it_was_stopped_and_deleted(qtbot, launch, monkeypatch):
    """Trial 5 #31: the banner said the reply stopped "because you started a new conversation" and
    was "kept as far as it got", though it had just been deleted."""
    from tests.ui.driver import type_and_send

    app = launch(FakeBackend(endless=True))
    type_and_send(qtbot, app.window, "Write a long essay about rivers.")
    qtbot.waitUntil(lambda: app.controller.busy and len(app.controller.message(1).tokens) > 3, timeout=10000)
    listing = app.window.sidebar.list
    listing.setFocus()
    listing.setCurrentRow(0)
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes)
    QTest.keyClick(listing, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: not app.controller.busy, timeout=10000)
    assert app.controller.list_conversations() == [] and app.controller.conversation_id is None
    assert app.window.notice.text() == "Stopped the reply and deleted “Write a long essay about rivers.”"  # one full stop (verify 5, N9)


def delete_open_conversation(qtbot, app, monkeypatch) -> None:
    """Right-click-free: Delete on the highlighted (open) row, Yes."""
    listing = app.window.sidebar.list
    listing.setFocus()
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes)
    QTest.keyClick(listing, Qt.Key.Key_Delete)


def test_deleting_the_open_conversation_opens_its_neighbour_highlighted(qtbot, launch, monkeypatch):
    """Trial 6, finding 8: it left an empty new conversation with nothing highlighted."""
    app = three_conversations(qtbot, launch)
    listing = app.window.sidebar.list
    listing.setFocus()
    QTest.keyClick(listing, Qt.Key.Key_Down)  # opens "second topic", in the middle
    assert shown(app) == "second topic"
    delete_open_conversation(qtbot, app, monkeypatch)
    assert [listing.item(r).text() for r in range(listing.count())] == ["third topic", "first topic"]
    assert shown(app) == "first topic"  # the one below it
    assert highlighted(app) == app.controller.conversation_id and listing.currentItem().text() == "first topic"
    delete_open_conversation(qtbot, app, monkeypatch)  # the last row: the one above it
    assert shown(app) == "third topic" and listing.currentItem().text() == "third topic"
    delete_open_conversation(qtbot, app, monkeypatch)  # none left: a new conversation, nothing to highlight
    assert app.controller.conversation_id is None and listing.count() == 0
    assert app.window.transcript.views == []


def test_deleting_the_open_conversation_mid_reply_opens_the_neighbour_and_says_what_was_deleted(
        qtbot, launch, monkeypatch):  # fmt: skip
    from tests.ui.driver import type_and_send

    app = launch(FakeBackend(endless=True))
    type_and_send(qtbot, app.window, "Say hello.")
    app.window.composer.button.click()  # Stop
    qtbot.waitUntil(lambda: not app.controller.busy, timeout=10000)
    earlier = app.controller.conversation_id
    app.window.new_chat()
    type_and_send(qtbot, app.window, "Write a long essay about rivers.")
    qtbot.waitUntil(lambda: app.controller.busy and len(app.controller.message(1).tokens) > 3, timeout=10000)
    delete_open_conversation(qtbot, app, monkeypatch)
    qtbot.waitUntil(lambda: not app.controller.busy, timeout=10000)
    assert app.controller.conversation_id == earlier and highlighted(app) == earlier
    assert shown(app) == "Say hello."
    assert app.window.notice.text() == "Stopped the reply and deleted “Write a long essay about rivers.”"
