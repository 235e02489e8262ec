"""One token record from the engine to the store and back: every token's text as it streamed.

A character split over several tokens (CJK in byte-level BPE, emoji ZWJ sequences, combining marks,
invalid or unfinished UTF-8) must reopen on the token that showed it, never moved by string matching.
"""

from __future__ import annotations

import json
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.controller import ChatController
from app.reply_recorder import ReplyRecorder
from app.settings import AppSettings, Settings
from app.store import MIGRATIONS, Store
from app.store.records import split_by_bytes
from app.worker import Worker, WorkerThread
from engine.events import TokenEvent
from tests.app.fakes import EOS_PIECE, FakeBackend, FakeSession, byte_pieces, record

TIMEOUT_MS = 20000
HARD_TEXTS = [
    "你好，世界！",
    "family 👨‍👩‍👧‍👦 and flag 🏳️‍🌈 then plain words after it",
    "e\u0301cole, n\u0303, a\u0308\u0332 combining marks",
    "mixed: 漢字かなカナ 한국어 🙂 done",
]


def cut_everywhere(text: str) -> list[int]:
    """Every byte offset: each token is one byte (the hardest split)."""
    return list(range(1, len(text.encode("utf-8"))))


def same_record(t: TokenEvent) -> tuple:
    """What must come back exactly (log-probabilities are stored rounded to 5 decimals)."""
    alternatives = [(i, p, round(lp, 4)) for i, p, lp in t.top_raw + t.top_final]
    return t.index, t.token, t.text, t.piece, round(t.logprob, 4), round(t.sampled_logprob, 4), alternatives


def stream_and_reopen(path, pieces, chunk: int = 3) -> tuple[list[TokenEvent], list[TokenEvent], str]:
    """Stream (text, piece) tokens into a reply in chunks, then read them back from a fresh Store."""
    store = Store(path)
    c = store.create_conversation()
    store.add_user_message(c.id, "q")
    reply = store.start_assistant_message(c.id)
    streamed = [record(i, text, piece=piece) for i, (text, piece) in enumerate(pieces)]
    ticks = iter(range(10**6))
    recorder = ReplyRecorder(store, reply.id, interval_s=chunk, clock=lambda: next(ticks))
    for t in streamed:
        recorder.add([t])
    recorder.finish("eos", None)
    store.close()
    fresh = Store(path)
    try:
        back = fresh.tokens(reply.id)
        assert not back.damaged
        return streamed, list(back.tokens), fresh.message(reply.id).text
    finally:
        fresh.close()


@pytest.mark.parametrize("text", HARD_TEXTS)
def test_each_token_reopens_with_exactly_the_text_it_streamed(tmp_path, text):
    streamed, back, stored_text = stream_and_reopen(tmp_path / "g.db", byte_pieces(text, cut_everywhere(text)))
    assert [t.text for t in back] == [t.text for t in streamed]
    assert stored_text == text == "".join(t.text for t in back)
    assert [(t.index, t.token, t.piece) for t in back] == [(t.index, t.token, t.piece) for t in streamed]


def test_the_first_character_of_a_cjk_reply_stays_on_the_token_that_completed_it(tmp_path):
    # 你 is three bytes: tokens "<0xE4>", "<0xBD>", "<0xA0>": the third shows it, as it streamed
    pieces = byte_pieces("你好，世界！", [1, 2, 3, 6, 9])
    _, back, _ = stream_and_reopen(tmp_path / "g.db", pieces)
    assert [t.text for t in back][:4] == ["", "", "你", "好"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    text=st.one_of(
        st.text(min_size=1, max_size=40),
        st.lists(st.sampled_from(HARD_TEXTS + ["\u200d", "\ufe0f", "\u0301", " ", "a", "🙂"]), min_size=1, max_size=6).map(
            "".join
        ),
        st.binary(min_size=1, max_size=40),  # invalid and unfinished UTF-8 too
    ),
    cuts=st.lists(st.integers(1, 200), max_size=30),
    chunk=st.integers(1, 6),
)
def test_any_split_of_any_text_reopens_as_it_streamed(tmp_path_factory, text, cuts, chunk):
    pieces = byte_pieces(text, cuts)
    streamed, back, stored_text = stream_and_reopen(tmp_path_factory.mktemp("db") / "g.db", pieces, chunk)
    assert [same_record(t) for t in back] == [same_record(t) for t in streamed]
    assert stored_text == "".join(t.text for t in streamed)


