"""The memory intents the views use: list, add, edit, pin and delete memories, and find what a
"forget …" message means. Views get this object, never the `MemoryStore` or the database under it
(the values they need, `Memory`, `NothingNamed` and `detect_intent`, are offered here too);
every change is announced by `changed`, and a memory just saved by `saved` (its text).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal

from app.memory import ForgetIntent, Memory, MemoryStore, NothingNamed, detect_intent
from app.store import Store, StoreError

__all__ = ["Memories", "Memory", "NothingNamed", "detect_intent"]  # what views need of app.memory


class Memories(QObject):
    changed = Signal()  # a memory was added, edited, pinned or deleted
    saved = Signal(str)  # a memory's text, just saved (from any source)

    def __init__(self, store: Store, parent: QObject | None = None):
        super().__init__(parent)
        self._memories = MemoryStore(store)

    def list(self) -> list[Memory]:
        """Every memory: pinned first, then newest first."""
        return self._memories.list()

    def get(self, memory_id: int) -> Memory | None:
        """The memory, or None if it is gone (deleted meanwhile)."""
        try:
            return self._memories.get(memory_id)
        except StoreError:
            return None

    def relevant(self, user_text: str) -> list[Memory]:
        """What a request for `user_text` carries: every pinned memory and the best matches."""
        return self._memories.relevant(user_text)

    def remember(self, text: str, source_message_id: int | None = None) -> Memory:
        """Save a fact (the same text again returns the memory already saved). StoreError if
        `text` is blank."""
        memory = self._memories.add(text, source_message_id=source_message_id)
        self.changed.emit()
        self.saved.emit(memory.text)
        return memory

    def update(self, memory_id: int, text: str | None = None, pinned: bool | None = None) -> None:
        """Change a memory's text (a blank text is not saved) and/or its pin; a memory that is
        gone is left alone."""
        try:
            if text is not None and text.strip():
                self._memories.edit(memory_id, text)
            if pinned is not None:
                self._memories.pin(memory_id, pinned)
        except StoreError:
            pass  # deleted meanwhile: nothing to change
        self.changed.emit()

    def forget(self, memory_ids: list[int]) -> None:
        """Delete these memories for good (the view has asked the user first)."""
        for memory_id in memory_ids:
            self._memories.delete(memory_id)
        self.changed.emit()

    def forget_candidates(self, text: str) -> list[Memory] | None:
        """For a "forget …" message, the memories it may mean (nothing is deleted); else None."""
        intent = detect_intent(text)
        if not isinstance(intent, ForgetIntent):
            return None
        return self._memories.forget_candidates(intent)
