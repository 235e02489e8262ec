"""Every code block gets its header with Copy: fenced with a language, fenced without one (at the
start of a reply too), and indented by four spaces."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask
from ui.code_blocks import COPIED_MS

REPLIES = {
    "fence without a language": "Here it is:\n\n```\nls -la ~\n```\n\nDone.",
    "fence first": "```\nls -la ~\n```\n\nThat lists files.",
    "indented": "Here it is:\n\n    ls -la ~\n\nDone.",
    "fence with a language": "Here it is:\n\n```bash\nls -la ~\n```\n",
}


@pytest.mark.parametrize("kind", list(REPLIES))
def test_every_code_block_has_a_copy_button(qtbot, launch, kind):
    app = launch(FakeBackend(reply=REPLIES[kind]))
    ask(qtbot, app, "show me")
    text = app.window.transcript.views[1].text
    qtbot.waitUntil(lambda: len(text._headers) == 1 and text._headers[0].isVisible())
    header = text._headers[0]
    assert header.language.text() in ("code", "bash")
    assert header.geometry().top() >= 0 and header.geometry().bottom() <= text.viewport().height()
    QTest.mouseClick(header.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == "ls -la ~"
    assert header.copy_button.text() == "Copied"
    qtbot.wait(COPIED_MS // 2)
    assert header.copy_button.text() == "Copied"  # long enough to read
    qtbot.waitUntil(lambda: header.copy_button.text() == "Copy", timeout=COPIED_MS + 1000)  # then back
