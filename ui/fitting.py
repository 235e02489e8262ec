"""Labels that give up room in a narrow window: each has forms from full to short, shown as the
room allows, and its tooltip always starts with the full text when a shorter one is shown.

`fit(labels, steps, room, spacing)` picks the forms: all full, then one step at a time (a label to
its next shorter form, a label elided to what is left, or a label left out) until the row fits. A
form may be empty: the label is then hidden, and `hidden_texts` lists what was left out, so the row
can say so.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import QEvent, QRect, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy

from ui.text_format import plain_tooltip

ELIDE = "elide"  # a step that elides a label's last form to the room left
DROP = "drop"  # a step that leaves a label out (no room even for its shortest form)
MIN_ELIDED_PX = 90  # text narrower than this says too little when elided: shorten others, or hide it
PROBE_TEXT = "x"  # what an empty label is measured with (`label_padding`)
WIDTHS_KEPT = 64  # measured texts a label remembers (its forms change with every streamed token)


def label_padding(label: QLabel) -> int:
    """Pixels of a one-line plain-text label's width that are not its text (the style sheet's
    padding shows in its size hint, not in its contents margins): the size hint less the text's
    bounding rectangle, as QLabel measures it, so the same whatever text it shows (less its
    advance moved by a pixel with the text, and a fit then depended on what was shown before).
    An empty label is measured with a probe text, then emptied again."""
    label.ensurePolished()  # the style sheet's font and padding first
    text = label.text()
    if not text:
        QLabel.setText(label, PROBE_TEXT)
    box = label.fontMetrics().boundingRect(QRect(0, 0, 1 << 16, 1 << 12), 0, label.text())
    padding = max(0, QLabel.sizeHint(label).width() - box.width())
    if not text:
        QLabel.setText(label, "")
    return padding


class FittedLabel(QLabel):
    """A plain-text label with shorter forms of its text for when room is short; its tooltip is
    plain text too (`tooltip_text()` is what it says).

    `set_forms(["prompt 2,173 tok (2,146 cached · 27 computed)", "prompt 2,173 tok"], tip)`: the
    first form is the full text. The label never asks for more width than the form it shows, so a
    long text never pushes the window wider.

    Widths are measured once per text and font: `fit` asks for them dozens of times per row, and the
    status bar fits its row on every streamed token batch. A font or style change (zoom, theme)
    forgets them.
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)  # a model's name is whatever its file says
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self._forms: list[str] = [""]
        self._tip = ""
        self.level = 0  # index into the forms
        self.elided_px: int | None = None  # width the last form is elided to (None: not elided)
        self._advances: dict[str, int] = {}  # text -> its horizontal advance in the label's font
        self._pad: int | None = None  # `_padding()` in this font and style (None: to measure)
        self._tip_shown: str | None = None  # the tooltip's text as last set (before `plain_tooltip`)

    def set_forms(self, forms: Sequence[str], tip: str | None = None) -> None:
        """The texts from full to shortest (a shorter form may be "": hidden); `tip` the tooltip."""
        self._forms = list(forms) or [""]
        if tip is not None:
            self._tip = tip
        self.show_level(min(self.level, len(self._forms) - 1), None)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt's name) — one form
        self.set_forms([text])

    def full_text(self) -> str:
        return self._forms[0]

    def tooltip_text(self) -> str:
        """The tooltip as the reader sees it: the full text first when a shorter form shows."""
        full = self._forms[0]
        return (f"{full}\n\n{self._tip}" if self.text() != full and full else self._tip).strip()

    @property
    def forms(self) -> list[str]:
        return list(self._forms)

    def form_width(self, level: int) -> int:
        """Pixels the label needs to show form `level` (0 when that form is empty)."""
        text = self._forms[level]
        return self._advance(text) + self._padding() if text else 0

    def _advance(self, text: str) -> int:
        self.ensurePolished()  # the style sheet's font first (polishing later would change it unseen)
        advance = self._advances.get(text)
        if advance is None:
            if len(self._advances) >= WIDTHS_KEPT:
                self._advances.clear()
            advance = self._advances[text] = self.fontMetrics().horizontalAdvance(text)
        return advance

    def narrowest_width(self) -> int:
        """The fewest pixels it shows anything in: its shortest form, cut with "…" to MIN_ELIDED_PX
        at most (0 when that form is empty)."""
        last = self.form_width(len(self._forms) - 1)
        return min(last, MIN_ELIDED_PX + self._padding()) if last else 0

    def _padding(self) -> int:
        """Pixels of its width that are not text (margins, the style sheet's padding, and 2 to
        spare): one number per font and style, whatever text it shows (`label_padding`)."""
        if self._pad is None:
            margins = self.contentsMargins()
            self._pad = max(margins.left() + margins.right() + 2 * self.margin(), label_padding(self)) + 2
        return self._pad

    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange, QEvent.Type.ContentsRectChange):
            self._advances.clear()  # zoomed, restyled: every width is measured again
            self._pad = None
        super().changeEvent(event)

    def show_level(self, level: int, elided_px: int | None, shown: bool = True) -> None:
        """Show form `level`, elided to `elided_px` wide when given. `shown=False`: the label is
        not shown or hidden yet (`fit` tries forms, then shows each label once)."""
        self.level, self.elided_px = level, elided_px
        text = self._forms[level]
        if elided_px is not None and text:
            text = self.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, max(1, elided_px - self._padding()))
        super().setText(text)
        if shown:
            self.setVisible(bool(text))
        full = self._forms[0]
        tip = f"{full}\n\n{self._tip}" if text != full and full else self._tip
        if tip != self._tip_shown:  # (`fit` shows each label's full form again for every token batch)
            self._tip_shown = tip
            self.setToolTip(plain_tooltip(tip.strip()))  # a model's name or path is shown as written

    def drop(self, shown: bool = True) -> None:
        """No room even for the shortest form: hidden (listed by `hidden_texts`), never cut mid-word
        (`shown=False`: not hidden yet, as in `show_level`)."""
        super().setText("")
        if shown:
            self.setVisible(False)

    def shown_width(self) -> int:
        if not self.text():
            return 0
        return self.elided_px if self.elided_px is not None else self.form_width(self.level)

    def hidden_text(self) -> str:
        """The full text when it has no room at all (hidden), else ""."""
        return self._forms[0] if self._forms[0] and not self.text() else ""

    def minimumSizeHint(self):  # noqa: N802 (Qt's name)
        hint = super().minimumSizeHint()
        hint.setWidth(0)  # never holds the window wide: `fit` chooses a form that fits instead
        return hint


