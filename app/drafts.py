"""What the user has typed (and attached) in the message box but not sent, per conversation, kept
across a restart: nothing the user wrote is lost by switching conversation or closing Glassbox.

A small JSON file beside the conversation database ({"<conversation id>" or "new": text, or
{"text": text, "attachments": [Attachment.to_json(), …]} when files are attached}), written
whole to a temporary file and moved into place, so a crash leaves the old file or the new one. A
file that cannot be read is set aside (`drafts.json.unreadable`), never overwritten. Qt-free.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path

from app.attachments import Attachment

log = logging.getLogger(__name__)
NEW = "new"  # the key of a new conversation not saved yet
FILE_NAME = "drafts.json"


def draft_key(conversation_id: int | None) -> str:
    """The key a conversation's draft is kept under (a new, unsaved conversation: "new")."""
    return NEW if conversation_id is None else str(conversation_id)


class Drafts:
    """Unsent message texts by conversation. `path` None keeps them in memory only (tests, an
    in-memory database)."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path is not None else None
        self._texts: dict[str, str | dict] = self._read()

    def get(self, conversation_id: int | None) -> str:
        """The text typed in the conversation's box and not sent ("" when none)."""
        draft = self._texts.get(draft_key(conversation_id), "")
        return draft if isinstance(draft, str) else draft["text"]

    def attachments(self, conversation_id: int | None) -> tuple[Attachment, ...]:
        """The files attached to the conversation's unsent message."""
        draft = self._texts.get(draft_key(conversation_id), "")
        return () if isinstance(draft, str) else tuple(Attachment.from_json(a) for a in draft["attachments"])

    def put(self, conversation_id: int | None, text: str, attachments: Sequence[Attachment] = ()) -> None:
        """Keep `text` and `attachments` as the conversation's draft (nothing but whitespace: no
        draft); saved at once."""
        key = draft_key(conversation_id)
        if text.strip() or attachments:
            draft = {"text": text, "attachments": [a.to_json() for a in attachments]} if attachments else text
            if self._texts.get(key) == draft:
                return
            self._texts[key] = draft
        elif self._texts.pop(key, None) is None:
            return
        self._write()

    def forget(self, conversation_id: int) -> None:
        """The conversation was deleted: its draft goes with it."""
        self.put(conversation_id, "")

    def _read(self) -> dict[str, str]:
        if self.path is None or not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except (OSError, ValueError) as e:
            log.warning("drafts file %s unreadable (%s); set aside", self.path, e)
            try:
                self.path.replace(self.path.with_name(self.path.name + ".unreadable"))
            except OSError:
                pass
            return {}
        return {str(k): v for k, v in data.items() if isinstance(v, str) or _draft_with_files(v)}

    def _write(self) -> None:
        if self.path is None:
            return
        temporary = self.path.with_name(self.path.name + ".tmp")
        try:
            temporary.write_text(json.dumps(self._texts, ensure_ascii=False), encoding="utf-8")
            temporary.replace(self.path)
        except (OSError, ValueError) as e:  # a full disk (or text no file can hold) loses the draft on disk, not in the box
            log.warning("could not save drafts to %s: %s", self.path, e)


def _draft_with_files(value: object) -> bool:
    """Whether a drafts file's value is a text with attachments that can be read back."""
    if not isinstance(value, dict) or not isinstance(value.get("text"), str) or not isinstance(value.get("attachments"), list):
        return False
    try:
        for a in value["attachments"]:
            Attachment.from_json(a)
    except ValueError:
        return False
    return True
