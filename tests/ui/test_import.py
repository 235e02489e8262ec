"""Importing conversations through File > Import Conversations…: ChatGPT's conversations.json,
Glassbox's own export (round trip), and files that are neither (fake backend)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog

from tests.app.fakes import FakeBackend
from tests.ui.drawn_text import widget_drawn
from tests.ui.driver import ask, seen

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
    app.controller.delete_conversation(app.controller.conversation_id)  # restored from the export
    app.window.import_file(str(original))
    imported = tmp_path / "imported.json"
    app.controller.export(imported, "json")
    before, after = json.loads(original.read_text()), json.loads(imported.read_text())
    assert comparable(after) == comparable(before)
    assert after["conversation"]["title"] == before["conversation"]["title"]
    assert len(after["conversation"]["active_path"]) == len(before["conversation"]["active_path"])
    assert len(app.controller.list_conversations()) == 1  # made anew: the original was deleted
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


def _import_from_menu(app, monkeypatch, path: Path) -> list[str]:
    """File → Import Conversations… choosing `path`; the folders the dialog opened in so far."""
    opened = getattr(app, "_opened_in", [])
    app._opened_in = opened

    def dialog(_parent, _caption, start, _filter):
        opened.append(start)
        return str(path), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", dialog)
    file_menu = app.window.menuBar().actions()[0].menu()
    next(a for a in file_menu.actions() if a.text() == "&Import Conversations…").trigger()
    return opened


def test_import_opens_where_the_last_export_went_and_the_same_export_twice_is_not_copied(
    qtbot, launch, tmp_path, monkeypatch
):
    """Trial 6, finding 10: Import opened in the home folder, not where the export had just been
    written; and importing the same export again added a second, identical conversation with no note."""
    app = launch(FakeBackend())
    ask(qtbot, app, "What is the capital of France?")
    folder = tmp_path / "exports"
    folder.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: (str(folder / "france.json"), ""))
    file_menu = app.window.menuBar().actions()[0].menu()
    next(a for a in file_menu.actions() if a.text().startswith("Export") and "JSON" in a.text()).trigger()
    export = folder / "france.json"
    assert export.exists()
    original = app.controller.conversation_id
    app.controller.delete_conversation(original)
    app.window.new_chat()

    opened = _import_from_menu(app, monkeypatch, export)
    assert opened == [str(folder)]  # the folder last exported to
    assert app.window.status.full_message() == "Imported 1 conversation from france.json."
    titles = [c.title for c in app.controller.list_conversations()]
    assert titles.count("What is the capital of France?") == 1
    first = app.controller.conversation_id

    app.window.new_chat()
    opened = _import_from_menu(app, monkeypatch, export)
    assert opened[-1] == str(folder)  # the folder last imported from
    assert app.window.status.full_message() == (
        "Imported 0 conversations from france.json; 1 skipped "
        "(“What is the capital of France?” is already in your list with the same messages).")
    assert [c.title for c in app.controller.list_conversations()] == titles  # no second copy
    assert app.controller.conversation_id == first  # the one already there is opened


def test_an_export_of_a_conversation_that_differs_is_imported(qtbot, launch, tmp_path):
    """Only an identical conversation is skipped: the same title with another reply is imported."""
    app = launch(FakeBackend())
    ask(qtbot, app, "hello")
    export = tmp_path / "hello.json"
    app.controller.export(export, "json")
    data = json.loads(export.read_text())
    data["messages"][-1]["text"] += " (edited)"
    data["messages"][-1].pop("tokens", None)
    export.write_text(json.dumps(data))
    app.window.import_file(str(export))
    assert app.window.status.full_message() == "Imported 1 conversation from hello.json."
    assert [c.title for c in app.controller.list_conversations()].count("hello") == 2


@pytest.mark.parametrize("width", [1180, 900, 640])
def test_the_import_message_can_be_read_whole_at_any_window_width(qtbot, launch, tmp_path, monkeypatch, width):
    """Verify 6: at the default 1180 px window the message after importing an export a second time
    was cut, "…1 skipped ("The history of the bicycle began" is alre…". The status bar shows the
    longest form of it that fits (how many were imported, how many skipped and why), drawn whole
    inside the label, and the whole text in the label's tooltip when a shorter form shows."""
    app = launch(FakeBackend())
    ask(qtbot, app, "The history of the bicycle began")
    app.controller.rename_conversation(app.controller.conversation_id, "The history of the bicycle began")
    export = tmp_path / "bike.json"
    app.controller.export(export, "json")
    app.window.resize(width, 760)
    qtbot.wait(50)
    _import_from_menu(app, monkeypatch, export)  # the same export again: skipped
    status = app.window.status
    whole = status.full_message()
    assert whole == ("Imported 0 conversations from bike.json; 1 skipped "
                     "(“The history of the bicycle began” is already in your list with the same messages).")  # fmt: skip
    qtbot.wait(50)
    label = status.message_label
    pieces = widget_drawn(label)
    shown = label.text()
    assert [piece.text for piece in pieces] == [shown]
    assert 0 <= pieces[0].left and pieces[0].right <= label.width()  # not cut at the label's edge
    assert not shown.endswith("…") and shown.startswith("Imported 0") and "already in your list" in shown
    assert seen(label.toolTip()) == ("" if shown == whole else whole)
    if width >= 1180:
        assert "bike.json" in shown  # room for the file's name too


@pytest.mark.parametrize("width", [1180, 640])
def test_the_export_message_names_the_file_whole(qtbot, launch, tmp_path, monkeypatch, width):
    """An export to a deep folder: the message names the file, whole, when the path has no room."""
    app = launch(FakeBackend())
    ask(qtbot, app, "What is the capital of France?")
    folder = tmp_path / "a folder with a rather long name" / "and another one inside it" / "exports"
    folder.mkdir(parents=True)
    target = folder / "france.json"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a: (str(target), ""))
    app.window.resize(width, 760)
    qtbot.wait(50)
    file_menu = app.window.menuBar().actions()[0].menu()
    next(a for a in file_menu.actions() if a.text().startswith("Export") and "JSON" in a.text()).trigger()
    qtbot.wait(50)
    label = app.window.status.message_label
    pieces = widget_drawn(label)
    assert [piece.text for piece in pieces] == [label.text()]
    assert pieces[0].right <= label.width()
    assert label.text() in (f"Exported to {target}", "Exported to france.json")
    assert seen(label.toolTip()) == ("" if label.text() == f"Exported to {target}" else f"Exported to {target}")