def fit(labels: Sequence[FittedLabel], steps: Sequence[tuple[FittedLabel, int | str]], room: int, spacing: int) -> None:
    """Show every label's full form, then take `steps` in order until the row fits in `room` px
    (a label is never left wider than the room it gets: Qt would cut its text mid-word).

    A step is (label, level): that label shows its form `level`; (label, ELIDE): it shows its
    current form elided to the room the others leave (at least MIN_ELIDED_PX); or (label, DROP):
    it is left out whole (listed by `hidden_texts`). `spacing`: px between shown labels.

    Each label is shown or hidden once, at the end, as its final text says: showing every label
    to hide most of them again (a narrow row) costs a layout each, and this runs for every token
    batch of a streaming reply.
    """
    widths: dict[FittedLabel, int | None] = {}  # each label's width, None when it shows nothing
    touched = list(labels)

    def measure(label: FittedLabel) -> None:
        widths[label] = label.shown_width() if label.text() else None

    def needed() -> int:
        shown = [width for width in widths.values() if width is not None]
        return sum(shown) + spacing * max(0, len(shown) - 1)

    try:
        for label in labels:
            label.show_level(0, None, shown=False)
            measure(label)
        for label, step in steps:
            if needed() <= room:
                return
            touched.append(label)
            if step == DROP:
                label.drop(shown=False)
            elif step == ELIDE:
                others = needed() - label.shown_width() - (spacing if label.text() else 0)
                left = room - others - spacing
                if label.text() and left - label._padding() >= MIN_ELIDED_PX:
                    label.show_level(label.level, min(left, label.form_width(label.level)), shown=False)
            elif step < len(label.forms):
                label.show_level(step, label.elided_px, shown=False)
            if label in widths:
                measure(label)  # only the label a step changed has a new width
    finally:
        for label in touched:
            label.setVisible(bool(label.text()))


def hidden_texts(labels: Sequence[FittedLabel]) -> list[str]:
    return [text for label in labels if (text := label.hidden_text())]
