"""A status-bar message's tooltip goes with the message (verify 7: the tooltip with the whole import
message stayed on screen after the message had timed out of the bar): hovered while the message
shows, the tooltip has its whole text; when the message times out the tooltip goes, and when
another message replaces it the tooltip shows the new one, never the old text."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPoint
from PySide6.QtGui import QHelpEvent
from PySide6.QtWidgets import QToolTip

from tests.app.fakes import FakeBackend
from tests.ui.driver import seen

LONG = ("Imported 0 conversations from bike.json; 1 skipped (“The history of the bicycle began” is already "
        "in your list with the same messages).")  # fmt: skip
TIP_GOES_MS = 2000  # Qt hides a tooltip 300 ms after it is told to; a stale one stayed for good
OTHER = "Exported 3 conversations to a folder whose name is long enough to be cut in a narrow window, too."


def hover(label) -> None:
    point = QPoint(label.width() // 2, label.height() // 2)
    label.event(QHelpEvent(QEvent.Type.ToolTip, point, label.mapToGlobal(point)))  # what resting there sends


def test_the_tooltip_of_a_cut_message_goes_when_the_message_goes(qtbot, launch):
    window = launch(FakeBackend()).window
    window.resize(640, 600)
    qtbot.waitUntil(lambda: window.width() == 640)
    status, label = window.status, window.status.message_label

    status.showMessage(LONG, 400)
    assert label.text() != LONG  # cut: the whole text is the tooltip
    hover(label)
    qtbot.waitUntil(lambda: QToolTip.isVisible() and seen(QToolTip.text()) == LONG)
    qtbot.waitUntil(lambda: status.full_message() == "")  # timed out
    qtbot.waitUntil(lambda: not QToolTip.isVisible() or seen(QToolTip.text()) != LONG, timeout=TIP_GOES_MS)

    status.showMessage(LONG)
    hover(label)
    qtbot.waitUntil(lambda: QToolTip.isVisible() and seen(QToolTip.text()) == LONG)
    status.showMessage(OTHER)  # replaced while its tooltip shows: the tooltip says the new message
    assert label.text() != OTHER
    qtbot.waitUntil(lambda: not QToolTip.isVisible() or seen(QToolTip.text()) == OTHER, timeout=TIP_GOES_MS)
    status.showMessage("Short")  # whole on the bar: no tooltip left over
    qtbot.waitUntil(lambda: not QToolTip.isVisible() or seen(QToolTip.text()) != OTHER, timeout=TIP_GOES_MS)
