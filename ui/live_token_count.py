"""The message box's live token count: how many tokens the text being typed is, for the loaded model.

The count comes from the model's own tokenizer in the worker thread (`ChatController.count_tokens`),
asked a moment after the typing pauses; only the newest answer is shown, in red with how much fits
when the message cannot fit the context window. It counts the message as the
model will read it (the typed text and the attached files, `app.attachments.message_content`): the
chat template adds its few markers around it (the Inspector's Tokenization view shows them).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer

from app.attachments import message_content
from app.controller import ChatController
from ui.composer import Composer

PAUSE_MS = 250  # typing pause before counting


class LiveTokenCount(QObject):
    def __init__(self, composer: Composer, controller: ChatController, parent: QObject | None = None,
                 room: Callable[[], int] | None = None):
        """room: about how many tokens a message can be now (the count says plainly when it is more)."""
        super().__init__(parent or composer)
        self.composer, self.controller, self._room = composer, controller, room
        self._ticket: int | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(PAUSE_MS)
        self._timer.timeout.connect(self._ask)
        composer.box.textChanged.connect(self._timer.start)
        composer.attachments_changed.connect(self._timer.start)
        controller.token_count.connect(self._on_count)
        controller.model_loaded.connect(lambda _info: self._timer.start())

    def _ask(self) -> None:
        text = message_content(self.composer.box.toPlainText(), self.composer.attachments)
        if not text:
            self._ticket = None
            self.composer.show_token_count(None)
            return
        self._ticket = self.controller.count_tokens(text)

    def _on_count(self, ticket: int, count: int) -> None:
        if ticket == self._ticket:
            known = (self.controller.model_info or {}).get("context_length")
            room = self._room() if self._room is not None and known else None
            self.composer.show_token_count(count if count >= 0 else None, room)
