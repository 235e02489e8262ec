"""Each code block of a reply scrolls sideways on its own, and so does a table too wide for the
view (its words are never broken); the prose around them keeps wrapping.

The reply stays one QTextDocument (so every token's position, tint, hover, click and a selection
across prose and code stay exact); only the view differs. A fenced block's lines are laid out
unwrapped (`ui.code_blocks`), and its *band* (the strip of the viewport from its header to its
bottom padding, full width) is drawn and hit-tested shifted left by that block's own offset, which a
slim scroll bar at the bottom of the band, a sideways wheel (or Shift+wheel) over it, or a selection
dragged past its edge sets.

The trick that keeps Qt's own painting, selection and hit-testing: a QTextEdit maps between viewport
and document through its horizontal scroll bar's value. `CodeScroll.shifted(offset)` sets that value
(signals blocked, so nothing scrolls) for one paint or mouse call, and puts 0 back after. The
widget's own horizontal scroll bar is never shown and rests at 0.

Coordinates: bands are in viewport pixels; offsets are document pixels (>= 0). Positions are Qt
positions (UTF-16 units).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PySide6.QtCore import QObject, QPoint, QRect, Qt
from PySide6.QtGui import QColor, QPainter, QTextTable
from PySide6.QtWidgets import QScrollBar, QTextEdit

from ui.code_blocks import HEADER_HEIGHT, PADDING, CodeBlock

WHEEL_STEP_PX = 40  # one notch of a sideways wheel


@dataclass(frozen=True)
class Span:
    """A part of the document that scrolls sideways: a code block, or a table ([start, end] positions)."""

    start: int
    end: int
    table: QTextTable | None = None  # None: a code block

    @classmethod
    def of_table(cls, table: QTextTable) -> Span:
        return cls(table.firstPosition(), table.lastPosition(), table)


@dataclass(frozen=True)
class Band:
    """One code block's strip: viewport rows [top, bottom) and how far its code can move left."""

    top: int
    bottom: int
    max_offset: int
    bar_top: int | None = None  # where its bar goes (None: at the bottom of the band)


