"""The Qt-free half of `glassbox --self-test` (ui/self_test.py runs the steps): reading back what
the app wrote to its database, from a fresh connection, as the next start would."""

from __future__ import annotations

from pathlib import Path

from app import paths
from app.store import Store


def stored_reply(data_dir: Path, conversation_id: int) -> str:
    """The text of the newest reply of conversation `conversation_id`, read from the database file
    in `data_dir` with a connection of its own. Raises LookupError when there is none."""
    store = Store(paths.database_path(data_dir))
    try:
        replies = [m for m in store.active_path(conversation_id) if m.role == "assistant"]
    finally:
        store.close()
    if not replies:
        raise LookupError(f"conversation {conversation_id} has no stored reply")
    return replies[-1].text
