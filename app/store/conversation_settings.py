"""What one conversation sets for itself instead of the app-wide settings: its own system prompt
and its own stop strings. Kept in the `conversation_settings` table (one JSON object per
conversation; a missing key means "use the app's setting").

A row that cannot be read (not JSON, wrong types, a stop-string list that does not validate) costs
only itself: the conversation then uses the app's settings, as if it had none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app import stop_strings as stops

if TYPE_CHECKING:
    from app.settings import Settings
    from app.store.database import Database


@dataclass(frozen=True)
class ConversationSettings:
    """None: the conversation follows the app's setting."""

    system_prompt: str | None = None
    stop_strings: tuple[str, ...] | None = None

    @property
    def empty(self) -> bool:
        return self.system_prompt is None and self.stop_strings is None

    def applied_to(self, settings: Settings) -> Settings:
        """`settings` with this conversation's own values in place of the app's."""
        from dataclasses import replace

        app = settings.app
        if self.system_prompt is not None:
            app = replace(app, system_prompt=self.system_prompt)
        if self.stop_strings is not None:
            app = replace(app, stop_strings=self.stop_strings)
        return replace(settings, app=app)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.system_prompt is not None:
            out["system_prompt"] = self.system_prompt
        if self.stop_strings is not None:
            out["stop_strings"] = list(self.stop_strings)
        return out

    @classmethod
    def from_json(cls, data: Any) -> ConversationSettings:
        """Whatever of `data` is usable (anything else is left to the app's settings)."""
        if not isinstance(data, dict):
            return cls()
        prompt = data.get("system_prompt")
        strings = data.get("stop_strings")
        ok = isinstance(strings, list) and all(isinstance(s, str) for s in strings) and stops.problems(strings) is None
        return cls(prompt if isinstance(prompt, str) else None, tuple(strings) if ok else None)


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
