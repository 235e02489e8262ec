"""View → Let the Model Think: the per-conversation switch a reasoning model's chat template reads
(`enable_thinking`, Qwen 3's). Offered only when the loaded model's template reads it (detected from
the template's source: engine.tokenizer.ChatTemplate.options); hidden otherwise."""

from __future__ import annotations

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QWidget


class ThinkingToggle(QObject):
    def __init__(self, controller, parent: QWidget):
        super().__init__(parent)
        self._controller = controller
        self.action = QAction("Let the Model &Think First", parent)
        self.action.setCheckable(True)
        self.action.setToolTip(
            "This model's chat template has a switch for thinking before it answers (enable_thinking).\n"
            "Off: the reply skips its <think> section. This conversation only; from the next reply on."
        )
        self.action.toggled.connect(controller.set_enable_thinking)
        for signal in (controller.conversation_opened, controller.model_loaded):
            signal.connect(lambda *_: self.update())
        controller.conversation_reset.connect(self.update)
        self.update()

    def update(self) -> None:
        self.action.setVisible(self._controller.thinking_switch)
        self.action.blockSignals(True)
        self.action.setChecked(self._controller.effective_settings.app.enable_thinking)
        self.action.blockSignals(False)
