"""What one conversation sets for itself instead of the app-wide settings: its own system prompt
and its own stop strings. Kept in the `conversation_settings` table (one JSON object per
conversation; a missing key means "use the app's setting").

A row that cannot be read (not JSON, wrong types, a stop-string list that does not validate) costs
only itself: the conversation then uses the app's settings, as if it had none.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from app.settings import ConversationSettings

if TYPE_CHECKING:
    from app.store.database import Database

__all__ = ["ConversationSettings", "read", "write"]  # the value type lives in app.settings


def read(db: Database, conversation_id: int) -> ConversationSettings:
    """The conversation's own settings (empty when it has none or its row cannot be read)."""
    rows = db.query("SELECT data FROM conversation_settings WHERE conversation_id = ?", (conversation_id,))
    if not rows:
        return ConversationSettings()
    try:
        return ConversationSettings.from_json(json.loads(rows[0]["data"]))
    except (TypeError, ValueError):
        return ConversationSettings()


def write(db: Database, conversation_id: int, settings: ConversationSettings) -> None:
    """Keep (or, when empty, remove) the conversation's own settings, in one transaction."""
    with db.transaction() as conn:
        if settings.empty:
            conn.execute("DELETE FROM conversation_settings WHERE conversation_id = ?", (conversation_id,))
        else:
            conn.execute(
                "INSERT INTO conversation_settings (conversation_id, data) VALUES (?, ?)"
                " ON CONFLICT(conversation_id) DO UPDATE SET data = excluded.data",
                (conversation_id, json.dumps(settings.to_json(), ensure_ascii=False)),
            )
