"""Importing conversations through File > Import Conversations…: ChatGPT's conversations.json,
Glassbox's own export (round trip), and files that are neither (fake backend)."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtWidgets import QFileDialog

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask

CHATGPT = Path(__file__).parent.parent / "fixtures" / "imports" / "chatgpt_conversations.json"


def comparable(export: dict) -> list[dict]:
    """The messages of an export without what a new database renumbers (ids become tree positions)."""
    position = {m["id"]: i for i, m in enumerate(export["messages"])}
    out = []
    for m in export["messages"]:
        m = dict(m, parent_id=position.get(m["parent_id"]))
        m.pop("id")
        out.append(m)
    return out


def test_a_chatgpt_export_is_imported_opened_and_answered(qtbot, launch, monkeypatch):
    backend = FakeBackend()
    app = launch(backend)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a: (str(CHATGPT), ""))
    file_menu = app.window.menuBar().actions()[0].menu()
    next(a for a in file_menu.actions() if a.text() == "&Import Conversations…").trigger()
    assert app.window.status.full_message() == (
        "Imported 1 conversation from chatgpt_conversations.json; 2 skipped "
        "(conversation 2 (“Broken”): it has no message tree (mapping); …).")
    assert app.window.windowHandle().title() == "Lisbon <trip> — Glassbox"
    shown = [(m.role, m.text) for m in app.controller.conversation.messages]
    assert shown == [("user", "Where should I go in Lisbon?\nTwo days."), ("assistant", "Alfama <b>and</b> Belém."),
                     ("user", "What about food?"), ("assistant", "Try pastéis de nata.")]
    assert [v.message.text for v in app.window.transcript.views][1] == "Alfama <b>and</b> Belém."
    ask(qtbot, app, "And a museum?")  # the imported conversation goes on like any other
    assert backend.sessions[-1].requests[-1].history[-1] == {"role": "assistant", "content": "Try pastéis de nata."}


def test_glassbox_export_then_import_gives_the_same_messages(qtbot, launch, tmp_path):
    app = launch(FakeBackend(), stop_strings=("END",))
    ask(qtbot, app, "first question")
    ask(qtbot, app, "second question")
    app.controller.regenerate()  # a second branch
    qtbot.waitUntil(lambda: not app.controller.busy)
    app.controller.edit_and_resend(0, "first question, edited")
    qtbot.waitUntil(lambda: not app.controller.busy)
    original = tmp_path / "original.json"
    app.controller.export(original, "json")
    app.window.import_file(str(original))
    imported = tmp_path / "imported.json"
    app.controller.export(imported, "json")
    before, after = json.loads(original.read_text()), json.loads(imported.read_text())
    assert comparable(after) == comparable(before)
    assert after["conversation"]["title"] == before["conversation"]["title"]
    assert len(after["conversation"]["active_path"]) == len(before["conversation"]["active_path"])
    assert after["conversation"]["id"] != before["conversation"]["id"]
    reopened = app.controller.message(1)
    assert reopened.tokens and reopened.tokens[0].logprob < 0  # the probabilities came along


def test_a_file_that_is_not_an_export_imports_nothing_and_says_why(qtbot, launch, tmp_path):
    app = launch(FakeBackend())
    ask(qtbot, app, "hello")
    before = app.controller.list_conversations()
    bad = tmp_path / "notes.json"
    bad.write_text('{"hello": "world"}')
    app.window.import_file(str(bad))
    assert app.window.notice.isVisible()
    assert app.window.notice.text() == (
        "Nothing was imported: notes.json is neither a ChatGPT export (conversations.json) nor a Glassbox JSON export.")
    assert app.controller.list_conversations() == before
