"""Every tick box can be seen on both themes (trial 6, finding 13: on the dark theme the memories'
pin boxes were not drawn at all: Fusion outlines an item view's tick box a shade darker than the
window, which on the dark palette is the colour of the list behind it). Measured on the pixels the
window draws: the unticked box must stand out from the list by WCAG's 3:1 for controls."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QCheckBox, QStyle, QStyleOptionButton, QStyleOptionViewItem

from tests.app.fakes import FakeBackend
from ui.theme import apply_look

CONTROL_CONTRAST = 3.0  # WCAG 2.1, 1.4.11 non-text contrast


@pytest.fixture(autouse=True)
def plain_look_after():
    """The QApplication outlives each test: leave it as the next test expects."""
    yield
    apply_look(QApplication.instance(), "system", 100)


def luminance(colour: QColor) -> float:
    def channel(value: int) -> float:
        v = value / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(colour.red()) + 0.7152 * channel(colour.green()) + 0.0722 * channel(colour.blue())


def contrast(a: QColor, b: QColor) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def strongest_contrast(image: QImage, rect: QRect, background: QColor) -> float:
    """The most any pixel in `rect` stands out from `background` (1.0: nothing drawn there)."""
    rect = rect.intersected(image.rect())
    return max((contrast(image.pixelColor(x, y), background)
                for x in range(rect.left(), rect.right() + 1) for y in range(rect.top(), rect.bottom() + 1)),
               default=1.0)  # fmt: skip


def choose_theme(window, theme: str) -> None:
    next(a for a in window.theme_actions.actions() if a.data() == theme).trigger()


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_the_memories_pin_boxes_can_be_seen(qtbot, launch, theme):
    app = launch(FakeBackend())
    app.controller.remember_fact("My name is Ana and I live in Porto")
    window = app.window
    choose_theme(window, theme)
    QTest.keyClick(window.composer.box, Qt.Key.Key_M,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)  # Edit → Memories…
    dialog = window.actions.memory_dialog
    qtbot.waitUntil(dialog.isVisible)
    items = dialog.list
    item = items.item(0)
    assert item.checkState() == Qt.CheckState.Unchecked  # unpinned: only the box's outline shows it
    items.setCurrentItem(None)
    items.clearSelection()  # a highlighted row would stand out by itself
    option = QStyleOptionViewItem()
    items.initViewItemOption(option)
    option.rect = items.visualItemRect(item)
    option.features |= QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
    option.text = item.text()
    box = items.style().subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, option, items)
    assert box.width() > 4 and box.left() < items.visualItemRect(item).left() + 30
    image = items.viewport().grab().toImage()
    base = items.palette().color(QPalette.ColorRole.Base)
    assert strongest_contrast(image, box.adjusted(-2, -2, 2, 2), base) >= CONTROL_CONTRAST
    dialog.close()


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_a_check_box_can_be_seen(qtbot, launch, theme):
    app = launch(FakeBackend())
    choose_theme(app.window, theme)
    box = QCheckBox("a tick box")
    qtbot.addWidget(box)
    box.show()
    qtbot.waitExposed(box)
    option = QStyleOptionButton()
    box.initStyleOption(option)
    rect = box.style().subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, option, box)
    window_colour = box.palette().color(QPalette.ColorRole.Window)
    assert strongest_contrast(box.grab().toImage(), rect, window_colour) >= CONTROL_CONTRAST

