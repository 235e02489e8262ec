"""Conversations that persist: restart, switch, search, rename, delete, edit, regenerate, export,
context notices and a corrupt database, driven through the window with a fake backend (fast)."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QFileDialog, QLineEdit, QMessageBox

from app.backend import BackendError, ReplyDone
from app.context import ContextTooLong
from app.failures import FailureKind
from tests.app.fakes import REPLY, FakeBackend, FakeSession
from tests.ui.driver import REPLY_TIMEOUT_MS, ask, type_and_send


def click(widget) -> None:
    QTest.mouseClick(widget, Qt.MouseButton.LeftButton)


def click_token(qtbot, view, token_index: int) -> None:
    point = view.text.token_point(token_index)
    QTest.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)


def sidebar_titles(window) -> list[str]:
    return [window.sidebar.list.item(row).text() for row in range(window.sidebar.list.count())]


def click_item(window, row: int) -> None:
    listing = window.sidebar.list
    rect = listing.visualItemRect(listing.item(row))
    QTest.mouseClick(listing.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())


def test_a_conversation_and_its_token_probabilities_survive_a_restart(qtbot, launch, tmp_path):
    first = launch(FakeBackend())
    reply = ask(qtbot, first, "Tell me about glass")
    click_token(qtbot, first.window.transcript.views[1], 3)
    before = first.window.panel.record
    first.close()

    again = launch(FakeBackend(), profile=tmp_path)
    views = again.window.transcript.views
    assert [v.message.role for v in views] == ["user", "assistant"]
    assert views[0].text.toPlainText() == "Tell me about glass"
    assert views[1].message.text == reply.text == REPLY and views[1].message.finish_reason == "eos"
    assert sidebar_titles(again.window) == ["Tell me about glass"]
    click_token(qtbot, views[1], 3)
    after = again.window.panel.record
    assert (after.index, after.token, after.text, after.piece) == (before.index, before.token, before.text, before.piece)
    assert after.logprob == pytest.approx(before.logprob, abs=1e-5)
    assert [a[:2] for a in after.top_raw] == [a[:2] for a in before.top_raw]
    assert [a[:2] for a in after.top_final] == [a[:2] for a in before.top_final]
    # the tint is rebuilt from the stored probabilities (a -0.7 logprob token is tinted)
    assert views[1].text._token_span.keys() == {i for i, t in enumerate(views[1].message.tokens) if t.text}


def test_the_user_message_is_saved_before_its_request_leaves(qtbot, launch):
    app = launch(FakeBackend())
    saved_when_reply_appeared = []

    def on_added(index):
        if app.controller.message(index).role == "assistant":
            path = app.controller.store.active_path(app.controller.conversation_id)
            saved_when_reply_appeared.append([m.text for m in path if m.role == "user"])

    app.controller.message_added.connect(on_added)
    ask(qtbot, app, "keep me")
    assert saved_when_reply_appeared == [["keep me"]]
    request = app.core.controller._worker._session.requests[0]
    assert request.conversation_id == str(app.controller.conversation_id)


def test_a_streaming_reply_is_saved_while_it_streams_and_when_stopped(qtbot, launch):
    app = launch(FakeBackend(endless=True))
    with qtbot.waitSignal(app.controller.busy_changed, timeout=REPLY_TIMEOUT_MS):
        type_and_send(qtbot, app.window, "go on forever")
    reply = app.controller.message(1)
    store = app.controller.store
    qtbot.waitUntil(lambda: len(store.tokens(reply.id)) > 0, timeout=REPLY_TIMEOUT_MS)
    assert app.controller.busy and not store.message(reply.id).finished  # saved mid-stream
    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        QTest.keyClick(app.window.composer.box, Qt.Key.Key_Escape)
    stored = store.message(reply.id)
    assert stored.finished and stored.finish_reason == "cancelled"
    assert stored.text == reply.text and len(store.tokens(reply.id)) == len(reply.tokens)
    assert stored.model and stored.settings["sampling"]["temperature"] == app.controller.settings.sampling.temperature


def test_new_conversation_then_switch_back(qtbot, launch):
    app = launch(FakeBackend())
    ask(qtbot, app, "first topic")
    QTest.keyClick(app.window.composer.box, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert app.window.transcript.views == []
    ask(qtbot, app, "second topic")
    assert sidebar_titles(app.window) == ["second topic", "first topic"]  # newest first
    click_item(app.window, 1)
    assert [v.message.text for v in app.window.transcript.views] == ["first topic", REPLY]
    assert app.window.sidebar.list.currentRow() == 1
    # the next message continues that conversation, with its history
    ask(qtbot, app, "more on the first")
    request = app.controller._worker._session.requests[-1]
    assert [m["content"] for m in request.history] == ["first topic", REPLY]
    assert sidebar_titles(app.window)[0] == "first topic"


def test_search_opens_the_conversation_at_the_hit(qtbot, launch):
    app = launch(FakeBackend())
    ask(qtbot, app, "pineapples grow slowly")
    app.window.new_chat()
    ask(qtbot, app, "something else")
    app.window.sidebar.search_box.setFocus()
    QTest.keyClicks(app.window.sidebar.search_box, "pineap")
    qtbot.waitUntil(lambda: "You: pineapples" in " ".join(sidebar_titles(app.window)))
    assert sidebar_titles(app.window) == ["pineapples grow slowly\nYou: pineapples grow slowly"]
    click_item(app.window, 0)
    views = app.window.transcript.views
    assert views[0].message.text == "pineapples grow slowly"
    assert views[0].property("highlighted") is True
    QTest.keyClicks(app.window.sidebar.search_box, "zzz")
    qtbot.waitUntil(lambda: sidebar_titles(app.window) == ["No messages match"])


def test_rename_by_double_click_and_delete_after_confirmation(qtbot, launch, monkeypatch):
    app = launch(FakeBackend())
    ask(qtbot, app, "to be renamed")
    listing = app.window.sidebar.list
    rect = listing.visualItemRect(listing.item(0))
    for send in (QTest.mouseClick, QTest.mouseDClick):  # a real double-click starts with a press
        send(listing.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    qtbot.waitUntil(lambda: isinstance(QApplication.focusWidget(), QLineEdit))
    editor = QApplication.focusWidget()
    editor.selectAll()
    QTest.keyClicks(editor, "Glass notes")
    QTest.keyClick(editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: sidebar_titles(app.window) == ["Glass notes"])
    assert app.controller.store.list_conversations()[0].title == "Glass notes"

    answers = [QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Yes]
    asked = []
    monkeypatch.setattr(QMessageBox, "question", lambda _p, _t, text, *a: asked.append(text) or answers.pop(0))
    app.window.sidebar.delete(listing.item(0))
    assert sidebar_titles(app.window) == ["Glass notes"] and len(app.window.transcript.views) == 2
    app.window.sidebar.delete(listing.item(0))
    assert "Glass notes" in asked[0]
    assert sidebar_titles(app.window) == [] and app.window.transcript.views == []
    assert app.controller.store.list_conversations() == [] and app.controller.conversation_id is None


def test_edit_and_resend_keeps_the_old_branch(qtbot, launch):
    app = launch(FakeBackend())
    ask(qtbot, app, "first version")
    user_view = app.window.transcript.views[0]
    click(user_view.edit_button)
    user_view.editor.box.setPlainText("second version")
    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        click(user_view.editor.resend_button)
    views = app.window.transcript.views
    assert [v.message.text for v in views] == ["second version", REPLY]
    assert views[0].branch_label.text() == "2/2" and views[0].previous_button.isVisible()
    request = app.controller._worker._session.requests[-1]
    assert request.user_message == "second version" and request.history == ()
    click(views[0].previous_button)
    views = app.window.transcript.views
    assert [v.message.text for v in views] == ["first version", REPLY]
    assert views[0].branch_label.text() == "1/2"
    assert len(app.controller.store.messages(app.controller.conversation_id)) == 4


def test_regenerate_the_last_reply(qtbot, launch):
    app = launch(FakeBackend())
    ask(qtbot, app, "hello")
    ask(qtbot, app, "again")
    first_reply, last_reply = app.window.transcript.views[1], app.window.transcript.views[3]
    assert last_reply.regenerate_button.isVisible() and not first_reply.regenerate_button.isVisible()
    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        click(last_reply.regenerate_button)
    views = app.window.transcript.views
    assert len(views) == 4 and views[3].branch_label.text() == "2/2"
    request = app.controller._worker._session.requests[-1]
    assert request.user_message == "again" and [m["content"] for m in request.history] == ["hello", REPLY]
    assert len(app.controller.store.messages(app.controller.conversation_id)) == 5


def test_export_to_markdown_and_json(qtbot, launch, tmp_path, monkeypatch):
    app = launch(FakeBackend())
    ask(qtbot, app, "export me")
    targets = iter([str(tmp_path / "chat"), str(tmp_path / "chat.json")])
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (next(targets), ""))
    app.window.export_actions[0].trigger()
    app.window.export_actions[1].trigger()
    markdown = (tmp_path / "chat.md").read_text(encoding="utf-8")
    assert markdown.startswith("# export me") and "## User" in markdown and REPLY in markdown
    data = json.loads((tmp_path / "chat.json").read_text(encoding="utf-8"))
    assert data["format"] == "glassbox-conversation"
    reply = data["messages"][1]
    assert reply["text"] == REPLY and len(reply["tokens"]) == len(app.controller.message(1).tokens)


class DroppingSession(FakeSession):
    """Says, like the engine does, that earlier messages were left out; refuses huge messages."""

    def stream(self, request, should_stop, progress):
        if len(request.user_message) > 1000:
            raise BackendError(
                f"This message is 2,000 tokens … only 1,536 fit. {ContextTooLong.ADVICE}", FailureKind.CONTEXT_TOO_LONG
            )
        for item in super().stream(request, should_stop, progress):
            if isinstance(item, ReplyDone):
                item.stats["dropped_messages"] = 12
            yield item


class DroppingBackend(FakeBackend):
    def load(self, spec, report):
        session = DroppingSession(spec, self.reply, self.endless)
        self.sessions.append(session)
        return session


def test_context_notices_and_a_message_too_long_stays_in_the_composer(qtbot, launch):
    app = launch(DroppingBackend())
    ask(qtbot, app, "short")
    notice = app.window.transcript.views[1].notice_label
    assert notice.isVisible() and "12 earlier messages are outside the model's context" in notice.text()

    huge = "word " * 300
    with qtbot.waitSignal(app.controller.message_too_long, timeout=REPLY_TIMEOUT_MS):
        type_and_send(qtbot, app.window, huge)
    assert app.window.composer.box.toPlainText() == huge
    assert ContextTooLong.ADVICE in app.window.notice.text()
    assert [v.message.text for v in app.window.transcript.views] == ["short", REPLY]
    texts = [m.text for m in app.controller.store.messages(app.controller.conversation_id)]
    assert texts == ["short", REPLY]


def test_a_corrupt_database_is_set_aside_and_the_user_told_where(qtbot, launch, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "glassbox.db").write_bytes(b"this is not a database" * 100)
    app = launch(FakeBackend())
    kept = list(data.glob("glassbox.db.corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes().startswith(b"this is not a database")
    assert str(kept[0]) in app.window.notice.text()
    ask(qtbot, app, "works again")
    assert str(kept[0]) in app.window.notice.text()  # stays until dismissed
    assert app.controller.store.list_conversations()[0].title == "works again"


def test_a_first_message_too_long_leaves_no_empty_conversation_behind(qtbot, launch):
    app = launch(DroppingBackend())
    with qtbot.waitSignal(app.controller.message_too_long, timeout=REPLY_TIMEOUT_MS):
        app.window.composer.box.setPlainText("word " * 300)
        QTest.keyClick(app.window.composer.box, Qt.Key.Key_Return)
    assert app.window.composer.box.toPlainText() == "word " * 300
    assert app.controller.store.list_conversations() == [] and sidebar_titles(app.window) == []
    assert app.controller.conversation_id is None and app.window.transcript.views == []


class MeasuredSession(DroppingSession):
    """Reports a real decoding speed (the plain fake's is NaN) besides the dropped messages."""

    def stream(self, request, should_stop, progress):
        for item in super().stream(request, should_stop, progress):
            if isinstance(item, ReplyDone):
                item.stats.update(tokens_per_s=42.5, computed_tokens=10, kv_cache="plain")
            yield item


class MeasuredBackend(FakeBackend):
    def load(self, spec, report):
        session = MeasuredSession(spec, self.reply, self.endless)
        self.sessions.append(session)
        return session


def test_a_replys_header_and_context_notice_come_back_after_a_restart(qtbot, launch, tmp_path):
    first = launch(MeasuredBackend())
    ask(qtbot, first, "how fast?")
    live = first.window.transcript.views[1]
    header, notice = live.meta_label.text(), live.notice_label.text()
    assert "42.5 tok/s" in header and f"{len(REPLY.split()) + 1} tokens" in header  # the end of turn counted
    assert "12 earlier messages are outside the model's context" in notice
    first.close()

    again = launch(FakeBackend(), profile=tmp_path)
    reopened = again.window.transcript.views[1]
    assert reopened.meta_label.text() == header
    assert reopened.notice_label.text() == notice and reopened.notice_label.isVisible()
    assert reopened.message.stats["generated_tokens"] == len(REPLY.split()) + 1
