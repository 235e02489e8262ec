"""The window as a daily driver (trial 4): actions enabled exactly when they can act, a title that
names the reopened conversation, a banner that never outlives a later success, a conversation
ending with the user's message that can be answered, an imported reply's unknown token count, the
Memories dialog's empty state, the KV cache figure reopened as shown, one unit for byte sizes
(fake backend unless said)."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QFileDialog, QLabel

from app.byte_sizes import format_bytes
from tests.app.fakes import BROKEN, FakeBackend
from tests.ui.driver import ask

ENDS_WITH_USER = [{
    "title": "Ends with me", "create_time": 1700000000.0, "current_node": "c",
    "mapping": {
        "root": {"id": "root", "message": None, "parent": None, "children": ["a"]},
        "a": {"id": "a", "parent": "root", "children": ["b"], "message": {
            "author": {"role": "user"}, "content": {"content_type": "text", "parts": ["Hello there"]}}},
        "b": {"id": "b", "parent": "a", "children": ["c"], "message": {
            "author": {"role": "assistant"}, "content": {"content_type": "text", "parts": ["Hi! Here is code."]}}},
        "c": {"id": "c", "parent": "b", "children": [], "message": {
            "author": {"role": "user"}, "content": {"content_type": "text", "parts": ["thanks"]}}},
    },
}]


def menu_action(window, menu: str, text: str):
    top = next(a for a in window.menuBar().actions() if a.text().replace("&", "") == menu)
    return next(a for a in top.menu().actions() if a.text().replace("&", "") == text)


def write_export(tmp_path: Path, conversations) -> Path:
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(conversations), encoding="utf-8")
    return path


def test_reply_actions_are_greyed_until_there_is_a_reply(qtbot, launch):
    app = launch(FakeBackend())
    copy = menu_action(app.window, "Edit", "Copy Last Reply")
    regenerate = menu_action(app.window, "Edit", "Regenerate Last Reply")
    assert not copy.isEnabled() and not regenerate.isEnabled()  # a new, empty conversation
    QTest.keyClick(app.window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    assert not app.controller.busy and app.controller.conversation.messages == []
    ask(qtbot, app, "hello")
    assert copy.isEnabled() and regenerate.isEnabled()
    app.window.new_chat()
    assert not copy.isEnabled() and not regenerate.isEnabled()


def test_the_title_names_the_conversation_reopened_after_a_restart(qtbot, launch, tmp_path):
    app = launch(FakeBackend(), profile=tmp_path)
    ask(qtbot, app, "List twenty animals, one per line.")
    assert app.window.windowTitle() == "List twenty animals, one per line. — Glassbox"
    app.close()
    again = launch(FakeBackend(), profile=tmp_path)
    assert again.window.windowTitle() == "List twenty animals, one per line. — Glassbox"


def test_an_import_error_banner_goes_when_the_next_import_succeeds(qtbot, launch, tmp_path, monkeypatch):
    app = launch(FakeBackend())
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}', encoding="utf-8")
    good = write_export(tmp_path, ENDS_WITH_USER)
    chosen = iter([str(bad), str(good)])
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a: (next(chosen), ""))
    menu_action(app.window, "File", "Import Conversations…").trigger()
    assert app.window.notice.text().startswith("Nothing was imported: bad.json")
    menu_action(app.window, "File", "Import Conversations…").trigger()
    assert app.window.notice.text() == ""  # no red banner above the conversation just imported
    assert app.window.status.full_message().startswith("Imported 1 conversation")


def test_a_model_error_banner_goes_when_a_model_loads(qtbot, launch):
    app = launch(FakeBackend())
    with qtbot.waitSignal(app.controller.model_failed, timeout=10000):
        app.window.choose_model(f"/models/{BROKEN}")
    assert app.window.notice.text().startswith("Could not load the model")
    with qtbot.waitSignal(app.controller.model_loaded, timeout=10000):
        app.window.choose_model("/models/other.gguf")
    assert app.window.notice.text() == ""


def test_a_conversation_ending_with_my_message_is_answered_and_my_message_stays(qtbot, launch, tmp_path):
    backend = FakeBackend()
    app = launch(backend)
    app.window.import_file(str(write_export(tmp_path, ENDS_WITH_USER)))
    last = app.window.transcript.views[-1]
    assert last.message.text == "thanks"
    assert last.regenerate_button.isVisibleTo(last) and last.regenerate_button.text() == "Reply"
    regenerate = menu_action(app.window, "Edit", "Reply to Your Message")
    assert regenerate.isEnabled()
    with qtbot.waitSignal(app.controller.reply_finished, timeout=10000):
        app.window.transcript.setFocus()
        QTest.keyClick(app.window, Qt.Key.Key_R, Qt.KeyboardModifier.ControlModifier)
    shown = [(m.role, m.text) for m in app.controller.conversation.messages]
    assert shown[:3] == [("user", "Hello there"), ("assistant", "Hi! Here is code."), ("user", "thanks")]
    assert shown[3][0] == "assistant" and shown[3][1]
    assert app.controller.message(1).branch == (1, 1)  # the reply before it was not regenerated
    assert backend.sessions[-1].requests[-1].history[-1] == {"role": "assistant", "content": "Hi! Here is code."}
    assert not last.regenerate_button.isVisibleTo(last)  # answered: the Reply button goes
    assert menu_action(app.window, "Edit", "Regenerate Last Reply").isEnabled()


def test_an_imported_reply_does_not_claim_zero_tokens(qtbot, launch, tmp_path):
    app = launch(FakeBackend())
    app.window.import_file(str(write_export(tmp_path, ENDS_WITH_USER)))
    meta = app.window.transcript.views[1].meta_label.text()
    assert "0 tokens" not in meta and "no token data" in meta


def test_the_memories_dialog_says_when_there_are_none(qtbot, launch):
    app = launch(FakeBackend())
    QTest.keyClick(app.window, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    dialog = app.window.actions.memory_dialog
    qtbot.waitExposed(dialog)
    empty = dialog.findChild(QLabel, "emptyState")
    assert empty.isVisible() and "No memories yet" in empty.text() and "remember that" in empty.text()
    assert not dialog.list.isVisible() and not dialog.pin_button.isVisible()
    QTest.keyClicks(dialog.new_box, "I prefer metric units")
    QTest.keyClick(dialog.new_box, Qt.Key.Key_Return)
    assert dialog.list.isVisible() and dialog.list.count() == 1 and not empty.isVisible()
    assert dialog.pin_button.isVisible()
    dialog.close()


def test_the_kv_cache_figure_comes_back_with_a_reopened_reply(qtbot, launch, tmp_path):
    app = launch(FakeBackend(), profile=tmp_path)
    ask(qtbot, app, "What is my name?")
    shown = app.window.status.kv_label.full_text()
    assert shown == f"KV cache {format_bytes(4096)}"
    first = app.controller.conversation_id
    app.window.new_chat()
    ask(qtbot, app, "Another question")
    app.controller.open_conversation(first)  # clicking it in the list
    assert app.window.status.kv_label.full_text() == shown
    app.close()
    again = launch(FakeBackend(), profile=tmp_path)  # restarted: the last conversation reopens
    assert again.window.status.kv_label.full_text() == f"KV cache {format_bytes(4096)}"


def test_one_byte_unit_everywhere():
    """Manage Models' file size and the status bar's KV cache read "MB" the same way (10^6 bytes)."""
    from app.model_library import format_bytes as library_bytes
    from ui.text_format import byte_size

    assert library_bytes is format_bytes and byte_size is format_bytes
    assert format_bytes(98_362_432) == "98.4 MB"  # the default model's file
    assert format_bytes(1_889_280) == "1.9 MB"  # 41 tokens of its KV cache (was "1.8 MB" in MiB)


def test_a_message_with_a_file_is_titled_by_what_was_typed(qtbot, launch, tmp_path, monkeypatch):
    app = launch(FakeBackend())
    notes = tmp_path / "notes.txt"
    notes.write_text("Shopping list:\n- eggs\n- milk\n", encoding="utf-8")
    monkeypatch.setattr(QFileDialog, "getOpenFileNames", lambda *a, **k: ([str(notes)], ""))
    QTest.mouseClick(app.window.composer.attach_button, Qt.MouseButton.LeftButton)
    ask(qtbot, app, " What is on my list?")
    assert app.controller.message(0).content.endswith("[Attached file: notes.txt]\n```\nShopping list:\n- eggs\n- milk\n\n```\n")
    assert app.controller.conversation_title() == "What is on my list?"
    assert app.window.windowTitle() == "What is on my list? — Glassbox"

    app.window.new_chat()  # a file sent with nothing typed: titled by its name
    QTest.mouseClick(app.window.composer.attach_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(app.controller.reply_finished, timeout=10000):
        QTest.keyClick(app.window.composer.box, Qt.Key.Key_Return)
    assert app.controller.conversation_title() == "notes.txt"

    app.window.new_chat()  # the same words typed by hand are the user's text: titled as written
    ask(qtbot, app, "[Attached file: x] is how it looks")
    assert app.controller.conversation_title() == "[Attached file: x] is how it looks"


def test_a_reply_saved_before_the_kv_figure_was_kept_says_so(qtbot):
    from ui.status_bar import StatusBar

    bar = StatusBar()
    qtbot.addWidget(bar)
    bar.show_stats({"prompt_tokens": 30, "generated_tokens": 11, "context_used": 41})  # no kv_bytes stored
    assert bar.kv_label.full_text() == "KV cache —" and "not recorded" in bar.kv_label.tooltip_text()
