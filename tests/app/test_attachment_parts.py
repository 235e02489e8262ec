"""An attached file is a part of the user message of its own: stored beside the typed text, read by
the model exactly as the message box used to hold it, reopened, exported and imported as it was."""

from __future__ import annotations

import json
import sqlite3

from app.attachments import Attachment, chip_text, message_content, title_text
from app.conversation import ChatMessage, Transcript, from_stored
from app.importers import read_conversations
from app.store import MIGRATIONS, Store
from app.store.imports import save_imported

NOTES = Attachment("notes<b>.md", "# Title\n<|im_end|>\n```py\nx = 1\n```\n", size=41, tokens=17)


def composer_text_before(typed: str, attached: list[Attachment]) -> str:
    """What the message box held when files went into it (the composer before attachments were
    parts): the typed text, then each block after a separator, with a line break after it."""
    text = typed
    for a in attached:
        text += ("" if not text or text.endswith("\n\n") else "\n" if text.endswith("\n") else "\n\n") + a.block + "\n"
    return text


def test_the_model_reads_the_same_text_the_message_box_used_to_hold():
    other = Attachment("b.txt", "plain")
    for typed in ("", "Summarise this", "Two lines\n", "ends with a blank line\n\n"):
        for attached in ([NOTES], [NOTES, other]):
            assert message_content(typed, attached) == composer_text_before(typed, attached)
    assert message_content("no files", []) == "no files"


def test_a_chip_names_the_file_its_size_and_tokens_and_the_title_is_what_was_typed():
    assert chip_text(NOTES) == "notes<b>.md · 41 B · 17 tokens"
    assert chip_text(Attachment("a.txt", "x")) == "a.txt"
    assert title_text("Summarise", [NOTES]) == "Summarise"
    assert title_text("  ", [NOTES, Attachment("b.txt", "y")]) == "notes<b>.md, b.txt"


def test_a_message_with_a_file_is_stored_as_two_parts_and_the_history_carries_both(tmp_path):
    store = Store(tmp_path / "g.db")
    conv = store.create_conversation().id
    stored = store.add_user_message(conv, "Summarise this", attachments=[NOTES])
    assert (stored.text, stored.attachments) == ("Summarise this", (NOTES,))
    store.close()
    store = Store(tmp_path / "g.db")
    message = from_stored(store.active_path(conv)[0])
    assert message.text == "Summarise this" and message.attachments == (NOTES,)
    assert Transcript([message]).history() == [{"role": "user", "content": "Summarise this\n\n" + NOTES.block + "\n"}]
    edited = store.edit_user_message(stored.id, "Shorter, please")  # a new version keeps its files
    assert (edited.text, edited.attachments) == ("Shorter, please", (NOTES,))
    fork = store.fork_conversation(edited.id)
    assert store.active_path(fork.id)[0].attachments == (NOTES,)
    store.close()


def test_an_old_database_opens_its_inlined_attachments_exactly_as_they_were(tmp_path):
    path = tmp_path / "g.db"
    inlined = "Look\n\n" + Attachment("old.txt", "old text").block + "\n"
    conn = sqlite3.connect(path)
    for version, step in enumerate(MIGRATIONS[:4], 1):
        conn.executescript(step if isinstance(step, str) else "")
        conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("INSERT INTO conversations (id, title, created, updated, active_leaf_id) VALUES (1, 'Old', 1, 2, 1)")
    conn.execute("INSERT INTO messages (id, conversation_id, parent_id, role, text, created) VALUES (1, 1, NULL, 'user', ?, 1)",
                 (inlined,))
    conn.commit()
    conn.close()
    store = Store(path)
    old = from_stored(store.active_path(1)[0])
    assert (old.text, old.attachments, old.content) == (inlined, (), inlined)
    store.close()


def test_a_damaged_attachments_column_costs_the_files_not_the_text(tmp_path):
    store = Store(tmp_path / "g.db")
    conv = store.create_conversation().id
    stored = store.add_user_message(conv, "typed", attachments=[NOTES])
    with store.transaction() as db:
        db.execute("UPDATE messages SET attachments = '{not json' WHERE id = ?", (stored.id,))
    damaged = store.message(stored.id)
    assert (damaged.text, damaged.attachments, damaged.damage) == ("typed", (), ("attachments",))
    store.close()


def test_exports_show_the_file_as_its_own_part_and_json_imports_back_the_same(tmp_path):
    store = Store(tmp_path / "g.db")
    conv = store.create_conversation().id
    store.add_user_message(conv, "Summarise *this*", attachments=[NOTES])
    markdown = store.export_markdown(conv)
    assert "**Attached file:** notes\\<b>.md · 41 B · 17 tokens" in markdown
    assert "````text\n# Title\n<|im_end|>\n```py\nx = 1\n```\n````" in markdown  # verbatim, never read as Markdown
    exported = store.export_json(conv)
    (tmp_path / "c.json").write_text(json.dumps(exported), encoding="utf-8")
    imported = save_imported(store, read_conversations(tmp_path / "c.json").conversations[0])
    again = store.active_path(imported.id)[0]
    assert (again.text, again.attachments) == ("Summarise *this*", (NOTES,))
    assert exported["messages"][0]["attachments"] == [NOTES.to_json()]
    store.close()


def test_content_is_the_typed_text_when_nothing_is_attached():
    assert ChatMessage("user", "hi").content == "hi"
