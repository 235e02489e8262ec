"""A damaged row costs that row's extras at most, never the app, the text, or the open conversation.

The rows are damaged with SQL behind the store's back (as a disk error, an old bug or a hand edit
would), then opened through the controller the way the app does at start-up and from the sidebar.
"""

from __future__ import annotations

import math
import shutil
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.controller import ChatController
from app.settings import Settings
from app.store import Store, StoreError
from app.worker import Worker, WorkerThread
from engine.events import TokenEvent
from tests.app.fakes import FakeBackend, record, split_tokens

TIMEOUT_MS = 20000
CONVERSATIONS = {
    "penguins": ("How do penguins keep warm?", "They huddle and have dense feathers."),
    "bread": ("How do I bake bread?", "Flour, water, salt, yeast and patience."),
    "glass": ("What is glass?", "An amorphous solid, mostly silica."),
}


def fill(store: Store) -> dict[int, str]:
    """Three conversations of two turns each (replies in chunks of tokens); message id -> text."""
    texts = {}
    for question, answer in CONVERSATIONS.values():
        c = store.create_conversation()
        for turn in (1, 2):
            user = store.add_user_message(c.id, f"{question} ({turn})")
            reply = store.start_assistant_message(c.id, model="fake", settings={"memories_used": ["a fact"]})
            words = split_tokens(answer)
            store.append_partial(reply.id, [record(i, w) for i, w in enumerate(words[:3])])
            store.append_partial(reply.id, [record(i + 3, w) for i, w in enumerate(words[3:])])
            store.finish(reply.id, "eos", {"generated_tokens": len(words), "tokens_per_s": 12.5})
            texts |= {user.id: user.text, reply.id: answer}
    return texts


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A filled database, copied for every example."""
    path = tmp_path_factory.mktemp("template") / "glassbox.db"
    store = Store(path)
    texts = fill(store)
    store.close()
    return path, texts


@pytest.fixture
def worker(qtbot):
    thread = WorkerThread(Worker(FakeBackend()))
    yield thread.worker
    thread.stop()


def copy_of(template, directory):
    path = directory / "glassbox.db"
    shutil.copy(template[0], path)
    return path


def damage(path, sql: str, args=()) -> None:
    conn = sqlite3.connect(path)
    conn.execute(sql, args)
    conn.commit()
    conn.close()


def open_app(worker, path) -> ChatController:
    """What start-up does: open the store and reopen the latest conversation."""
    controller = ChatController(worker, Settings(), Store(path))
    notices = []
    controller.notice.connect(notices.append)
    controller.notices = notices
    controller.open_latest()
    return controller


def test_token_data_that_is_not_json_in_the_latest_conversation_costs_only_its_probabilities(
    qtbot, worker, template, tmp_path
):
    path = copy_of(template, tmp_path)
    store = Store(path)
    latest = store.list_conversations()[0].id
    reply_id = store.active_path(latest)[-1].id
    store.close()
    damage(path, "UPDATE message_tokens SET data = '{\"v\": 2, \"tokens\": [[1, ' WHERE message_id = ? AND seq = 1",
           (reply_id,))  # fmt: skip
    controller = open_app(worker, path)
    assert controller.conversation_id == latest  # start-up went on
    reply = controller.conversation.messages[-1]
    assert reply.text == template[1][reply_id]
    assert [t.text for t in reply.tokens] == split_tokens(reply.text)[:3]  # the first chunk is kept
    assert controller.open_notice and "token details" in controller.open_notice
    assert "Every message's text is intact" in controller.open_notice
    assert [m.text for m in controller.conversation.messages[:3]] == [m.text for m in Store(path).active_path(latest)[:3]]
    assert controller.conversation.messages[1].tokens  # the other reply keeps everything


@pytest.mark.parametrize(
    "column, value",
    [("settings", "{not json"), ("stats", "garbage"), ("stats", '{"tokens_per_s": "fast", "ttft_s": [1]}'),
     ("settings", '{"memories_used": [1, null, "kept"]}'), ("model", 42), ("finish_reason", b"\x00\xff"),
     ("stats", '{"dropped_messages": "many", "kv_cache": 4, "generated_tokens": true, "context_used": 1e999}'),
     ("created", "yesterday"), ("text", 12345), ("text", b"\xff\xfe bytes")],
)  # fmt: skip
def test_a_damaged_field_costs_that_field(qtbot, worker, template, tmp_path, column, value):
    path = copy_of(template, tmp_path)
    store = Store(path)
    latest = store.list_conversations()[0].id
    reply_id = store.active_path(latest)[-1].id
    store.close()
    damage(path, f"UPDATE messages SET {column} = ? WHERE id = ?", (value, reply_id))
    controller = open_app(worker, path)
    reply = controller.conversation.messages[-1]
    assert isinstance(reply.text, str) and all(isinstance(m, str) for m in reply.memories)
    if column != "text":
        assert reply.text == template[1][reply_id] and reply.tokens
    text_keys = {"kv_cache", "finish_reason", "error"}
    assert all(isinstance(v, str) if k in text_keys else isinstance(v, int | float | None) and not isinstance(v, bool)
               for k, v in reply.stats.items())  # fmt: skip


@pytest.mark.parametrize(
    "column, value",
    [("text", b"\xff\xfe cats"), ("text", 12345), ("pinned", "yes"), ("pinned", 7), ("created", "yesterday"),
     ("updated", "later"), ("source_message_id", "the first one")],
)  # fmt: skip
def test_a_damaged_memory_costs_that_field_and_replies_still_carry_memories(
    qtbot, worker, template, tmp_path, column, value
):
    path = copy_of(template, tmp_path)
    store = Store(path)
    ChatController(worker, Settings(), store).remember_fact("My cats are called Tom and Ada")
    store.close()
    damage(path, f"UPDATE memories SET {column} = ?", (value,))
    controller = open_app(worker, path)
    (memory,) = controller.memories.list()
    assert isinstance(memory.text, str) and isinstance(memory.pinned, bool)
    assert isinstance(memory.created, float) and isinstance(memory.source_message_id, int | None)
    with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS):
        controller.load_model("default")
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        assert controller.send("What are my cats called?")
    assert controller.conversation.messages[-1].error is None
    carried = (memory.text,) if "cats" in memory.text else ()  # still found and carried, as text
    assert worker._session.requests[-1].memories == carried


def test_a_conversation_that_cannot_be_opened_changes_nothing(qtbot, worker, template, tmp_path, monkeypatch):
    path = copy_of(template, tmp_path)
    controller = open_app(worker, path)
    with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS):
        controller.load_model("default")
    shown = controller.conversation_id
    shown_texts = [m.text for m in controller.conversation.messages]
    other = controller.store.list_conversations()[-1].id
    real_tokens = Store.tokens

    def fail_half_way(store, message_id):  # the first reply reads, the second fails
        if message_id > controller.store.active_path(other)[1].id:
            raise StoreError("the disk went away")
        return real_tokens(store, message_id)

    monkeypatch.setattr(Store, "tokens", fail_half_way)
    assert controller.open_conversation(other) is False
    monkeypatch.undo()
    assert controller.conversation_id == shown and [m.text for m in controller.conversation.messages] == shown_texts
    assert "could not be opened" in controller.notices[-1].text and controller.notices[-1].level == "error"
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        assert controller.send("and one more thing")
    # the new turn went into the conversation the window shows, and the model saw that one's history
    assert [m.text for m in controller.store.active_path(shown)][: len(shown_texts) + 1] == [*shown_texts,
                                                                                             "and one more thing"]
    assert "and one more thing" not in [m.text for m in controller.store.messages(other)]
    request = worker._session.requests[-1]
    assert [t["content"] for t in request.history] == shown_texts and request.conversation_id == str(shown)


def test_an_active_leaf_in_another_conversation_or_a_parent_loop_stays_in_its_conversation(
    qtbot, worker, template, tmp_path
):
    path = copy_of(template, tmp_path)
    store = Store(path)
    a, b = (c.id for c in store.list_conversations()[:2])
    b_reply = store.active_path(b)[-1].id
    a_path = [m.id for m in store.active_path(a)]
    store.close()
    damage(path, "UPDATE conversations SET active_leaf_id = ? WHERE id = ?", (b_reply, a))
    damage(path, "PRAGMA foreign_keys = OFF")
    conn = sqlite3.connect(path)
    conn.execute("UPDATE messages SET parent_id = ? WHERE id = ?", (a_path[-1], a_path[0]))  # a loop
    conn.commit()
    conn.close()
    controller = open_app(worker, path)
    assert controller.open_conversation(a)
    shown = [m.id for m in controller.conversation.messages]
    assert shown and set(shown) <= set(a_path) and len(shown) == len(set(shown))


# -- fuzz -----------------------------------------------------------------------------------------

COLUMNS = {
    "messages": ["text", "settings", "stats", "model", "finish_reason", "finished", "created", "parent_id", "role"],
    "message_tokens": ["data"],
    "conversations": ["title", "created", "updated", "active_leaf_id"],
}
GARBAGE = st.one_of(
    st.none(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.binary(max_size=30),
    st.sampled_from([
        "{", "[]", "{}", "null", '{"v": 2}', '{"v": 2, "tokens": 7}', '{"v": 2, "tokens": [[1]]}',
        '{"v": 2, "tokens": [[1, "x", "x", 1e308, -1, 1e300, [], []]]}', '{"v": 2, "tokens": [[1, "x", "x", -0.1, '
        '-0.1, 1, [[1, 2, 3]], []]]}', '{"v": 2, "tokens": [[1, "zzz", "x", -0.1, -0.1, 1, [], []]]}',
        '[[1, "a", -0.5, -0.2, 1.0, [], []]]', '{"generated_tokens": "many"}', '{"memories_used": "x"}',
        "[" * 5000, '{"a": ' * 3000,
    ]),
)  # fmt: skip


@st.composite
def damages(draw):
    table = draw(st.sampled_from(sorted(COLUMNS)))
    return table, draw(st.sampled_from(COLUMNS[table])), draw(st.integers(0, 40)), draw(GARBAGE)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(damages(), min_size=1, max_size=6))
def test_fuzzed_rows_never_stop_the_app_and_never_cost_text(qtbot, worker, template, tmp_path_factory, changes):
    path = copy_of(template, tmp_path_factory.mktemp("fuzz"))
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys = OFF")
    touched_text = set()
    for table, column, row, value in changes:
        key = "message_id || '.' || seq" if table == "message_tokens" else "id"  # WITHOUT ROWID
        rows = [r[0] for r in conn.execute(f"SELECT {key} FROM {table} ORDER BY {key}")]
        if not rows:
            continue
        target = rows[row % len(rows)]
        try:
            conn.execute(f"UPDATE {table} SET {column} = ? WHERE {key} = ?", (value, target))
        except (sqlite3.IntegrityError, OverflowError):
            continue  # the schema refuses it (NOT NULL, CHECK): that damage cannot happen
        if (table, column) == ("messages", "text"):
            touched_text.add(target)
    conn.commit()
    conn.close()

    controller = open_app(worker, path)
    for conversation in controller.list_conversations():
        assert controller.open_conversation(conversation.id)
        assert controller.conversation_id == conversation.id
        for message in controller.conversation.messages:
            assert isinstance(message.text, str)
            if message.id not in touched_text:
                assert message.text == template[1][message.id]  # text is never lost
            assert "".join(t.text for t in message.tokens) == message.text[: len("".join(t.text for t in message.tokens))]
            assert all(isinstance(t, TokenEvent) and t.logprob <= 0 and not math.isnan(t.logprob) for t in message.tokens)
            assert all(isinstance(v, str) if k in ("kv_cache", "finish_reason", "error") else not isinstance(v, str)
                       for k, v in message.stats.items())  # fmt: skip
        controller.export(tmp_path_factory.mktemp("export") / "c.json", "json")
        controller.export(tmp_path_factory.mktemp("export") / "c.md", "markdown")
    controller.store.close()
