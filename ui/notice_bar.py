"""A dismissable bar above the composer for one clear message, drawn by its level
(`app.notices.Level`): information neutral (blue), a warning amber, only an error red; each with
its sign (ℹ, ⚠, ✖) so the level reads without colour too.

A notice goes when it is no longer true: `follow` reports the window's moments (app/notices.py
`Moment`) and `end` hides the notice showing if that moment outlives it (`LASTS_UNTIL`)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton

from app.notices import About, Level, Moment, Notice
from ui.wrap_label import WrapLabel

SIGNS = {Level.INFO: "ℹ", Level.WARNING: "⚠", Level.ERROR: "✖"}
SPOKEN = {Level.INFO: "Information", Level.WARNING: "Warning", Level.ERROR: "Error"}


class NoticeBar(QFrame):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("noticeBar")
        self.level = Level.INFO
        self.notice: Notice | None = None  # the one showing (or last shown)
        self.sign = QLabel()
        self.sign.setObjectName("noticeSign")
        self.label = WrapLabel()  # plain text, long words broken: notices quote paths and errors as they are
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
        self.notice, self.level = notice, notice.level
        self.setProperty("level", notice.level.value)
        self.sign.setText(SIGNS[notice.level])
        self.setAccessibleName(SPOKEN[notice.level])
        self.label.setText(notice.text)
        self.style().unpolish(self)
        self.style().polish(self)
        self.show()

    def show_info(self, message: str, about: About = About.STANDING) -> None:
        self.show_notice(Notice.info(message, about))

    def show_warning(self, message: str, about: About = About.STANDING) -> None:
        self.show_notice(Notice.warning(message, about))

    def show_error(self, message: str, about: About = About.STANDING) -> None:
        self.show_notice(Notice.error(message, about))

    def end(self, moment: Moment) -> None:
        """`moment` happened: the notice showing goes if it is no longer true."""
        if self.isVisible() and self.notice is not None and self.notice.outlived_by(moment):
            self.hide()

    def follow(self, controller, box) -> None:
        """Report the window's moments: the model chosen in the settings changing or a model's
        terms being asked (`controller`), another conversation opening, `box` (the message box)
        becoming empty."""
        chosen = [controller.settings.app.model]

        def settings_changed(settings) -> None:
            if settings.app.model != chosen[0]:
                chosen[0] = settings.app.model
                self.end(Moment.MODEL_CHOSEN)

        controller.settings_changed.connect(settings_changed)
        controller.terms_needed.connect(lambda *_: self.end(Moment.MODEL_CHOSEN))
        controller.conversation_reset.connect(lambda: self.end(Moment.CONVERSATION_CHANGED))
        box.textChanged.connect(lambda: None if box.toPlainText().strip() else self.end(Moment.MESSAGE_EMPTIED))

    def text(self) -> str:
        return self.label.text() if self.isVisible() else ""