def test_through_the_worker_and_controller_then_a_fresh_store(qtbot, tmp_path):
    text = " ".join(HARD_TEXTS)
    backend = FakeBackend(reply=byte_pieces(text, list(range(1, len(text.encode()), 2))))
    thread = WorkerThread(Worker(backend))
    store = Store(tmp_path / "g.db")
    try:
        controller = ChatController(thread.worker, Settings(), store)
        with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS):
            controller.load_model("default")
        with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
            assert controller.send("hi")
        live = list(controller.message(1).tokens)
        controller.close()
        store.close()
        store = Store(tmp_path / "g.db")
        reopened = ChatController(thread.worker, Settings(), store)
        reopened.open_latest()
        again = reopened.message(1)
        assert again.text == text and [t.text for t in again.tokens] == [t.text for t in live]
        assert [t.piece for t in again.tokens] == [t.piece for t in live]
    finally:
        thread.stop()
        store.close()


@pytest.fixture(scope="module")
def pipeline(qapp, tmp_path_factory):
    """A worker thread with the fake backend and a controller on a real store (one per module)."""
    path = tmp_path_factory.mktemp("pipeline") / "g.db"
    thread = WorkerThread(Worker(FakeBackend()))
    store = Store(path)
    controller = ChatController(thread.worker, Settings(), store)
    yield controller, path
    controller.close()
    thread.stop()
    store.close()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    text=st.one_of(st.text(min_size=1, max_size=30), st.binary(min_size=1, max_size=30), st.sampled_from(HARD_TEXTS)),
    cuts=st.lists(st.integers(1, 120), max_size=25),
)
def test_any_split_through_the_worker_and_controller_reopens_as_it_streamed(qtbot, pipeline, text, cuts):
    controller, path = pipeline
    if controller.model_info is None:
        with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS):
            controller.load_model("default")
    controller._worker._session.reply = byte_pieces(text, cuts)
    controller.new_chat()
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        assert controller.send("q")
    live = controller.message(1)
    fresh = Store(path)
    try:
        back = fresh.tokens(live.id)
        assert [(t.index, t.token, t.text, t.piece) for t in back] == [(t.index, t.token, t.text, t.piece) for t in live.tokens]
        assert fresh.message(live.id).text == live.text == "".join(t.text for t in back)
    finally:
        fresh.close()


# -- rows written before the token's text was kept (row format 1) ----------------------------------


def old_database(path, text: str, pieces: list[str]) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0] + MIGRATIONS[1] + "\nPRAGMA user_version = 2;")
    conn.execute("INSERT INTO conversations (id, title, created, updated, active_leaf_id) VALUES (1, 'Old', 1, 2, 2)")
    conn.execute("INSERT INTO messages (id, conversation_id, role, text, created) VALUES (1, 1, 'user', 'q', 1)")
    conn.execute(
        "INSERT INTO messages (id, conversation_id, parent_id, role, text, created, finish_reason)"
        " VALUES (2, 1, 1, 'assistant', ?, 2, 'eos')",
        (text,),
    )
    rows = [[1000 + i, p, -0.5, -0.25, 1.0, [[1000 + i, p, -0.5]], [[1000 + i, -0.25]]] for i, p in enumerate(pieces)]
    for seq in range(0, len(rows), 2):  # chunks of two, as flushes wrote them
        conn.execute("INSERT INTO message_tokens VALUES (2, ?, ?)", (seq, json.dumps(rows[seq : seq + 2])))
    conn.commit()
    conn.close()


