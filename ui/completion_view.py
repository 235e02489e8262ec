"""The completion view's switch and its one-sentence explanation.

A base (pre-trained) model only continues text: in the completion view the user's text goes to it
verbatim, with no chat template, and the reply is its continuation (app/reply_request.py). A new
conversation takes the loaded model's kind (base: completion view; instruction-tuned: chat); View →
Completion View switches the open conversation either way, and the conversation keeps its choice
(a conversation already written keeps the view it was written in, whatever model is loaded). The
banner says why, as plain text: for a base model, why it is not yet an assistant, in either view;
the empty conversation says what to write in it."""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QLabel, QWidget

from ui.composer import CHAT_PLACEHOLDERS, COMPLETION_PLACEHOLDERS

BASE_MODEL_TEXT = (
    "{model} is a base model: it was trained only to continue text, not yet to follow instructions or "
    "chat, so here it continues what you write instead of answering it. (Decided from the file: {reason}.)"
)
BASE_IN_CHAT_TEXT = (
    "{model} is a base model: it was never taught to answer, so in this chat it mostly echoes or rambles. "
    "View → Completion View lets it continue your text instead (this conversation only)."
)
FALLBACK_TEMPLATE_TEXT = (  # a chat whose template is not the file's own: which one wraps the messages
    "Chat template: {template}. Your messages are wrapped in it before {model} reads them (as llama.cpp does)."
)
SWITCHED_TEXT = (
    "Completion view: your text goes to {model} exactly as written, with no chat template, and the model "
    "continues it."
)


def fallback_template(info: dict) -> str | None:
    """The chat template the engine gave a model whose file has none (ModelInfo.chat_template, e.g.
    "Gemma (the family's standard; the file has none)"); None when the file's own is used."""
    template = info.get("chat_template")
    return template if template and template != "the file's own" else None


def template_line(info: dict) -> str:
    """One line for the model's tooltip: which chat template wraps a conversation's messages."""
    return f"chat template: {info.get('chat_template') or 'none (plain text; the completion view)'}"


class CompletionView(QObject):
    """`banner` (a label above the conversation) and `action` (checkable, for the View menu)."""

    def __init__(self, controller, parent: QWidget, box=None, transcript=None):
        """box: the message box, whose empty text says what it takes (a text to continue);
        transcript: the conversation, whose empty state says what to write (`set_completion`)."""
        super().__init__(parent)
        self._controller, self._box, self._transcript = controller, box, transcript
        self.banner = QLabel()
        self.banner.setObjectName("completionBanner")
        self.banner.setTextFormat(Qt.TextFormat.PlainText)  # a model's name is text, never markup
        self.banner.setWordWrap(True)
        self.banner.setContentsMargins(16, 8, 16, 8)
        self.banner.hide()
        self.action = QAction("Completion &View (No Chat Template)", parent)
        self.action.setCheckable(True)
        self.action.setToolTip("Continue your text as written instead of chatting (this conversation only)")
        self.action.toggled.connect(self._toggled)
        for signal in (controller.conversation_opened, controller.model_loaded):
            signal.connect(lambda *_: self.update())
        controller.conversation_reset.connect(self.update)
        self.update()

    def update(self) -> None:
        """Show the open conversation's mode (after a switch, an opened conversation, a new model)."""
        on = self._controller.completion_mode
        self.action.blockSignals(True)
        self.action.setChecked(on)
        self.action.blockSignals(False)
        info = self._controller.model_info or {}
        model = str(info.get("display_name") or info.get("name") or "The model")
        if on and info.get("base_model"):
            text = BASE_MODEL_TEXT.format(model=model, reason=info.get("base_model_reason") or "no chat template")
        elif on:
            text = SWITCHED_TEXT.format(model=model)
        elif info.get("base_model"):  # chatting with a base model: exactly when the user needs to know
            text = BASE_IN_CHAT_TEXT.format(model=model)
        else:
            text = ""
        if not on and (fallback := fallback_template(info)):
            text = " ".join(filter(None, [text, FALLBACK_TEMPLATE_TEXT.format(template=fallback, model=model)]))
        self.banner.setText(text)
        self.banner.setVisible(bool(text))
        if self._box is not None:
            self._box.set_placeholder_forms(COMPLETION_PLACEHOLDERS if on else CHAT_PLACEHOLDERS)
        if self._transcript is not None:
            self._transcript.set_completion(on)

    def _toggled(self, on: bool) -> None:
        self._controller.set_completion_mode(on)
        self.update()
