"""Every tick box can be seen on both themes (trial 6, finding 13: on the dark theme the memories'
pin boxes were not drawn at all: Fusion outlines an item view's tick box a shade darker than the
window, which on the dark palette is the colour of the list behind it). Measured on the pixels the
window draws: the unticked box must stand out from the list by WCAG's 3:1 for controls, on each of
its four edges (verify 6: the pin box was 2 px taller than its row and drawn as "[ ]", its top and
bottom edges cut off), at every text size."""

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


def edges(box: QRect) -> dict[str, QRect]:
    """The four edges of a tick box drawn in `box`, each a line 1 px thick along the box's outer
    pixels, less the rounded corners."""
    inset = 4
    return {
        "top": QRect(box.left() + inset, box.top(), box.width() - 2 * inset, 1),
        "bottom": QRect(box.left() + inset, box.bottom(), box.width() - 2 * inset, 1),
        "left": QRect(box.left(), box.top() + inset, 1, box.height() - 2 * inset),
        "right": QRect(box.right(), box.top() + inset, 1, box.height() - 2 * inset),
    }


@pytest.mark.parametrize("theme", ["dark", "light"])
@pytest.mark.parametrize("text_size", [0, -2, +2], ids=["actual size", "smaller", "larger"])
def test_the_memories_pin_boxes_can_be_seen(qtbot, launch, theme, text_size):
    app = launch(FakeBackend())
    app.controller.remember_fact("My name is Ana and I live in Porto")
    app.controller.remember_fact("I ride a bicycle to work")
    window = app.window
    choose_theme(window, theme)
    for _ in range(abs(text_size)):  # View → Zoom In / Zoom Out
        (window.zoom_in_action if text_size > 0 else window.zoom_out_action).trigger()
    QTest.keyClick(window.composer.box, Qt.Key.Key_M,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)  # Edit → Memories…
    dialog = window.actions.memory_dialog
    qtbot.waitUntil(dialog.isVisible)
    items = dialog.list
    items.setCurrentItem(None)
    items.clearSelection()  # a highlighted row would stand out by itself
    base = items.palette().color(QPalette.ColorRole.Base)
    for row in range(items.count()):
        item = items.item(row)
        assert item.checkState() == Qt.CheckState.Unchecked  # unpinned: only the box's outline shows it
        option = QStyleOptionViewItem()
        items.initViewItemOption(option)
        option.rect = items.visualItemRect(item)
        option.features |= QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
        option.text = item.text()
        box = items.style().subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, option, items)
        assert box.width() > 4 and box.left() < items.visualItemRect(item).left() + 30
        image = items.viewport().grab().toImage()
        image = image.copy(items.visualItemRect(item))  # what the row draws: a box reaching past it is cut
        box.translate(-items.visualItemRect(item).topLeft())
        for edge, line in edges(box).items():
            assert strongest_contrast(image, line, base) >= CONTROL_CONTRAST, f"{item.text()!r}: the box's {edge} edge"
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

