"""Text a window shows cut: each visible label, button, tick box, drop-down and line edit is drawn
(as tests/ui/drawn_text.py records it) and every piece of its text must lie inside the part of the
widget a reader sees, or be cut with "…" by the widget itself with its whole text in the tooltip.

`cut_texts(window)` lists what a reader would see cut, as "ClassName 'text': how" strings; the
widgets inside a scrolled view (a reply in the transcript, the panel in its scroll pane) are
checked against their own rectangle, not the view's, since scrolling brings them into view."""

from __future__ import annotations

from PySide6.QtCore import QElapsedTimer, QPoint, QRect
from PySide6.QtGui import QPainter, QRegion
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QComboBox,
    QLabel,
    QLineEdit,
    QWidget,
)

from tests.ui.drawn_text import _TextDevice

TOLERANCE_PX = 1


def _drawn(widget: QWidget):
    device = _TextDevice(widget.width(), widget.height())
    painter = QPainter(device)
    widget.render(painter, QPoint(), QRegion(), QWidget.RenderFlag(0))  # the widget alone, not its children
    painter.end()
    return device.engine.pieces


def _shown_rect(widget: QWidget, root: QWidget) -> QRect:
    """The part of `widget` (in its own coordinates) that its ancestors up to `root` leave in view;
    a scroll area's viewport scrolls, so it does not count as cutting."""
    corner = widget.mapTo(root, QPoint(0, 0)) if widget is not root else QPoint(0, 0)
    rect = QRect(corner, widget.size())
    parent = widget.parentWidget() if widget is not root else None
    while parent is not None:
        area = parent.parentWidget()
        if isinstance(area, QAbstractScrollArea) and parent is area.viewport():
            break
        place = parent.mapTo(root, QPoint(0, 0)) if parent is not root else QPoint(0, 0)
        rect = rect.intersected(QRect(place, parent.size()))
        if parent is root:
            break
        parent = parent.parentWidget()
    return rect.translated(-corner)


def _text_of(widget: QWidget) -> str:
    if isinstance(widget, QLabel):
        return widget.text()
    if isinstance(widget, QAbstractButton):
        return widget.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
    if isinstance(widget, QComboBox):
        return widget.currentText()
    if isinstance(widget, QLineEdit):
        return widget.text() or widget.placeholderText()
    return ""


def cut_texts(root: QWidget) -> list[str]:
    """What `root` and the widgets in it show cut (see the module's docstring); [] when nothing."""
    found = []
    for widget in [root, *root.findChildren(QWidget)]:
        if isinstance(widget, QAbstractScrollArea) or isinstance(widget.parentWidget(), QAbstractScrollArea):
            continue  # a view scrolls what it draws (a reply's text, a table): its rows are not cut at its edge
        if not widget.isVisibleTo(root) or widget.width() <= 0 or widget.height() <= 0:
            continue
        pieces = _drawn(widget)
        shown = _shown_rect(widget, root)
        if not pieces:
            continue
        name = f"{type(widget).__name__} {(_text_of(widget) or pieces[0].text)[:60]!r}"
        for piece in pieces:
            if not piece.text.strip():
                continue
            if piece.left < shown.left() - TOLERANCE_PX or piece.right > shown.right() + 1 + TOLERANCE_PX:
                found.append(f"{name}: {piece.text!r} drawn at x {piece.left:.0f}-{piece.right:.0f}, "
                             f"seen {shown.left()}-{shown.right() + 1}")
                break
            if piece.top < shown.top() - TOLERANCE_PX or piece.bottom > shown.bottom() + 1 + TOLERANCE_PX:
                found.append(f"{name}: {piece.text!r} drawn at y {piece.top:.0f}-{piece.bottom:.0f}, "
                             f"seen {shown.top()}-{shown.bottom() + 1}")
                break
        drawn = "".join(p.text for p in pieces)
        text = _text_of(widget)
        if text and "…" in drawn and "…" not in text and text not in widget.toolTip():
            found.append(f"{name}: drawn {drawn!r} with no tooltip holding the whole text")
    return found


SETTLE_MS = 3000  # a zoom re-lays the whole window out; on a loaded 2-core machine that took 0.7 s


def settled_cut_texts(qtbot, root: QWidget, timeout_ms: int = SETTLE_MS) -> list[str]:
    """`cut_texts(root)` once the window has laid itself out: the events a zoom or a resize posts
    (layout requests, the status bar's re-fit) are handled while the text is still cut, up to
    `timeout_ms`; what is still cut then is cut for good and is returned. A frame drawn before
    the layout has caught up is not what a reader sees for more than an instant; a loaded CI
    machine made a fixed wait too short (the status bar's row at 200 % after a held zoom key)."""
    found = cut_texts(root)
    timer = QElapsedTimer()
    timer.start()
    while found and timer.elapsed() < timeout_ms:
        qtbot.wait(50)
        found = cut_texts(root)
    return found