@pytest.mark.parametrize("text", HARD_TEXTS)
def test_old_rows_are_split_once_by_their_exact_bytes(tmp_path, text):
    pieces = byte_pieces(text, cut_everywhere(text)[::2])
    old_database(tmp_path / "g.db", text, [p for _t, p in pieces])
    store = Store(tmp_path / "g.db")
    assert [t.text for t in store.tokens(2)] == [t for t, _p in pieces]
    assert store.query("SELECT count(*) FROM message_tokens WHERE data NOT LIKE '{\"v\": 2%'")[0][0] == 0
    store.close()


def test_old_rows_that_disagree_with_the_text_still_spell_the_text():
    assert split_by_bytes("Hello", [" Hel", "lo"]) == ["Hel", "lo"]  # a leading space the tokenizer strips
    assert split_by_bytes("Hi", ["Hi", " the", "re"]) == ["Hi", "", ""]  # cut by a stop string
    assert split_by_bytes("abc", ["x", "y"]) == ["abc", ""]  # nothing agrees: the text wins


def real_stream(tok, text: str) -> list[tuple[str, str]]:
    """(text as it streams, piece) per token of `text` under the real tokenizer and detokenizer."""
    detok = tok.detokenizer()
    return [(detok.add(i), tok.piece(i)) for i in tok.encode(text)]


@pytest.mark.parametrize("text", HARD_TEXTS)
def test_the_real_tokenizer_splits_characters_and_they_reopen_as_they_streamed(tmp_path, default_lm, text):
    pieces = real_stream(default_lm.tokenizer, text)
    assert any(shown == "" for shown, _ in pieces)  # some character spans several tokens
    streamed, back, stored_text = stream_and_reopen(tmp_path / "g.db", pieces)
    assert [t.text for t in back] == [t.text for t in streamed] and stored_text == text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    text=st.one_of(
        st.text(min_size=1, max_size=40).filter(lambda t: "<0x" not in t),
        st.lists(st.sampled_from(HARD_TEXTS + ["\u200d", "\u0301", " ", "🙂", "👩‍🔬"]), min_size=1, max_size=4).map(
            "".join
        ),
    )
)
def test_old_rows_split_by_exact_bytes_as_the_real_stream_did(default_lm, text):
    """The migration's method on the real tokenizer's pieces gives every token the text it streamed."""
    pieces = real_stream(default_lm.tokenizer, text)
    shown = "".join(t for t, _p in pieces)
    assert split_by_bytes(shown, [p for _t, p in pieces]) == [t for t, _p in pieces]


@pytest.mark.slow
def test_a_real_reply_reopens_as_it_streamed(qtbot, tmp_path):
    from app.backend import (
        EngineBackend,
        GenerateRequest,  # noqa: F401  (the request the controller builds)
    )

    thread = WorkerThread(Worker(EngineBackend(tmp_path / "data")))
    store = Store(tmp_path / "g.db")
    try:
        short = Settings(app=AppSettings(max_new_tokens=40))
        controller = ChatController(thread.worker, short, store)
        with qtbot.waitSignal(controller.model_loaded, timeout=120000):
            controller.load_model("default")
        with qtbot.waitSignal(controller.reply_finished, timeout=120000):
            assert controller.send("Write 你好 and an emoji 🙂 three times.")
        live = list(controller.message(1).tokens)
        fresh = Store(tmp_path / "g.db")
        back = fresh.tokens(controller.message(1).id)
        assert [(t.token, t.text, t.piece) for t in back] == [(t.token, t.text, t.piece) for t in live]
        fresh.close()
        controller.close()
    finally:
        thread.stop()
        store.close()


def test_a_fake_session_streams_the_engines_record_type():
    session = FakeSession("x", byte_pieces("你好", [1]), endless=False)
    items = list(session.stream(FakeRequest(), lambda: False, lambda done, total: None))
    assert all(isinstance(t, TokenEvent) for t in items[:-1]) and [t.text for t in items[:-1]] == ["", "你好", ""]
    assert items[-2].finish_reason == "eos" and items[-2].piece == EOS_PIECE  # as the engine ends a reply


class FakeRequest:
    user_message, max_new_tokens, stop_strings = "q", 100, ()
