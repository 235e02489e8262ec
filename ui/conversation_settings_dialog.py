"""This conversation's own system prompt and stop strings (Conversation → System Prompt & Stop
Strings…). Each can follow Preferences (the default) or be set for this conversation alone; saved
presets fill the system prompt. Like Preferences, the dialog says before saving when the change
makes the next reply re-read the conversation, and stop strings are typed with escapes and checked.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QVBoxLayout,
)

from app import stop_strings
from app.settings import ConversationSettings, Settings
from ui.preferences import STOP_HINT, FieldMessage, reread_text


class ConversationSettingsDialog(QDialog):
    def __init__(self, settings: Settings, own: ConversationSettings, parent=None,
                 conversation_tokens: int | None = None, title: str = "", has_messages: bool = True):
        super().__init__(parent)
        self._settings, self._own, self._tokens = settings, own, conversation_tokens
        self._has_messages = has_messages  # an empty chat has nothing to re-read
        self.setWindowTitle("Conversation settings")
        self.setMinimumWidth(560)
        heading = QLabel(f"For “{title}” only" if title else "For this new conversation only")
        heading.setTextFormat(Qt.TextFormat.PlainText)
        heading.setObjectName("roleLabel")

        self.own_prompt = QCheckBox("Use its own system prompt (otherwise the one in Preferences)")
        self.presets = QComboBox()
        self.presets.addItem("Fill from a saved preset…", None)
        for name, text in settings.app.system_prompt_presets:
            self.presets.addItem(name, text)
        self.presets.setEnabled(bool(settings.app.system_prompt_presets))
        self.presets.activated.connect(self._use_preset)
        self.prompt = QPlainTextEdit()
        self.prompt.setAccessibleName("This conversation's system prompt")
        self.prompt.setPlaceholderText("No system prompt")

        self.own_stops = QCheckBox("Use its own stop strings (otherwise those in Preferences)")
        self.stops = QPlainTextEdit()
        self.stops.setTabChangesFocus(True)  # Tab moves on (a tab in a stop string is written \t)
        self.stops.setAccessibleName("This conversation's stop strings")
        self.stops.setFixedHeight(4 * self.stops.fontMetrics().lineSpacing() + 12)
        self.stops.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.stops_message = FieldMessage(STOP_HINT)

        self.note = QLabel()
        self.note.setObjectName("dialogNote")
        self.note.setWordWrap(True)
        self.note.setTextFormat(Qt.TextFormat.PlainText)
        self.note.setMinimumHeight(2 * self.note.fontMetrics().lineSpacing())
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        self.save_button = self.buttons.button(QDialogButtonBox.StandardButton.Save)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addWidget(self.own_prompt)
        layout.addWidget(self.presets)
        layout.addWidget(self.prompt, 1)
        layout.addWidget(self.own_stops)
        layout.addWidget(self.stops)
        layout.addWidget(self.stops_message)
        layout.addWidget(self.note)
        layout.addWidget(self.buttons)

        self.own_prompt.setChecked(own.system_prompt is not None)
        self.prompt.setPlainText(own.system_prompt if own.system_prompt is not None else settings.app.system_prompt)
        self.own_stops.setChecked(own.stop_strings is not None)
        self.stops.setPlainText(stop_strings.show_all(
            own.stop_strings if own.stop_strings is not None else settings.app.stop_strings))
        for signal in (self.own_prompt.toggled, self.own_stops.toggled, self.prompt.textChanged, self.stops.textChanged):
            signal.connect(self.validate)
        self.validate()

    def _use_preset(self, index: int) -> None:
        text = self.presets.itemData(index)
        if text is not None:
            self.own_prompt.setChecked(True)
            self.prompt.setPlainText(text)

    def own_settings(self) -> ConversationSettings | None:
        """What the conversation will set for itself, or None while the stop strings have a problem."""
        strings = None
        if self.own_stops.isChecked():
            try:
                strings = stop_strings.read_all(self.stops.toPlainText())
            except stop_strings.StopStringError:
                return None
        return ConversationSettings(self.prompt.toPlainText() if self.own_prompt.isChecked() else None, strings)

    def validate(self) -> bool:
        self.prompt.setEnabled(self.own_prompt.isChecked())
        self.stops.setEnabled(self.own_stops.isChecked())
        problem = None
        if self.own_stops.isChecked():
            try:
                stop_strings.read_all(self.stops.toPlainText())
            except stop_strings.StopStringError as e:
                problem = str(e)
        self.stops_message.show_problem(problem)
        self.save_button.setEnabled(problem is None)
        self.note.setText(self.reread_warning())
        return problem is None

    def reread_warning(self) -> str:
        own = self.own_settings()
        if own is None or not self._has_messages:
            return ""
        before = self._own.applied_to(self._settings).app.system_prompt
        after = own.applied_to(self._settings).app.system_prompt
        return reread_text(["the system prompt"] if before != after else [], self._tokens)

    def accept(self) -> None:
        if self.validate():
            super().accept()
