"""The next-token panel: for one generation step, the model's distribution beside the one the
sampler drew from after the decoding settings, as labelled bars with the chosen token highlighted."""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase, QPainter, QPen
from PySide6.QtWidgets import QFrame, QGridLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

from engine.events import TokenEvent
from ui.text_format import percent, percent_html, visible_piece
from ui.theme import tint_color

ROW_HEIGHT = 22


class DistributionBars(QWidget):
    """Ranked candidates as rows: a bar as wide as the probability, the piece and a percentage."""

    row_clicked = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.rows: list[tuple[int, str, float]] = []  # (id, piece, logprob) best first
        self.chosen: int | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)

    def set_rows(self, rows: list, chosen: int | None, k: int) -> None:
        self.rows = [(int(i), str(p), float(lp)) for i, p, lp in rows[:k]]
        self.chosen = chosen
        self.setFixedHeight(max(1, len(self.rows)) * ROW_HEIGHT)
        self.update()

    def mousePressEvent(self, event) -> None:
        row = int(event.position().y() // ROW_HEIGHT)
        if 0 <= row < len(self.rows):
            self.row_clicked.emit(row)

    def chosen_row(self) -> int | None:
        """Which row holds the chosen token (None if it is not among them)."""
        return next((r for r, (i, _p, _lp) in enumerate(self.rows) if i == self.chosen), None)

    def sizeHint(self) -> QSize:
        return QSize(180, max(1, len(self.rows)) * ROW_HEIGHT)

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        pal = self.palette()
        accent = pal.color(pal.ColorRole.Highlight)
        text_color = pal.color(pal.ColorRole.Text)
        width = self.width()
        for r, (token_id, piece, logprob) in enumerate(self.rows):
            top = r * ROW_HEIGHT
            row = QRectF(0, top + 2, width, ROW_HEIGHT - 4)
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
            bar = QColor(accent)
            bar.setAlpha(200 if chosen else 70)
            painter.setBrush(bar)
            p = math.exp(logprob) if logprob > -1e30 else 0.0
            painter.drawRoundedRect(QRectF(row.left(), row.top(), max(2.0, row.width() * p), row.height()), 3, 3)
            font = QFont(self._mono)
            font.setBold(chosen)
            painter.setFont(font)
            painter.setPen(pal.color(pal.ColorRole.HighlightedText) if chosen and p > 0.5 else text_color)
            label = painter.fontMetrics().elidedText(visible_piece(piece), Qt.TextElideMode.ElideRight, int(width - 60))
            painter.drawText(row.adjusted(6, 0, -52, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, label)
            font = QFont(self.font())
            font.setBold(chosen)
            painter.setFont(font)
            painter.setPen(text_color)
            painter.drawText(row.adjusted(0, 0, -6, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, percent(logprob))
        painter.end()


class TintLegend(QWidget):
    """What the reply's background colours mean: swatches from confident to unlikely."""

    STOPS = [(0.9, "≥80%"), (0.6, "60%"), (0.35, "35%"), (0.15, "15%"), (0.03, "3%")]

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFixedHeight(40)
        self.setToolTip("Each reply token is tinted by the probability the model gave it")

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        pal = self.palette()
        painter.setPen(pal.color(pal.ColorRole.PlaceholderText))
        painter.drawText(QRectF(0, 0, self.width(), 16), Qt.AlignmentFlag.AlignLeft, "Token tint: probability")
        width = self.width() / len(self.STOPS)
        for i, (p, label) in enumerate(self.STOPS):
            cell = QRectF(i * width + 1, 18, width - 2, 20)
            color = tint_color(math.log(p))
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(color if color is not None else pal.color(pal.ColorRole.Base))
            painter.drawRoundedRect(cell, 3, 3)
            painter.setPen(pal.color(pal.ColorRole.Text))
            painter.drawText(cell, Qt.AlignmentFlag.AlignCenter, label)
        painter.end()


class ProbabilityPanel(QFrame):
    """Shows one step: the chosen token, its id, probability and entropy, and both distributions."""

    inspect_requested = Signal()  # "Inspect this step" (the Inspector opens on it)
    continue_requested = Signal(int)  # "Continue with this token": the alternative's id

    def __init__(self, top_k: int, parent=None):
        super().__init__(parent)
        self.setObjectName("probabilityPanel")
        self.setAccessibleName("Next-token probabilities")
        self.top_k = top_k
        self.record: TokenEvent | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(14, 14, 14, 14)
        layout.setSpacing(8)

        self.title = QLabel("Next token")
        self.title.setObjectName("panelTitle")
        self.subtitle = QLabel("")
        self.subtitle.setObjectName("panelSubtitle")
        self.piece_label = QLabel("")
        self.piece_label.setObjectName("pieceLabel")
        self.piece_label.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.piece_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details = QLabel("")
        self.details.setObjectName("panelDetails")
        self.details.setWordWrap(True)
        self.placeholder = QLabel(
            "Click a word of a reply to see what the model considered at that step. "
            "While a reply streams, this panel follows the newest token."
        )
        self.placeholder.setObjectName("panelPlaceholder")
        self.placeholder.setWordWrap(True)
        for w in (self.title, self.subtitle, self.piece_label, self.details, self.placeholder):
            layout.addWidget(w)

        self.columns = QWidget()
        grid = QGridLayout(self.columns)
        grid.setContentsMargins(0, 6, 0, 0)
        grid.setHorizontalSpacing(12)
        grid.setVerticalSpacing(4)
        self.raw_heading = QLabel("Model")
        self.raw_heading.setToolTip("The model's own next-token distribution (softmax of its logits)")
        self.final_heading = QLabel("After settings")
        self.final_heading.setToolTip(
            "What the sampler drew from: after penalties, temperature, top-k, top-p and min-p"
        )
        for heading in (self.raw_heading, self.final_heading):
            heading.setObjectName("columnHeading")
        self.raw_bars = DistributionBars()
        self.final_bars = DistributionBars()
        self.final_note = QLabel("")
        self.final_note.setObjectName("panelNote")
        self.final_note.setWordWrap(True)
        grid.addWidget(self.raw_heading, 0, 0)
        grid.addWidget(self.final_heading, 0, 1)
        grid.addWidget(self.raw_bars, 1, 0, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.final_bars, 1, 1, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(self.final_note, 2, 0, 1, 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        layout.addWidget(self.columns)
        self.continue_button = QPushButton("")
        self.continue_button.setToolTip("Write a new version of the reply from this step with that token instead")
        self.continue_button.hide()
        self.continue_button.clicked.connect(lambda: self.continue_requested.emit(self._alternative))
        self._alternative = -1
        self.raw_bars.row_clicked.connect(self._offer_alternative)
        layout.addWidget(self.continue_button)
        self.inspect_button = QPushButton("Inspect this step…")
        self.inspect_button.setToolTip("Open the Inspector: every step from your text to this token")
        self.inspect_button.clicked.connect(self.inspect_requested)
        layout.addWidget(self.inspect_button)
        layout.addStretch(1)
        self.legend = TintLegend()
        layout.addWidget(self.legend)
        self.clear()

    def clear(self) -> None:
        self.record = None
        self.subtitle.setText("")
        self.piece_label.setText("")
        self.details.setText("")
        self.placeholder.show()
        self.columns.hide()
        self.piece_label.hide()
        self.details.hide()

    def set_top_k(self, k: int) -> None:
        self.top_k = k
        if self.record is not None:
            self.show_step(self.record, self.subtitle.text())

    def _offer_alternative(self, row: int) -> None:
        """Clicking another candidate offers "Continue with this token" (Branch from an alternative)."""
        token, piece, _lp = self.raw_bars.rows[row]
        if self.record is None or token == self.record.token:
            self.continue_button.hide()
            return
        self._alternative = token
        self.continue_button.setText(f"Continue with “{visible_piece(piece)}”")
        self.continue_button.show()

    def show_step(self, record: TokenEvent, subtitle: str) -> None:
        """Show one generated token."""
        self.record = record
        self.placeholder.hide()
        self.columns.show()
        self.piece_label.show()
        self.details.show()
        self.subtitle.setText(subtitle)
        self.piece_label.setText(visible_piece(record.piece))
        self.details.setText(
            f"token id {record.token}<br/>"
            f"model: <b>{percent_html(record.logprob)}</b> · after settings: "
            f"<b>{percent_html(record.sampled_logprob)}</b><br/>"
            f"entropy {record.entropy:.2f} nats"
        )
        self.raw_bars.set_rows(record.top_raw, record.token, self.top_k)
        self.continue_button.hide()
        self.final_bars.set_rows(record.top_final, record.token, self.top_k)
        kept = len(record.top_final)
        self.final_note.setText(
            f"Only {kept} token{'s' if kept != 1 else ''} left after the settings' filters."
            if kept < self.top_k
            else ""
        )
