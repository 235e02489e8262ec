"""A streaming reply's chunks are committed without a sync to disk, except one every
`durable_every_s`; everything else the store writes (the user's message first of all) and a reply's
end are synced. What was shown comes back whole either way."""

from __future__ import annotations

import sqlite3

import pytest

from app.reply_recorder import ReplyRecorder
from app.store import Store
from tests.app.fakes import record

FULL = 2  # PRAGMA synchronous's value for FULL


class SyncLog(Store):
    """The store, noting each chunk's text and whether it was synced."""

    def __init__(self, path):
        super().__init__(path)
        self.chunks: list[tuple[str, bool]] = []

    def append_partial(self, message_id, tokens, durable=True):
        self.chunks.append(("".join(t.text for t in tokens), durable))
        super().append_partial(message_id, tokens, durable)


def synchronous(store: Store) -> int:
    return store.query("PRAGMA synchronous")[0][0]


def test_chunks_are_synced_every_ten_seconds_and_the_reply_reopens_whole(tmp_path):
    store = SyncLog(tmp_path / "g.db")
    conversation = store.create_conversation()
    store.add_user_message(conversation.id, "tell me a story")
    reply = store.start_assistant_message(conversation.id)
    now = [0.0]
    recorder = ReplyRecorder(store, reply.id, interval_s=1.0, clock=lambda: now[0], durable_every_s=10.0)
    words = [record(i, f" w{i}") for i in range(25)]
    for token in words:  # one token a second for 25 s: a chunk each second
        now[0] += 1.0
        recorder.add([token])
    recorder.finish("length", None)
    synced = [i for i, (_text, durable) in enumerate(store.chunks) if durable]
    assert synced == [9, 19]  # the chunks at 10 s and 20 s
    assert "".join(text for text, _durable in store.chunks) == "".join(t.text for t in words)
    assert synchronous(store) == FULL
    store.close()

    reopened = Store(tmp_path / "g.db")
    message = reopened.message(reply.id)
    assert message.text == "".join(t.text for t in words) and message.finish_reason == "length"
    assert [t.text for t in reopened.tokens(reply.id).tokens] == [t.text for t in words]
    reopened.close()


def test_after_an_unsynced_chunk_every_other_write_is_synced_again(tmp_path):
    store = Store(tmp_path / "g.db")
    conversation = store.create_conversation()
    store.add_user_message(conversation.id, "first")
    reply = store.start_assistant_message(conversation.id)
    store.append_partial(reply.id, [record(0, "Hello")], durable=False)
    assert synchronous(store) == FULL  # the user's next message is on disk before anything is generated

    with pytest.raises(sqlite3.IntegrityError):  # a chunk for a reply that is gone: rolled back
        store.append_partial(reply.id + 100, [record(1, " there")], durable=False)
    assert synchronous(store) == FULL
    store.finish(reply.id, "eos")
    assert store.message(reply.id).text == "Hello"
    store.close()
