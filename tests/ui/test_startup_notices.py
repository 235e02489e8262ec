"""What the composition root (ui/main.py) tells the user at start-up about damaged files."""

from __future__ import annotations

from app.main import parse_args
from tests.app.fakes import FakeBackend
from ui.main import launch


def test_unreadable_settings_are_kept_and_said_in_the_window(qtbot, tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.json").write_text("{ not json", encoding="utf-8")
    args = parse_args(["--data-dir", str(tmp_path / "data"), "--config-dir", str(config)])
    _qt_app, core, window = launch(args, FakeBackend(), start=False)
    qtbot.addWidget(window)
    try:
        assert "could not be read" in window.notice.text()
        assert list(config.glob("settings.json.unreadable-*"))
    finally:
        core.shutdown()


def test_a_damaged_reply_in_the_latest_conversation_opens_with_its_text_and_a_notice(qtbot, tmp_path):
    import sqlite3

    from app.store import Store
    from tests.app.fakes import record

    data = tmp_path / "data"
    store = Store(data / "glassbox.db")
    c = store.create_conversation()
    store.add_user_message(c.id, "What is glass?")
    reply = store.start_assistant_message(c.id)
    store.append_partial(reply.id, [record(0, "An amorphous"), record(1, " solid.")])
    store.finish(reply.id, "eos")
    store.close()
    conn = sqlite3.connect(data / "glassbox.db")
    conn.execute("UPDATE message_tokens SET data = '[{\"not json' WHERE message_id = ?", (reply.id,))
    conn.commit()
    conn.close()

    args = parse_args(["--data-dir", str(data), "--config-dir", str(tmp_path / "config")])
    _qt_app, core, window = launch(args, FakeBackend(), start=False)  # this used to abort start-up
    qtbot.addWidget(window)
    try:
        views = window.transcript.views
        assert [v.message.text for v in views] == ["What is glass?", "An amorphous solid."]
        assert "token details" in window.notice.text() and "text is intact" in window.notice.text()
    finally:
        core.shutdown()
