"""A number setting as a slider and a spin box that move together (the sampling playground's)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QSlider, QWidget


class SliderSpin(QWidget):
    """lo..hi in steps of `step`; `decimals` 0 gives whole numbers. `special` names the lowest value
    (e.g. "off", "random") in the spin box."""

    valueChanged = Signal(float)

    def __init__(self, lo: float, hi: float, step: float, decimals: int = 2, special: str = "", parent=None):
        super().__init__(parent)
        self._lo, self._step = lo, step
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, round((hi - lo) / step))
        self.spin = QDoubleSpinBox()
        self.spin.setRange(lo, hi)
        self.spin.setSingleStep(step)
        self.spin.setDecimals(decimals)
        if special:
            self.spin.setSpecialValueText(special)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.slider, 1)
        layout.addWidget(self.spin)
        self.slider.valueChanged.connect(lambda n: self.spin.setValue(self._lo + n * self._step))
        self.spin.valueChanged.connect(self._from_spin)
        self._from_spin(self.spin.value())  # a value the spin box starts with moves no signal
        self._fit()

    SLIDER_CHARS = 8  # the slider's least width, in average characters of the text size

    def _fit(self) -> None:
        """A slider long enough to drag at any text size: where its row has no room for it beside
        its name, the sampling form puts the control under the name instead of squeezing it."""
        self.slider.setMinimumWidth(self.SLIDER_CHARS * self.fontMetrics().averageCharWidth())

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._fit()

    def _from_spin(self, value: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round((value - self._lo) / self._step))
        self.slider.blockSignals(False)
        self.valueChanged.emit(value)

    def value(self) -> float:
        return self.spin.value()

    def setValue(self, value: float) -> None:
        self.spin.setValue(value)
