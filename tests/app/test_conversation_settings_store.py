"""A conversation's own settings in the store: kept, removed when empty, deleted with it, and a
damaged row costs only itself."""

from __future__ import annotations

from app.settings import AppSettings, ConversationSettings, Settings
from app.store import Store, conversation_settings


def test_kept_replaced_removed_and_deleted_with_the_conversation(tmp_path):
    store = Store(tmp_path / "g.db")
    conv = store.create_conversation("x").id
    assert conversation_settings.read(store, conv).empty
    own = ConversationSettings("Be brief.", ("\n\nUser:",))
    conversation_settings.write(store, conv, own)
    assert conversation_settings.read(Store(tmp_path / "g.db"), conv) == own  # another connection sees it
    conversation_settings.write(store, conv, ConversationSettings(None, ()))
    assert conversation_settings.read(store, conv) == ConversationSettings(None, ())  # no stop strings at all
    conversation_settings.write(store, conv, ConversationSettings())
    assert not store.query("SELECT * FROM conversation_settings")
    conversation_settings.write(store, conv, own)
    store.delete_conversation(conv)
    assert not store.query("SELECT * FROM conversation_settings")


def test_a_damaged_row_falls_back_to_the_apps_settings(tmp_path):
    store = Store(tmp_path / "g.db")
    conv = store.create_conversation("x").id
    for data in ("not json", '{"system_prompt": 7, "stop_strings": ["", ""]}', "[1, 2]"):
        with store.transaction() as db:
            db.execute("INSERT OR REPLACE INTO conversation_settings VALUES (?, ?)", (conv, data))
        assert conversation_settings.read(store, conv) == ConversationSettings()
    with store.transaction() as db:
        db.execute("INSERT OR REPLACE INTO conversation_settings VALUES (?, ?)",
                   (conv, '{"system_prompt": "Hi", "stop_strings": "x"}'))
    assert conversation_settings.read(store, conv) == ConversationSettings("Hi", None)  # what is usable stays


def test_applied_over_the_apps_settings():
    settings = Settings(app=AppSettings(system_prompt="Global", stop_strings=("END",)))
    assert ConversationSettings().applied_to(settings) == settings
    mine = ConversationSettings("Mine", None).applied_to(settings).app
    assert (mine.system_prompt, mine.stop_strings) == ("Mine", ("END",))
