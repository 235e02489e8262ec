"""The Qt binding must keep reference counts straight: PySide6 6.12.0 under Python 3.11 dropped a
reference to None on every void method call, and the app died with "deallocating None" after a
few thousand calls (a few seconds of streaming). pyproject.toml pins the binding below it."""

from __future__ import annotations

import sys

import pytest
from PySide6.QtGui import QColor, QImage, QPainter, QTextCharFormat, QTextCursor, QTextDocument

pytestmark = pytest.mark.skipif(sys.version_info >= (3, 12), reason="None is immortal from Python 3.12")


def test_void_calls_keep_none_alive(qapp):
    doc = QTextDocument()
    doc.setPlainText("hello world")
    cursor = QTextCursor(doc)
    fmt = QTextCharFormat()
    image = QImage(8, 8, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    before = sys.getrefcount(None)
    for _ in range(200):
        cursor.setPosition(3)
        fmt.setBackground(QColor(1, 2, 3))
        painter.setBrush(QColor(1, 2, 3))
    painter.end()
    assert sys.getrefcount(None) - before > -100
