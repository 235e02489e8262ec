"""Numbers in the window take the noun in the right number: "1 token", never "1 tokens"."""

from __future__ import annotations

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask


def test_a_one_token_reply_says_1_token(qtbot, launch):
    app = launch(FakeBackend(reply="Hi"))
    ask(qtbot, app, "Say hi")
    header = app.window.transcript.views[1].meta_label.text()
    assert header.startswith("1 token") and "1 tokens" not in header


def test_a_longer_reply_says_tokens(qtbot, launch):
    app = launch(FakeBackend(reply="Hello there friend"))
    ask(qtbot, app, "Say hello")
    assert app.window.transcript.views[1].meta_label.text().startswith("3 tokens")
