"""A dismissable bar above the composer for one clear message, drawn by its level
(`app.notices.Level`): information neutral (blue), a warning amber, only an error red; each with
its sign (ℹ, ⚠, ✖) so the level reads without colour too."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton

from app.notices import Level, Notice

SIGNS = {Level.INFO: "ℹ", Level.WARNING: "⚠", Level.ERROR: "✖"}
SPOKEN = {Level.INFO: "Information", Level.WARNING: "Warning", Level.ERROR: "Error"}


class NoticeBar(QFrame):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("noticeBar")
        self.level = Level.INFO
        self.sign = QLabel()
        self.sign.setObjectName("noticeSign")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextFormat(Qt.TextFormat.PlainText)  # notices quote paths and errors as they are
        self.label.setObjectName("noticeText")
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 8, 8, 8)
        layout.addWidget(self.sign, 0, Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.hide()

    def show_notice(self, notice: Notice) -> None:
        """Show `notice`'s text, styled by its level (the bar's `level` property)."""
        self.level = notice.level
        self.setProperty("level", notice.level.value)
        self.sign.setText(SIGNS[notice.level])
        self.setAccessibleName(SPOKEN[notice.level])
        self.label.setText(notice.text)
        self.style().unpolish(self)
        self.style().polish(self)
        self.show()

    def show_info(self, message: str) -> None:
        self.show_notice(Notice.info(message))

    def show_warning(self, message: str) -> None:
        self.show_notice(Notice.warning(message))

    def show_error(self, message: str) -> None:
        self.show_notice(Notice.error(message))

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""
