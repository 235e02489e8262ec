"""The text a widget or a view's row actually draws, as its painter is asked to draw it: a paint
device whose engine records each piece of text (a line, a run of one format) and draws nothing.

What a user reads is exactly this text: a title cut with "…", a status message elided, a line a
label clipped, show up here as the shortened text Qt drew, not as the text the widget holds."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QModelIndex
from PySide6.QtGui import QPaintDevice, QPaintEngine, QPainter
from PySide6.QtWidgets import QAbstractItemView, QStyleOptionViewItem, QWidget


@dataclass(frozen=True)
class Piece:
    """A piece of text drawn: its text, where it starts and ends across the device, and its top and
    bottom down it, in px."""

    text: str
    left: float
    right: float
    top: float = 0.0  # the line's ascent and descent about its baseline, down the device, in px
    bottom: float = 0.0


class _Recorder(QPaintEngine):
    """A paint engine that keeps each text item drawn (as a Piece) and ignores everything else."""

    def __init__(self):
        super().__init__(QPaintEngine.PaintEngineFeature.AllFeatures)
        self.pieces: list[Piece] = []

    @property
    def texts(self) -> list[str]:
        return [piece.text for piece in self.pieces]

    def begin(self, _device) -> bool:
        return True

    def end(self) -> bool:
        return True

    def updateState(self, _state) -> None:  # noqa: N802 (Qt's name)
        pass

    def drawPixmap(self, *_args) -> None:  # noqa: N802 (Qt's name)
        pass

    def drawPolygon(self, *_args) -> None:  # noqa: N802 (Qt's name)
        pass

    def drawPath(self, *_args) -> None:  # noqa: N802 (Qt's name)
        pass

    def drawRects(self, *_args) -> None:  # noqa: N802 (Qt's name)
        pass

    def drawTextItem(self, point, item) -> None:  # noqa: N802 (Qt's name)
        start = self.painter().deviceTransform().map(point)
        self.pieces.append(Piece(item.text(), start.x(), start.x() + item.width(), start.y() - item.ascent(),
                                 start.y() + item.descent()))

    def type(self) -> QPaintEngine.Type:
        return QPaintEngine.Type.User


class _TextDevice(QPaintDevice):
    """A paint device `width` x `height` px at 96 dpi that draws into a _Recorder."""

    def __init__(self, width: int, height: int):
        super().__init__()
        self.engine = _Recorder()
        self._size = (max(width, 1), max(height, 1))

    def paintEngine(self) -> QPaintEngine:  # noqa: N802 (Qt's name)
        return self.engine

    def metric(self, metric) -> int:
        m = QPaintDevice.PaintDeviceMetric
        values = {m.PdmWidth: self._size[0], m.PdmHeight: self._size[1], m.PdmWidthMM: self._size[0] * 254 // 960,
                  m.PdmHeightMM: self._size[1] * 254 // 960, m.PdmDpiX: 96, m.PdmDpiY: 96, m.PdmPhysicalDpiX: 96,
                  m.PdmPhysicalDpiY: 96, m.PdmDepth: 32, m.PdmNumColors: 0xFFFFFF, m.PdmDevicePixelRatio: 1,
                  m.PdmDevicePixelRatioScaled: int(QPaintDevice.devicePixelRatioFScale())}  # fmt: skip
        return values.get(metric, 0)


def row_drawn(view: QAbstractItemView, index: QModelIndex) -> list[str]:
    """The pieces of text `view`'s delegate draws for the row at `index`, in its place and size in
    the view now (each wrapped line is a piece; a cut line ends in "…")."""
    option = QStyleOptionViewItem()
    view.initViewItemOption(option)
    option.rect = view.visualRect(index)
    device = _TextDevice(option.rect.right() + 1, option.rect.bottom() + 1)
    painter = QPainter(device)
    view.itemDelegateForIndex(index).paint(painter, option, index)
    painter.end()
    return device.engine.texts


def widget_drawn(widget: QWidget) -> list[Piece]:
    """The pieces of text `widget` (and its children) draw at its size now, placed across `widget`
    (a piece reaching past its right edge is cut there on screen)."""
    device = _TextDevice(widget.width(), widget.height())
    widget.render(device)
    return device.engine.pieces
