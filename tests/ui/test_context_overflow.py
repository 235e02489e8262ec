"""When the conversation outgrows the context window the window says so truthfully: the reply that
ran into the window's end says the context window is full (not "the token limit"), and the
messages the model no longer saw are marked in the transcript, also after a restart."""

from __future__ import annotations

from app.finish_words import CONTEXT_FULL
from tests.app.fakes import FakeBackend, FakeSession
from tests.ui.driver import ask


class OverflowSession(FakeSession):
    """The third request leaves the first exchange out and runs into the end of the window."""

    def stats(self, reason: str, generated: int) -> dict:
        stats = super().stats(reason, generated)
        if len(self.requests) == 3:
            stats |= {"finish_reason": "length", "dropped_messages": 2, "context_used": 2048, "context_length": 2048}
        return stats



def marks(window) -> list[bool]:
    return [view.left_out_label.isVisible() for view in window.transcript.views]


def test_a_full_context_window_is_named_and_the_messages_left_out_are_marked(qtbot, launch, tmp_path):
    app = launch(FakeBackend(session=OverflowSession))
    for question in ("one", "two", "three"):
        ask(qtbot, app, question)
    views = app.window.transcript.views
    assert CONTEXT_FULL in views[5].meta_label.text() and "token limit" not in views[5].meta_label.text()
    assert "token limit" not in views[3].meta_label.text() and CONTEXT_FULL not in views[3].meta_label.text()
    assert marks(app.window) == [True, True, False, False, False, False]
    assert "did not see" in views[0].left_out_label.text()
    app.close()

    again = launch(FakeBackend(), profile=tmp_path)
    assert marks(again.window) == [True, True, False, False, False, False]
    assert CONTEXT_FULL in again.window.transcript.views[5].meta_label.text()


def test_the_token_limit_is_still_called_the_token_limit(qtbot, launch):
    app = launch(FakeBackend(), max_new_tokens=3)
    ask(qtbot, app, "short please")
    assert "stopped at the token limit" in app.window.transcript.views[1].meta_label.text()
    assert marks(app.window) == [False, False]
