"""The next-token panel: for one generation step, the model's distribution beside the one the
sampler drew from after the decoding settings, as labelled bars with the chosen token highlighted.

It is written for someone who has never heard of a logit: every label has a tooltip in plain
words, a space reads ␣ and a line break ↵, the end-of-reply token reads "end of reply", and a token
that is only part of a character says so ("part of 'こ' (bytes E3 81)")."""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen, QRegion
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QLabel,
    QSizePolicy,
    QToolTip,
    QVBoxLayout,
    QWidget,
)

from engine.events import TokenEvent
from ui.fitted_button import FittedButton
from ui.fonts import fixed_font
from ui.panel_labels import FactName, PieceLabel
from ui.text_format import is_end_of_reply, percent, piece_bytes, plain_tooltip, visible_piece
from ui.theme import CONFIDENT, tint_color

ROW_HEIGHT = 22
PERCENT_WIDTH = 52  # px at the right of a row for its percentage
SHORT_PIECE_CHARS = 6  # a column narrower than a percentage and this many characters goes under the other

TIPS = {
    "piece": "The token the model wrote at this step, exactly as it is. Models write in tokens: whole "
             "words, pieces of words or single characters. ␣ is a space, ↵ a line break, ⇥ a tab.",
    "end": "The model's end-of-reply token ({piece}): writing it is how the model says it has finished.",
    "bytes": "Some characters (Japanese, Chinese, emoji…) take several tokens: each holds some of the "
             "character's bytes, and only together do they make the character.",
    "id": "The token's number in the model's vocabulary, the fixed list of every token it knows. "
          "It identifies the token; it says nothing about its meaning.",
    "model": "How likely the model itself found this token, before your settings changed anything.",
    "settings": "How likely this token was in the list the reply was actually drawn from, after your "
                "settings (temperature, top-k, top-p, min-p, penalties) reshaped the model's list. With "
                "temperature 0 the token at the top of this list is always taken: after the penalties it "
                "is not always the model's own first choice.",
    "entropy": "How unsure the model was at this step: 0 means it was sure of one token; the higher, the "
               "more its probability was spread over many. In nats: about 0.7 is like a coin toss between "
               "two tokens, 2.3 like a free choice among ten.",
    "raw": "The model's own ranking of what could come next, before your settings.",
    "final": "What the reply was drawn from: the model's ranking after penalties, temperature, top-k, "
             "top-p and min-p (Preferences → Sampling).",
    "bars": "Each row is a token that could have come next, with its probability. The outlined row is "
            "the one the reply took; a dashed row is the one you clicked. ␣ is a space, ↵ a line break, "
            "«end» the token that ends the reply.",
}


