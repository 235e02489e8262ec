"""Where the user writes: a message box (Enter sends, Shift+Enter adds a line) and Send/Stop."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QSize, Qt, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QSizePolicy

MAX_VISIBLE_LINES = 8


class MessageBox(QPlainTextEdit):
    """Plain-text input that grows with its content up to a few lines."""

    submitted = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("messageBox")
        self.setAccessibleName("Message")
        self.setPlaceholderText("Message Glassbox…  (Shift+Enter: new line)")
        self.setTabChangesFocus(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().contentsChanged.connect(self._fit_height)
        self._fit_height()

    def keyPressEvent(self, event) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not (event.modifiers() & Qt.KeyboardModifier.ShiftModifier):
            self.submitted.emit()
            return
        super().keyPressEvent(event)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._fit_height()  # the stylesheet's font and padding apply only once polished

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._fit_height()

    def _fit_height(self) -> None:
        wanted = int(self.document().size().height())
        lines = max(1, min(MAX_VISIBLE_LINES, wanted))
        policy = Qt.ScrollBarPolicy.ScrollBarAsNeeded if wanted > MAX_VISIBLE_LINES else Qt.ScrollBarPolicy.ScrollBarAlwaysOff
        self.setVerticalScrollBarPolicy(policy)
        line_height = self.fontMetrics().lineSpacing()
        margins = self.contentsMargins().top() + self.contentsMargins().bottom()
        doc_margin = int(self.document().documentMargin() * 2)
        self.setFixedHeight(lines * line_height + margins + doc_margin + 8)

    def sizeHint(self) -> QSize:
        return QSize(400, self.height())


class Composer(QFrame):
    """The message box and one button that reads Send, or Stop while a reply streams."""

    send_requested = Signal(str)
    stop_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("composer")
        self.box = MessageBox()
        self.button = QPushButton("Send")
        self.button.setObjectName("sendButton")
        self.button.setAccessibleName("Send or stop")
        self.button.setMinimumWidth(84)
        self.button.setCursor(Qt.CursorShape.PointingHandCursor)
        self._busy = False
        layout = QHBoxLayout(self)
        layout.setContentsMargins(16, 10, 16, 14)
        layout.setSpacing(10)
        layout.addWidget(self.box, 1)
        self.token_count = QLabel("")  # the message's length in the model's tokens, while typing
        self.token_count.setObjectName("metaLabel")
        self.token_count.setToolTip("Tokens this message costs the model (counted by its own tokenizer)")
        layout.addWidget(self.token_count, 0, Qt.AlignmentFlag.AlignBottom)
        layout.addWidget(self.button, 0, Qt.AlignmentFlag.AlignBottom)
        self.box.submitted.connect(self._submit)
        self.button.clicked.connect(self._on_button)
        self.box.textChanged.connect(self._update_button)
        self._update_button()

    def set_busy(self, busy: bool) -> None:
        """While busy the button stops the reply and Enter does not send."""
        self._busy = busy
        self.button.setText("Stop" if busy else "Send")
        self.button.setToolTip("Stop the reply (Esc)" if busy else "Send (Enter)")
        self.button.setProperty("busy", busy)
        self.button.style().unpolish(self.button)
        self.button.style().polish(self.button)
        self._update_button()

    def _update_button(self) -> None:
        self.button.setEnabled(self._busy or bool(self.box.toPlainText().strip()))

    def _on_button(self) -> None:
        if self._busy:
            self.stop_requested.emit()
        else:
            self._submit()

    def _submit(self) -> None:
        text = self.box.toPlainText()
        if self._busy or not text.strip():
            return
        self.send_requested.emit(text)
