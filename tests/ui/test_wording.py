"""Words the window shows: numbers take the noun in the right number ("1 token", never
"1 tokens"), and pasted text that is not text (half a surrogate pair) never stops the window."""

from __future__ import annotations

from tests.app.fakes import FakeBackend
from tests.ui.driver import ask


def test_a_one_token_reply_says_1_token(qtbot, launch):
    app = launch(FakeBackend(reply="Hi"), max_new_tokens=1)  # cut at its one token, before the end of turn
    ask(qtbot, app, "Say hi")
    header = app.window.transcript.views[1].meta_label.text()
    assert header.startswith("1 token") and "1 tokens" not in header


def test_a_longer_reply_says_tokens(qtbot, launch):
    app = launch(FakeBackend(reply="Hello there friend"))
    ask(qtbot, app, "Say hello")
    assert app.window.transcript.views[1].meta_label.text().startswith("4 tokens")  # 3 words and the end of turn


def test_a_pasted_lone_surrogate_does_not_stop_the_window(qtbot, launch):
    # Qt keeps text as UTF-16, where half a surrogate pair can be pasted; nothing that reaches the
    # store, the tokenizer or a file may hold one (the engine names it if it ever does)
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication
    from PySide6.QtTest import QTest

    app = launch(FakeBackend(reply="Fine"))
    box = app.window.composer.box
    QGuiApplication.clipboard().setText("half \ud800 pair \udc80 here")
    box.setFocus()
    box.paste()
    QTest.keyClick(box, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not app.controller.busy and len(app.window.transcript.views) == 2)
    sent = app.controller._worker._session.requests[-1].user_message
    sent.encode("utf-8")  # valid text
    assert sent.split() == ["half", "pair", "here"] and box.toPlainText() == ""


def test_a_model_that_fails_to_load_is_named_in_whole_sentences(qtbot, launch):
    """The engine's reason is a clause ("…: not a GGUF file (bad magic bytes)"); the notice ends it
    before "Still using …" (trial 4: the two ran together)."""
    from tests.app.fakes import BROKEN

    app = launch(FakeBackend())
    with qtbot.waitSignal(app.controller.model_failed, timeout=20_000):
        app.window.choose_model(f"/models/{BROKEN}")
    assert app.window.notice.text() == (
        f"Could not load the model: /models/{BROKEN}: the GGUF file is corrupt or truncated. Still using Fake default.")


def test_sentence_ends_a_clause_once():
    from app.wording import sentence

    assert sentence("not a GGUF file (bad magic bytes)") == "not a GGUF file (bad magic bytes)."
    assert sentence("It failed.") == "It failed." and sentence("Really?") == "Really?"
    assert sentence('He said "stop."') == 'He said "stop."' and sentence("") == ""
