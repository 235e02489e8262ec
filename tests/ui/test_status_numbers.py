"""The status bar describes the conversation on screen, in units a person reads: a new one starts
at zero, a switch or a restart brings back that conversation's numbers, and the context window is
the one the next request gets (the reply limit in its tooltip)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.app.fakes import FakeBackend, FakeSession
from tests.ui.driver import ask


class SlowStartSession(FakeSession):
    """A reply that took 22.2 s to start in a conversation that fills 1,100 tokens."""

    def stats(self, reason: str, generated: int) -> dict:
        return super().stats(reason, generated) | {"ttft_s": 22.207, "prompt_tokens": 1090, "context_used": 1100}



def labels(window) -> dict[str, str]:
    status = window.status
    return {"prompt": status.prompt_label.text(), "speed": status.speed_label.text(),
            "first": status.ttft_label.text(), "context": status.context_label.text()}  # fmt: skip


def click_conversation(window, title: str) -> None:
    listing = window.sidebar.list
    row = next(r for r in range(listing.count()) if listing.item(r).text() == title)
    rect = listing.visualItemRect(listing.item(row))
    QTest.mouseClick(listing.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())


def test_numbers_follow_the_conversation_on_screen_across_new_switch_and_restart(qtbot, launch, tmp_path):
    app = launch(FakeBackend(session=SlowStartSession))
    ask(qtbot, app, "a long conversation")
    measured = labels(app.window)
    assert measured["first"] == "first token 22.2 s"  # not "22,207 ms"
    assert measured["context"] == "context 1,100 / 2,048"

    app.window.new_chat()
    fresh = labels(app.window)
    assert fresh == {"prompt": "", "speed": "", "first": "", "context": "context 0 / 2,048"}

    click_conversation(app.window, "a long conversation")
    assert labels(app.window) == measured
    app.close()

    again = launch(FakeBackend(), profile=tmp_path)  # reopens the latest conversation at start
    assert labels(again.window)["context"] == "context 1,100 / 2,048"
    assert labels(again.window)["first"] == "first token 22.2 s"


def test_the_context_window_shown_is_the_one_set_in_preferences(qtbot, launch):
    app = launch(FakeBackend(), context_length=300, max_new_tokens=64)
    assert labels(app.window)["context"] == "context 0 / 300"
    tip = app.window.status.context_label.toolTip()
    assert "limit set in Preferences" in tip and "stops after 64 new tokens" in tip
