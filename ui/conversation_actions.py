"""What the window offers for conversations and memories beyond the chat itself: export to
Markdown or JSON, the Memories dialog, and the confirmation a "forget …" message needs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import NamedTuple

from PySide6.QtWidgets import QFileDialog, QWidget

from app.controller import ChatController
from ui.memory_dialog import MemoryDialog, confirm_forget

EXPORT_KINDS = {"markdown": ("Markdown (*.md)", ".md"), "json": ("JSON (*.json)", ".json")}


def export_file_name(title: str, kind: str) -> str:
    """A safe default file name from the conversation's title."""
    stem = re.sub(r"[^\w\- ]+", "", title).strip()[:60] or "conversation"
    return stem + EXPORT_KINDS[kind][1]


class ForgetOutcome(NamedTuple):
    """What a "forget …" message did: what to tell the user, and whether memories were deleted
    (only then is the message used up; otherwise it stays in the composer to be edited)."""

    said: str
    forgot: bool


class ConversationActions:
    def __init__(self, controller: ChatController, parent: QWidget):
        self._controller, self._parent = controller, parent
        self.memory_dialog: MemoryDialog | None = None
        self.folder: Path | None = None  # where the last export went or the last import came from

    def ask_export(self, kind: str) -> str | None:
        """Ask where to export the open conversation and write it there; the path, or None.
        OSError if it cannot be written. The dialog opens in the folder last exported to or
        imported from (`folder`; else home)."""
        if self._controller.conversation_id is None:
            return None
        title = self._controller.conversation_title()
        file_filter, suffix = EXPORT_KINDS[kind]
        start = str((self.folder or Path.home()) / export_file_name(title, kind))
        path, _ = QFileDialog.getSaveFileName(self._parent, "Export conversation", start, file_filter)
        if not path:
            return None
        if not path.endswith(suffix):
            path += suffix
        self.folder = Path(path).parent
        self._controller.export(path, kind)
        return path

    def open_memories(self) -> MemoryDialog:
        if self.memory_dialog is None:
            self.memory_dialog = MemoryDialog(self._controller.memories, self._parent)
        self.memory_dialog.show()
        self.memory_dialog.raise_()
        return self.memory_dialog

    def handle_forget(self, text: str) -> ForgetOutcome | None:
        """For a "forget …" message: confirm and delete what it matches. None if `text` is not one."""
        candidates = self._controller.forget_candidates(text)
        if candidates is None:
            return None
        if not candidates:
            return ForgetOutcome("No memory matches that, so nothing was forgotten.", forgot=False)
        if not confirm_forget(self._parent, candidates):
            return ForgetOutcome("Nothing was forgotten.", forgot=False)
        self._controller.forget([m.id for m in candidates])
        count = len(candidates)
        return ForgetOutcome(f"Forgot {count} {'memory' if count == 1 else 'memories'}.", forgot=True)
