"""A push button that never has its text cut at the edges: at a large text size (or in a narrow
pane) it shows the longest of its texts that fits its width, the shortest one cut with "…" when
none does, and its tooltip then starts with the whole text.

A QPushButton draws its text centred and lets the ends fall off both sides ("ew Conversati" at
270 %, verify 7); it also asks for its whole text's width as its minimum, which holds a pane wide."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QSize, Qt
from PySide6.QtWidgets import QPushButton, QStyle, QStyleOptionButton

from ui.text_format import plain_tooltip

MIN_ELIDED_CHARS = 3  # "Ne…": shorter than this a cut says nothing, but it is still not cut at the edge


class FittedButton(QPushButton):
    """`FittedButton(["New Conversation", "New"], "Start a new conversation (Ctrl+N)")`: the first
    text is the whole one; `tip` is the tooltip, which starts with the whole text whenever a
    shorter one shows."""

    def __init__(self, forms: Sequence[str], tip: str = "", parent=None):
        super().__init__(forms[0], parent)
        self._forms = list(forms)
        self._tip = tip
        self._choose()

    def full_text(self) -> str:
        return self._forms[0]

    def set_forms(self, forms: Sequence[str], tip: str | None = None) -> None:
        """New texts, whole first (a button that names what it does with a token); `tip` the tooltip."""
        self._forms = list(forms)
        if tip is not None:
            self._tip = tip
        self._choose()
        self.updateGeometry()

    def _needed(self, text: str) -> QSize:
        """The size the button needs to show `text` whole, as QPushButton.sizeHint measures it."""
        option = QStyleOptionButton()
        self.initStyleOption(option)
        option.text = text
        metrics = self.fontMetrics()
        contents = QSize(metrics.horizontalAdvance(text), metrics.height())
        return self.style().sizeFromContents(QStyle.ContentsType.CT_PushButton, option, contents, self)

    def _padding(self) -> int:
        """The button's width that is not text (frame, margins, the style sheet's padding)."""
        return self._needed("").width()

    def _choose(self) -> None:
        width = self.width()
        shown = next((form for form in self._forms if self.fontMetrics().horizontalAdvance(form) + self._padding()
                      <= width), None)  # fmt: skip
        if shown is None:
            room = max(1, width - self._padding())
            shown = self.fontMetrics().elidedText(self._forms[-1], Qt.TextElideMode.ElideRight, room)
        if shown != self.text():
            super().setText(shown)
        whole = self._forms[0]
        tip = f"{whole}\n\n{self._tip}" if shown != whole and self._tip else whole if shown != whole else self._tip
        self.setToolTip(plain_tooltip(tip))

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        hint = super().sizeHint()
        return QSize(max(hint.width(), self._needed(self._forms[0]).width()), hint.height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt's name)
        """As wide as its shortest text cut to a few characters: it never holds a pane wide."""
        hint = super().minimumSizeHint()
        least = self._needed(self._forms[-1][:MIN_ELIDED_CHARS] + "…").width()
        return QSize(min(least, self._needed(self._forms[-1]).width()), hint.height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._choose()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):  # zoom, theme: new widths
            self._choose()
            self.updateGeometry()
