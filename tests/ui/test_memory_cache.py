"""Memories never cost the conversation its prompt cache (trial 5, finding 4): a turn whose
recalled memories differ from the last one's still reuses everything before the new message, and
the reply is token for token the one computed with no cache at all. With the real default model,
driven through the window."""

from __future__ import annotations

import pytest

from app.backend import EngineBackend, EngineSession
from app.settings import AppSettings, Settings, SettingsFile
from engine.sampling import SamplingSettings
from tests.ui.driver import ask

pytestmark = pytest.mark.slow


def test_changing_memories_reuse_the_cached_conversation_and_change_no_token(qtbot, launch, default_lm, tmp_path):
    # greedy decoding, so that "the same tokens" compares the computation, not two random draws
    SettingsFile(tmp_path / "config").save(Settings(SamplingSettings(temperature=0.0), AppSettings(max_new_tokens=6)))
    app = launch(EngineBackend())
    received = []
    session = app.controller._worker._session
    stream = session.stream
    session.stream = lambda request, *a: received.append(request) or stream(request, *a)

    turns = [
        ("remember that my name is Ana", ["My name is Ana"]),
        ("remember that I live in Porto", ["I live in Porto"]),
        ("What is on my list?", []),  # no memory matches: the earlier turns keep theirs as sent
        ("thanks, Ana", ["My name is Ana"]),
    ]
    replies = []
    for text, memories in turns:
        reply = ask(qtbot, app, text)
        assert reply.memories == memories and reply.error is None
        replies.append(reply)
    for before, after in zip(replies, replies[1:], strict=False):
        # everything the last turn's prompt held is served from the cache: only the reply's end
        # marker, the new message and its memories are read
        assert after.stats["cached_tokens"] >= before.stats["prompt_tokens"], (before.stats, after.stats)
        assert after.stats["prompt_tokens"] - after.stats["cached_tokens"] < 60
    status = app.window.status.prompt_label.full_text()  # what the user reads: "prompt N tok (M cached · K computed)"
    assert f"({replies[-1].stats['cached_tokens']:,} cached · " in status, status

    # the same requests on a session with nothing cached: the same tokens, every turn
    scratch = EngineSession(default_lm, "default", "default")
    for request, reply in zip(received, replies, strict=True):
        *events, done = scratch.stream(request, lambda: False, lambda done, total: None)
        scratch.cache.memory.clear()
        assert [e.token for e in events if e.token is not None] == [t.token for t in reply.tokens if t.token is not None]
