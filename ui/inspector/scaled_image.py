"""An image drawn to the width it is given (heat maps, embedding strips): it never asks for more
room than the Inspector has, and it is painted from one QImage, never rebuilt per paint."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRect, QSize
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget


class ScaledImage(QWidget):
    """Shows a QImage stretched to the widget's width. `height` fixes the drawn height in pixels
    (a strip, a row per head); `square=True` draws it as a square as wide as the widget, at most
    `max_side` pixels. The widget's minimum width is small (`min_width`): it fits a narrow dock."""

    def __init__(self, height: int = 0, square: bool = False, max_side: int = 300, min_width: int = 120, parent=None):
        super().__init__(parent)
        self._image: QImage | None = None
        self._height, self._square, self._max_side = height, square, max_side
        self.setMinimumWidth(min_width)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        policy.setHeightForWidth(square)
        self.setSizePolicy(policy)
        if not square:
            self.setFixedHeight(max(height, 1))

    def set_image(self, image: QImage | None, height: int | None = None) -> None:
        """Show `image` (None clears); `height` changes the drawn height (a strip's rows)."""
        self._image = image
        if height is not None and not self._square and height != self._height:
            self._height = height
            self.setFixedHeight(max(height, 1))
        self.update()

    def clear(self) -> None:
        self.set_image(None)

    def image(self) -> QImage | None:
        return self._image

    def side(self, width: int) -> int:
        return min(width, self._max_side)

    def hasHeightForWidth(self) -> bool:
        return self._square

    def heightForWidth(self, width: int) -> int:
        return self.side(width) if self._square else self._height

    def sizeHint(self) -> QSize:
        if self._square:
            return QSize(self._max_side, self._max_side)
        return QSize(max(self.minimumWidth(), 400), self._height)

    def target(self) -> QRect:
        """Where the image is drawn, in the widget's coordinates."""
        if self._square:
            side = self.side(self.width())
            return QRect((self.width() - side) // 2, 0, side, min(side, self.height()))
        return QRect(0, 0, self.width(), self.height())

    def paintEvent(self, event) -> None:
        if self._image is None or self._image.isNull():
            return
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)  # cells stay sharp
        p.drawImage(self.target(), self._image)
        p.end()


def rgb_image(rgb: np.ndarray) -> QImage:
    """(H, W, 3) uint8 numpy -> a QImage that owns its pixels."""
    h, w, _ = rgb.shape
    bgra = np.empty((h, w, 4), dtype=np.uint8)
    bgra[..., 0], bgra[..., 1], bgra[..., 2], bgra[..., 3] = rgb[..., 2], rgb[..., 1], rgb[..., 0], 255
    return QImage(bgra.tobytes(), w, h, 4 * w, QImage.Format.Format_RGB32).copy()