class DistributionBars(QWidget):
    """Ranked candidates as rows: a bar as wide as the probability, the piece and a percentage."""

    row_clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple[int, str, float]] = []  # (id, piece, logprob) best first
        self.chosen: int | None = None
        self.outside = False  # the last row is the chosen token, ranked below the rows above it
        self.offered: int | None = None  # the alternative clicked ("Continue with …"), marked
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.setToolTip(TIPS["bars"])  # the general words; each row's own tip comes from row_tip

    def row_height(self) -> int:
        """A row's height in px: ROW_HEIGHT at the normal text size, taller as the text is zoomed."""
        return max(ROW_HEIGHT, self.fontMetrics().height() + 8)

    def percent_width(self) -> int:
        return max(PERCENT_WIDTH, self.fontMetrics().horizontalAdvance("100.0%") + 12)

    def piece_room(self) -> int:
        """The px a row's token gets beside its percentage (a longer one is cut with "…"; the
        row's tooltip has it whole)."""
        return int(self.width() - self.percent_width() - 8)

    def least_width(self) -> int:
        """The narrowest this column is worth showing side by side with another: a percentage and
        a short token ("«end»", "␣the") beside it, at the text size in use."""
        piece_font = fixed_font(self.font())
        piece_font.setBold(True)
        return self.percent_width() + 8 + QFontMetrics(piece_font).horizontalAdvance("M" * SHORT_PIECE_CHARS)

    def set_rows(self, rows: list, chosen: int | None, k: int, taken: tuple | None = None) -> None:
        """`rows`: (id, piece, logprob) best first, the first `k` shown. `taken`: the chosen token's
        own (id, piece, logprob), shown as one more row after a dotted line when it ranks below
        the first `k`, so the token the reply took always has a row."""
        self.rows = [(int(i), str(p), float(lp)) for i, p, lp in rows[:k]]
        self.outside = (
            taken is not None and chosen is not None and all(i != chosen for i, _p, _lp in self.rows)
        )
        if self.outside:
            self.rows.append((int(taken[0]), str(taken[1]), float(taken[2])))
        self.chosen, self.offered = chosen, None
        self._fit()
        self.update()

    def _fit(self) -> None:
        self.setFixedHeight(max(1, len(self.rows)) * self.row_height())

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:  # zoomed: rows and tokens grow with the text
            self._fit()

    def mousePressEvent(self, event) -> None:
        row = int(event.position().y() // self.row_height())
        if 0 <= row < len(self.rows):
            self.row_clicked.emit(row)

    def set_offered(self, token: int | None) -> None:
        """Mark the row of the alternative the user clicked (None: no mark)."""
        self.offered = token
        self.update()

    def offered_row(self) -> int | None:
        return next((r for r, (i, _p, _lp) in enumerate(self.rows) if i == self.offered), None)

    def chosen_row(self) -> int | None:
        """Which row holds the chosen token (None if it is not among them)."""
        return next((r for r, (i, _p, _lp) in enumerate(self.rows) if i == self.chosen), None)

    def sizeHint(self) -> QSize:
        return QSize(180, max(1, len(self.rows)) * self.row_height())

    def row_tip(self, y: int) -> str:
        """The tooltip for the row at height `y`: its whole token (a row may be cut short) and what rows are."""
        row = y // self.row_height()
        if not 0 <= row < len(self.rows):
            return TIPS["bars"]
        token_id, piece, logprob = self.rows[row]
        taken = " — the one the reply took" if token_id == self.chosen else ""
        if self.outside and row == len(self.rows) - 1:
            taken += f", ranked below the {len(self.rows) - 1} shown above it"
        return f"{visible_piece(piece)}: {percent(logprob)}{taken}\n\n{TIPS['bars']}"

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            QToolTip.showText(event.globalPos(), plain_tooltip(self.row_tip(event.pos().y())), self)
            return True
        return super().event(event)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        accent = pal.color(pal.ColorRole.Highlight)
        text_color = pal.color(pal.ColorRole.Text)
        width, height, percent_width = self.width(), self.row_height(), self.percent_width()
        for r, (token_id, piece, logprob) in enumerate(self.rows):
            top = r * height
            row = QRectF(0, top + 2, width, height - 4)
            if self.outside and r == len(self.rows) - 1:  # a dotted line: the rows above are not contiguous with it
                painter.setPen(QPen(text_color, 1, Qt.PenStyle.DotLine))
                painter.drawLine(QPointF(0, top + 0.5), QPointF(width, top + 0.5))
                painter.setPen(Qt.PenStyle.NoPen)
            track = QColor(text_color)
            track.setAlpha(14)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(track)
            painter.drawRoundedRect(row, 3, 3)
            chosen = token_id == self.chosen
            if chosen:  # outline the chosen row so it stands out even with a tiny bar
                painter.setPen(QPen(accent, 1.5))
                painter.setBrush(Qt.BrushStyle.NoBrush)
                painter.drawRoundedRect(row.adjusted(0.75, 0.75, -0.75, -0.75), 3, 3)
                painter.setPen(Qt.PenStyle.NoPen)
            offered = token_id == self.offered
            if offered:  # the clicked alternative: a dashed outline and a light fill
                mark = QColor(accent)
                mark.setAlpha(40)
                painter.setBrush(mark)
                painter.setPen(QPen(accent, 1.5, Qt.PenStyle.DashLine))
                painter.drawRoundedRect(row.adjusted(0.75, 0.75, -0.75, -0.75), 3, 3)
                painter.setPen(Qt.PenStyle.NoPen)
            bar = QColor(accent)
            bar.setAlpha(200 if chosen else 70)
            painter.setBrush(bar)
            p = math.exp(logprob) if logprob > -1e30 else 0.0
            # the bar stops short of the percentage, which always sits on the plain track
            filled = QRectF(row.left(), row.top(), max(2.0, (row.width() - percent_width) * p), row.height())
            painter.drawRoundedRect(filled, 3, 3)
            piece_font = fixed_font(self.font())  # the token at the size of the numbers beside it
            piece_font.setBold(chosen or offered)
            number_font = QFont(self.font())
            number_font.setBold(chosen or offered)
            label = QFontMetrics(piece_font).elidedText(
                visible_piece(piece, compact=True), Qt.TextElideMode.ElideRight, self.piece_room()
            )
            # The chosen row's bar is dark: the piece is drawn in the highlighted-text colour where
            # the bar lies under it (clipped), in the text colour elsewhere, so it reads either way.
            painter.setFont(number_font)
            painter.setPen(text_color)
            right = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight
            painter.drawText(row.adjusted(0, 0, -6, 0), right, percent(logprob))
            painter.setFont(piece_font)
            left = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
            on_bar = QRegion(filled.toAlignedRect()) if chosen else QRegion()
            for clip, color in ((QRegion(self.rect()).subtracted(on_bar), text_color),
                                (on_bar, pal.color(pal.ColorRole.HighlightedText))):  # fmt: skip
                painter.save()
                painter.setClipRegion(clip)
                painter.setPen(color)
                painter.drawText(row.adjusted(6, 0, -percent_width, 0), left, label)
                painter.restore()
        painter.end()


class TintLegend(QWidget):
    """What the reply's background colours mean: swatches from confident to unlikely while the
    probability tint is on; with it off, only a line saying so (no key for colours not on screen)."""

    STOPS = [(0.9, f"≥{CONFIDENT:.0%}"), (0.6, "60%"), (0.35, "35%"), (0.15, "15%"), (0.03, "3%")]
    ON_TIP = (
        "Each token of a reply is tinted by the probability the model gave it: none at "
        f"{CONFIDENT:.0%} or more, warmer the less likely it was."
    )
    OFF_CAPTION = "Token tint: off"
    OFF_TIP = "Replies are not tinted by probability now. View → Probability Tint (Ctrl+T) turns it on."

    def __init__(self, on: bool = True, parent=None):
        super().__init__(parent)
        self.on = not on
        self.set_on(on)

    @property
    def caption(self) -> str:
        """The line above the swatches (the only line when the tint is off)."""
        return "Token tint: probability" if self.on else self.OFF_CAPTION

    def set_on(self, on: bool) -> None:
        """Follow the tint setting: the swatches show only while replies are tinted."""
        if on == self.on:
            return
        self.on = on
        self._fit()
        self.setToolTip(self.ON_TIP if on else self.OFF_TIP)
        self.update()

    def caption_height(self) -> int:
        """The caption's height, wrapped to the legend's width (a narrow panel, a large text size)."""
        width = max(1, self.width())
        return self.fontMetrics().boundingRect(0, 0, width, 100000, int(Qt.TextFlag.TextWordWrap), self.caption).height()

    def _fit(self) -> None:
        """Room for the caption (and the swatches while on) at the text's size (it follows the
        zoom), the caption wrapped to the width; swatches too narrow for their labels go on as
        many rows as they need."""
        line, caption = self.fontMetrics().height(), self.caption_height()
        rows = math.ceil(len(self.STOPS) / self.per_row())
        self.setFixedHeight(max(40, caption + 2 + rows * (line + 8)) if self.on else max(18, caption + 2))

    def per_row(self) -> int:
        """How many swatches share a row: all five unless their labels would be cut."""
        widest = max(self.fontMetrics().horizontalAdvance(label) for _p, label in self.STOPS) + 8
        return max(1, min(len(self.STOPS), self.width() // widest))

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._fit()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        pal = self.palette()
        painter.setPen(pal.color(pal.ColorRole.PlaceholderText))
        line, caption = self.fontMetrics().height(), self.caption_height()
        painter.drawText(QRectF(0, 0, self.width(), caption), Qt.AlignmentFlag.AlignLeft | Qt.TextFlag.TextWordWrap,
                         self.caption)  # fmt: skip
        if not self.on:
            painter.end()
            return
        per_row = self.per_row()
        width, height = self.width() / per_row, line + 8
        for i, (p, label) in enumerate(self.STOPS):
            row, column = divmod(i, per_row)
            cell = QRectF(column * width + 1, caption + 2 + row * height, width - 2, height - 2)
            color = tint_color(math.log(p))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(color if color is not None else pal.color(pal.ColorRole.Base))
            painter.drawRoundedRect(cell, 3, 3)
            painter.setPen(pal.color(pal.ColorRole.Text))
            painter.drawText(cell, Qt.AlignmentFlag.AlignCenter, label)
        painter.end()


def plain_label(text: str = "", name: str = "", tip: str = "") -> QLabel:
    """A label that shows its text as written (a QLabel would read "<b>" in a token as markup)."""
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    if name:
        label.setObjectName(name)
    if tip:
        label.setToolTip(tip)
    return label


class ProbabilityPanel(QFrame):
    """Shows one step: the chosen token, its id, probability and entropy, and both distributions.

    The subtitle says which step: the newest while a reply streams ("Live"), the last once it has
    finished, or the one the user clicked.
    """

    inspect_requested = Signal()  # "Inspect this step" (the Inspector opens on it)
    continue_requested = Signal(int)  # "Continue with this token": the alternative's id

    def __init__(self, top_k: int, parent=None, tint: bool = True):
        """`tint`: whether replies are tinted by probability (the legend's swatches show only then)."""
        super().__init__(parent)
        self.setObjectName("probabilityPanel")
        self.setAccessibleName("Next-token probabilities")
        self.top_k = top_k
        self.record: dict | None = None
        self.live = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 14, 14, 14)
        layout.setSpacing(8)

        self.title = plain_label("Next token", "panelTitle")
        self.title.setWordWrap(True)  # a large text size in a narrow panel: "Next" over "token"
        self.subtitle = plain_label("", "panelSubtitle")
        self.subtitle.setWordWrap(True)  # "Reply stopped at the token limit · its last token (69)" in a narrow panel
        self.piece_label = PieceLabel()
        self.details = QWidget()
        self.details.setObjectName("panelDetails")
        self.facts_stacked: bool | None = None  # each value under its name (a narrow panel, large text)
        facts = QGridLayout(self.details)
        facts.setContentsMargins(0, 0, 0, 0)
        facts.setHorizontalSpacing(10)
        facts.setVerticalSpacing(2)
        self.values: dict[str, QLabel] = {}
        self.names: dict[str, QLabel] = {}
        for key, name in (("model", "the model gave it"), ("settings", "after your settings"),
                          ("entropy", "uncertainty (entropy)"), ("id", "token id")):  # fmt: skip
            # a name wraps between its words in a narrow panel (a large text size); a value never does
            self.names[key] = FactName(name, TIPS[key])
            self.values[key] = plain_label("", "factValue", TIPS[key])
            self.values[key].setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Preferred)
        self._arrange_facts(False)
        self.placeholder = plain_label(
            "Click a word of a reply to see what the model considered at that step. "
            "While a reply streams, this panel follows the newest token.",
            "panelPlaceholder",
        )
        self.placeholder.setWordWrap(True)
        for w in (self.title, self.subtitle, self.piece_label, self.details, self.placeholder):
            layout.addWidget(w)

        self.columns = QWidget()
        grid = QGridLayout(self.columns)
        grid.setContentsMargins(0, 6, 0, 0)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(4)
        self.raw_heading = plain_label("Model", "columnHeading", TIPS["raw"])
        self.final_heading = plain_label("After settings", "columnHeading", TIPS["final"])
        self.raw_bars = DistributionBars()
        self.final_bars = DistributionBars()
        self.final_note = plain_label("", "panelNote")
        self.final_note.setWordWrap(True)
        self.stacked: bool | None = None  # the two lists one under the other (a narrow panel, large text)
        self._arrange_columns(False)
        layout.addWidget(self.columns)
        # a long token at a large text size: cut with "…", whole in the tooltip
        self.continue_button = FittedButton([""], "Write a new version of the reply from this step with that token instead")
        self.continue_button.hide()
        self.continue_button.clicked.connect(lambda: self.continue_requested.emit(self._alternative))
        self._alternative = -1
        self.offers_alternatives = True  # False where there is no reply to continue (an API request)
        self.raw_bars.row_clicked.connect(lambda row: self._offer_alternative(self.raw_bars.rows[row][:2]))
        self.final_bars.row_clicked.connect(lambda row: self._offer_alternative(self.final_bars.rows[row][:2]))
        layout.addWidget(self.continue_button)
        self.inspect_button = FittedButton(["Inspect this step…", "Inspect…"],
                                           "Open the Inspector: every step from your text to this token")
        self.inspect_button.clicked.connect(self.inspect_requested)
        layout.addWidget(self.inspect_button)
        layout.addStretch(1)
        self.legend = TintLegend(tint)
        layout.addWidget(self.legend)
        self.clear()

    def _arrange_columns(self, stacked: bool) -> None:
        """The model's list beside the settings' one, or (`stacked`) above it, each as wide as the panel."""
        if stacked == self.stacked:
            return
        self.stacked = stacked
        grid = self.columns.layout()
        widgets = (self.raw_heading, self.raw_bars, self.final_heading, self.final_bars, self.final_note)
        for widget in widgets:
            grid.removeWidget(widget)
        top = Qt.AlignmentFlag.AlignTop
        if stacked:
            for row, widget in enumerate(widgets):
                grid.addWidget(widget, row, 0, top if isinstance(widget, DistributionBars) else Qt.AlignmentFlag(0))
            grid.setColumnStretch(1, 0)
        else:
            grid.addWidget(self.raw_heading, 0, 0)
            grid.addWidget(self.final_heading, 0, 1)
            grid.addWidget(self.raw_bars, 1, 0, top)
            grid.addWidget(self.final_bars, 1, 1, top)
            grid.addWidget(self.final_note, 2, 0, 1, 2)
            grid.setColumnStretch(1, 1)
        grid.setColumnStretch(0, 1)

    WIDEST_VALUE = "10.00 nats"  # the widest a fact's value usually is

    def _arrange_facts(self, stacked: bool) -> None:
        """Each fact's name beside its value, or (`stacked`) its value on the line under it."""
        if stacked == self.facts_stacked:
            return
        self.facts_stacked = stacked
        grid = self.details.layout()
        for key in self.names:
            grid.removeWidget(self.names[key])
            grid.removeWidget(self.values[key])
        for row, key in enumerate(self.names):
            if stacked:
                grid.addWidget(self.names[key], 2 * row, 0)
                grid.addWidget(self.values[key], 2 * row + 1, 0)
            else:
                grid.addWidget(self.names[key], row, 0)
                grid.addWidget(self.values[key], row, 1)
        grid.setColumnStretch(0, 1 if stacked else 0)
        grid.setColumnStretch(1, 0 if stacked else 1)

    def _fit_facts(self, room: int) -> None:
        """Names beside values while the longest word of a name and the widest value fit side by side."""
        words = max(name.minimumSizeHint().width() for name in self.names.values())
        values = max(label.fontMetrics().horizontalAdvance(text) + 4 for label in self.values.values()
                     for text in (label.text(), self.WIDEST_VALUE))  # fmt: skip
        self._arrange_facts(words + self.details.layout().horizontalSpacing() + values > room)

    def _fit_columns(self) -> None:
        """Side by side while each list gets room for a percentage and a short token at the text
        size in use (and its heading whole), else one under the other."""
        margins = self.layout().contentsMargins()
        room = self.width() - margins.left() - margins.right()
        self._fit_facts(room)
        need = max(self.raw_bars.least_width(), self.raw_heading.sizeHint().width(),
                   self.final_heading.sizeHint().width())
        self._arrange_columns(2 * need + self.columns.layout().horizontalSpacing() > room)

    def resizeEvent(self, event) -> None:
        self._fit_columns()
        super().resizeEvent(event)

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:  # zoomed: what fits side by side changes
            self._fit_columns()

    def set_tint(self, on: bool) -> None:
        """The probability tint was turned on or off (View → Probability Tint): the legend follows."""
        self.legend.set_on(on)

    def clear(self) -> None:
        self.record = None
        self.live = False
        self.subtitle.setText("")
        self.piece_label.set_piece("", "")
        for value in self.values.values():
            value.setText("")
        self.placeholder.show()
        self.inspect_button.setEnabled(False)  # no step to inspect
        self.continue_button.hide()
        self.columns.hide()
        self.piece_label.hide()
        self.details.hide()

    def set_top_k(self, k: int) -> None:
        self.top_k = k
        if self.record is not None:
            self.show_step(self.record, self.subtitle.text())

    def show_live(self, record: dict) -> None:
        """The newest token of a reply that is still being written."""
        self.live = True
        self.show_step(record, f"Live · token {record.index + 1}")

    def end_live(self, ending: str = "") -> None:
        """The reply has ended: the step shown is its last, no longer live. `ending` says how, as
        the reply's own header does ("stopped", "stopped at the token limit"; "" = it finished)."""
        if self.live and self.record is not None:
            self.live = False
            self.show_step(self.record, f"Reply {ending or 'finished'} · its last token ({self.record.index + 1})")

    def show_selected(self, record: dict, index: int) -> None:
        """A token the user clicked (index: its place in its reply, from 0)."""
        self.live = False
        self.show_step(record, f"Selected · token {index + 1} of this reply")

    def details_text(self) -> str:
        """The facts as one plain string ("token id 1001 · the model gave it 61% · …"), for reading aloud."""
        return " · ".join(f"{key} {value.text()}" for key, value in self.values.items())

    def _offer_alternative(self, candidate: tuple[int, str]) -> None:
        """Clicking another candidate (in either column) marks its row and offers "Continue with
        this token" (Branch from an alternative)."""
        token, piece = candidate
        if not self.offers_alternatives or self.record is None or token == self.record.token:
            self.continue_button.hide()
            for bars in (self.raw_bars, self.final_bars):
                bars.set_offered(None)
            return
        self._alternative = token
        for bars in (self.raw_bars, self.final_bars):
            bars.set_offered(token)
        self.continue_button.set_forms([f"Continue with “{visible_piece(piece)}”"])
        self.continue_button.show()

    def show_step(self, record: TokenEvent, subtitle: str) -> None:
        """Show one token record (see app.conversation.TokenRecord)."""
        self.record = record
        self.inspect_button.setEnabled(True)
        self.placeholder.hide()
        self.columns.show()
        self.piece_label.show()
        self.details.show()
        self.subtitle.setText(subtitle)
        piece = record.piece
        tip = TIPS["piece"]
        if is_end_of_reply(piece):
            tip = TIPS["end"].format(piece=piece)
        elif piece_bytes(piece) is not None:
            tip = f"{TIPS['piece']}\n\n{TIPS['bytes']}"
        self.piece_label.set_piece(visible_piece(piece, record.text), tip)
        self.values["model"].setText(percent(record.logprob))
        self.values["settings"].setText(percent(record.sampled_logprob))
        self.values["entropy"].setText(f"{record.entropy:.2f} nats")
        self.values["id"].setText(str(record.token))
        self.raw_bars.set_rows(record.top_raw, record.token, self.top_k, (record.token, piece, record.logprob))
        self.continue_button.hide()
        self.final_bars.set_rows(
            record.top_final, record.token, self.top_k, (record.token, piece, record.sampled_logprob)
        )
        kept = len(record.top_final)
        self.final_note.setText(
            f"Only {kept} token{'s' if kept != 1 else ''} left after the settings' filters."
            if kept < self.top_k
            else ""
        )