class CodeScroll(QObject):
    """The per-block offsets, bands and scroll bars of one `QTextEdit` showing a reply."""

    def __init__(self, view: QTextEdit):
        super().__init__(view)
        self._view = view
        self.blocks: list[Span] = []  # the code blocks and tables, in document order
        self._wanted: list[int] = []  # each block's offset as last set (kept while a layout is mid-way)
        self.bands: list[Band] = []
        self.bars: list[QScrollBar] = []
        self._shifting = False
        self._typing = False  # inside a key press: Qt's own scroll follows the user's cursor
        self._bar = view.horizontalScrollBar()
        self._bar.valueChanged.connect(self._on_widget_scrolled)

    # -- state -----------------------------------------------------------------------------

    def set_blocks(self, blocks: list[CodeBlock], tables: list[QTextTable] = ()) -> None:
        """The document was rebuilt (a streamed reply grew): keep each span's offset by its index."""
        spans = [Span(b.start, b.end) for b in blocks] + [Span.of_table(t) for t in tables]
        blocks = sorted(spans, key=lambda span: span.start)
        self.blocks = blocks
        self._wanted = (self._wanted + [0] * len(blocks))[: len(blocks)]
        while len(self.bars) > len(blocks):
            self.bars.pop().deleteLater()
        while len(self.bars) < len(blocks):
            bar = QScrollBar(Qt.Orientation.Horizontal, self._view.viewport())
            bar.setObjectName("codeScrollBar")
            bar.setCursor(Qt.CursorShape.ArrowCursor)
            bar.setAccessibleName("Scroll the code block sideways")
            index = len(self.bars)
            bar.valueChanged.connect(lambda value, i=index: self.set_offset(i, value))
            self.bars.append(bar)
        self.relayout()

    def relayout(self) -> None:
        """Measure each block's band and widest line after a layout change; place the bars."""
        view = self._view
        doc = view.document()
        layout = doc.documentLayout()
        dy = view.verticalScrollBar().value()
        visible_right = view.viewport().width() - doc.documentMargin()
        self.bands = []
        for block in self.blocks:
            if block.table is not None:
                table = block.table
                rect = layout.frameBoundingRect(table)
                overflow = max(0, math.ceil(rect.right() - visible_right))
                last_row = [table.cellAt(table.rows() - 1, c).lastCursorPosition().block() for c in range(table.columns())]
                fmt = table.format()
                below = max(layout.blockBoundingRect(b).bottom() for b in last_row) + fmt.cellPadding() + 2 * fmt.border()
                bottom = min(rect.bottom(), below + fmt.bottomMargin())  # the bar goes in the table's bottom margin
                self.bands.append(Band(int(rect.top()) - dy, math.ceil(bottom) - dy, overflow, math.ceil(below) - dy))
                continue
            first, last = doc.findBlock(block.start), doc.findBlock(max(block.start, block.end - 1))
            top = layout.blockBoundingRect(first).top() - HEADER_HEIGHT
            bottom = layout.blockBoundingRect(last).bottom() + PADDING
            widest = 0.0
            line_block = first
            while line_block.isValid() and line_block.position() <= last.position():
                rect = layout.blockBoundingRect(line_block)
                text_layout = line_block.layout()
                for i in range(text_layout.lineCount()):
                    widest = max(widest, rect.left() + text_layout.lineAt(i).naturalTextWidth())
                line_block = line_block.next()
            overflow = max(0, math.ceil(widest + PADDING - visible_right))
            self.bands.append(Band(int(top) - dy, math.ceil(bottom) - dy, overflow))
        offsets = self.offsets
        for i, (band, bar) in enumerate(zip(self.bands, self.bars, strict=True)):
            bar.blockSignals(True)
            bar.setRange(0, band.max_offset)
            bar.setPageStep(max(1, int(visible_right)))
            bar.setSingleStep(WHEEL_STEP_PX // 2)
            bar.setValue(offsets[i])
            bar.blockSignals(False)
            height = bar.sizeHint().height()
            top = band.bottom - height - 1 if band.bar_top is None else band.bar_top
            bar.setGeometry(0, top, view.viewport().width(), height)
            bar.setVisible(band.max_offset > 0)

    @property
    def offsets(self) -> list[int]:
        """Each block's offset now: as set, within what its code has to show."""
        return [min(wanted, band.max_offset) for wanted, band in zip(self._wanted, self.bands, strict=False)]

    def set_offset(self, index: int, offset: int) -> None:
        """Move block `index`'s code `offset` px left (clamped to what it has to show)."""
        if not 0 <= index < len(self.bands):
            return
        offset = max(0, min(offset, self.bands[index].max_offset))
        if offset == self.offsets[index]:
            return
        self._wanted[index] = offset
        if self.bars[index].value() != offset:
            self.bars[index].setValue(offset)
        self._view.viewport().update(self.band_rect(index))

    # -- geometry --------------------------------------------------------------------------

    def band_rect(self, index: int) -> QRect:
        band = self.bands[index]
        return QRect(0, band.top, self._view.viewport().width(), band.bottom - band.top)

    def band_at(self, point: QPoint) -> int | None:
        """The code block whose band holds a viewport point, if any."""
        for i, band in enumerate(self.bands):
            if band.top <= point.y() < band.bottom:
                return i
        return None

    def block_of(self, position: int) -> int | None:
        """The code block or table holding a document position, if any."""
        for i, block in enumerate(self.blocks):
            if block.start <= position <= block.end:
                return i
        return None

    def offset_at(self, point: QPoint) -> int:
        index = self.band_at(point)
        return 0 if index is None else self.offsets[index]

    def offset_of(self, position: int) -> int:
        index = self.block_of(position)
        return 0 if index is None else self.offsets[index]

    # -- drawing and events ----------------------------------------------------------------

    @contextmanager
    def shifted(self, offset: int) -> Iterator[None]:
        """Qt's own painting and mouse handling, as if the whole document were scrolled by `offset`.

        Yields; afterwards the widget's bar is back at 0. A change Qt made meanwhile (a selection
        dragged past the edge scrolls) is returned through `self.moved_to`."""
        self._shifting = True
        self._bar.blockSignals(True)
        if offset > self._bar.maximum():  # Qt updates its range after a layout change, later
            self._bar.setMaximum(offset)
        self._bar.setValue(offset)
        self.moved_to = offset
        try:
            yield
        finally:
            self.moved_to = self._bar.value()
            self._bar.setValue(0)
            self._bar.blockSignals(False)
            self._shifting = False

    def paint(self, event_rect: QRect, paint_strip, shade: QColor) -> None:
        """Paint the viewport in horizontal strips: prose unshifted, each band shaded and shifted.

        `paint_strip(rect, offset)` paints the document clipped to `rect` with that offset."""
        width = self._view.viewport().width()
        painter = QPainter(self._view.viewport())
        for i, block in enumerate(self.blocks):
            if block.table is None:  # a code block's band is shaded; a table has its own borders
                painter.fillRect(self.band_rect(i).intersected(event_rect), shade)
        painter.end()
        y = event_rect.top()
        offsets = self.offsets
        for i, band in enumerate(self.bands):
            if band.bottom <= event_rect.top() or band.top > event_rect.bottom():
                continue
            if band.top > y:
                paint_strip(QRect(event_rect.left(), y, event_rect.width(), band.top - y), 0)
            strip = QRect(0, band.top, width, band.bottom - band.top).intersected(event_rect)
            if not strip.isEmpty():
                paint_strip(strip, offsets[i])
            y = max(y, band.bottom)
        if y <= event_rect.bottom():
            paint_strip(QRect(event_rect.left(), y, event_rect.width(), event_rect.bottom() + 1 - y), 0)

    def wheel(self, point: QPoint, dx: int, dy: int, shift: bool) -> bool:
        """A sideways wheel (or Shift+wheel) over a band scrolls that block; whether it did."""
        index = self.band_at(point)
        if index is None or self.bands[index].max_offset == 0:
            return False
        delta = dx if dx else (dy if shift else 0)
        if not delta:
            return False
        self.set_offset(index, self.offsets[index] - round(delta / 120 * WHEEL_STEP_PX))
        return True

    def reveal(self, position: int) -> None:
        """Scroll the block holding a document position so that position is in sight (keyboard)."""
        index = self.block_of(position)
        if index is None:
            return
        view = self._view
        cursor = view.textCursor()
        cursor.setPosition(position)
        x = QTextEdit.cursorRect(view, cursor).left()  # unshifted: the widget's bar rests at 0
        visible = view.viewport().width() - 2 * PADDING
        offset = self.offsets[index]
        if x - offset < PADDING:
            self.set_offset(index, x - PADDING)
        elif x - offset > visible:
            self.set_offset(index, x - visible)

    @contextmanager
    def typing(self) -> Iterator[None]:
        """A key press is being handled: a scroll Qt makes meanwhile follows the user's cursor."""
        self._typing = True
        try:
            yield
        finally:
            self._typing = False

    def _on_widget_scrolled(self, value: int) -> None:
        """Qt scrolled the whole widget. Put it back; a block moves only when the user's keyboard
        moved the cursor into a wide line. Qt also scrolls to the cursor on its own (a resize, a
        new document): that must never move a block, whose offset is the user's alone."""
        if self._shifting or value == 0:
            return
        self._bar.blockSignals(True)
        self._bar.setValue(0)
        self._bar.blockSignals(False)
        self._view.viewport().update()
        if self._typing:
            self.reveal(self._view.textCursor().position())
