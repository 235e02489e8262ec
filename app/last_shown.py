"""Which conversation was on screen, kept across a restart: Glassbox reopens the conversation the
person left, not the one updated last (a new, unsaved conversation reopens as a new one). The
version of each message it showed comes back with it: the store keeps the branch that was shown
(`Store.select_branch`, the active leaf).

A small JSON file beside the conversation database ({"conversation": <id> or null}), written whole
to a temporary file and moved into place, so a crash leaves the old file or the new one. A file
that cannot be read counts as nothing remembered. Qt-free.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
FILE_NAME = "shown.json"


@dataclass(frozen=True)
class Shown:
    """The conversation on screen: its stored id, or None for a new one not saved yet."""

    conversation_id: int | None


class LastShown:
    """The conversation on screen, remembered as it changes. `path` None keeps it in memory only
    (tests, an in-memory database)."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path is not None else None
        self._shown = self._read()

    def get(self) -> Shown | None:
        """What was on screen last (None: nothing remembered, e.g. the first start)."""
        return self._shown

    def put(self, conversation_id: int | None) -> None:
        """`conversation_id` is on screen now (None: a new conversation); saved at once when it changed."""
        shown = Shown(conversation_id)
        if shown == self._shown:
            return
        self._shown = shown
        self._write()

    def _read(self) -> Shown | None:
        if self.path is None or not self.path.exists():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            value = data["conversation"]
            if value is not None and (type(value) is not int or value < 1):
                raise ValueError(f"not a conversation id: {value!r}")
        except (OSError, ValueError, TypeError, KeyError) as e:
            log.warning("%s unreadable (%s); the latest conversation opens", self.path, e)
            return None
        return Shown(value)

    def _write(self) -> None:
        if self.path is None or self._shown is None:
            return
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            temporary.write_text(json.dumps({"conversation": self._shown.conversation_id}), encoding="utf-8")
            temporary.replace(self.path)
        except OSError as e:  # a full disk: the latest conversation opens next time instead
            log.warning("could not save %s: %s", self.path, e)
