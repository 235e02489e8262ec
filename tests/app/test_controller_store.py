"""The controller with a real Store: what is saved, when, and how it comes back (no window)."""

from __future__ import annotations

import pytest

from app.controller import ChatController
from app.conversation import from_stored
from app.settings import Settings
from app.store import Store
from app.worker import Worker, WorkerThread
from tests.app.fakes import EOS_PIECE, REPLY, FakeBackend, split_tokens

TIMEOUT_MS = 20000


@pytest.fixture
def open_controller(qtbot, tmp_path):
    opened = []

    def make(backend=None):
        thread = WorkerThread(Worker(backend or FakeBackend()))
        store = Store(tmp_path / "glassbox.db")
        controller = ChatController(thread.worker, Settings(), store)
        opened.append((thread, controller, store))
        with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS):
            controller.load_model("default")
        controller.open_latest()
        return controller

    yield make
    for thread, controller, store in opened:
        controller.close()
        thread.stop()
        store.close()


def send(qtbot, controller, text):
    with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
        assert controller.send(text)


def test_a_reply_comes_back_from_the_store_as_it_streamed(qtbot, open_controller):
    controller = open_controller()
    send(qtbot, controller, "hi")
    live = controller.message(1)
    stored = controller.store.message(live.id)
    again = from_stored(stored, controller.store.tokens(live.id))
    assert again.text == live.text == REPLY and again.finish_reason == "eos"
    assert [r.text for r in again.tokens] == [*split_tokens(REPLY), ""]  # the end-of-turn token ends it
    assert again.tokens[-1].piece == EOS_PIECE
    for a, b in zip(again.tokens, live.tokens, strict=True):
        assert (a.index, a.token, a.text, a.piece) == (b.index, b.token, b.text, b.piece)
        assert a.logprob == pytest.approx(b.logprob, abs=1e-5) and a.top_final[0][:2] == b.top_final[0][:2]


def test_reopening_restores_the_latest_conversation_and_continues_it(qtbot, open_controller):
    controller = open_controller()
    send(qtbot, controller, "first")
    controller.new_chat()
    send(qtbot, controller, "second")
    latest = controller.conversation_id
    controller.close()

    reopened = open_controller()
    assert reopened.conversation_id == latest
    assert [m.text for m in reopened.conversation.messages] == ["second", REPLY]
    send(qtbot, reopened, "third")
    request = reopened._worker._session.requests[-1]
    assert request.history == ({"role": "user", "content": "second"}, {"role": "assistant", "content": REPLY})
    assert request.conversation_id == str(latest)


def test_a_reply_cut_off_by_closing_is_kept_as_far_as_it_got(qtbot, open_controller):
    controller = open_controller(FakeBackend(endless=True))
    assert controller.send("go")
    reply_id = controller.message(1).id
    qtbot.waitUntil(lambda: len(controller.message(1).tokens) > 3, timeout=TIMEOUT_MS)
    controller.close()  # what the app does when the window closes mid-reply
    stored = controller.store.message(reply_id)
    assert stored.finish_reason == "cancelled" and stored.text.startswith(controller.message(1).text[:10])
    assert len(controller.store.tokens(reply_id)) >= 4 and not controller.busy


def test_switching_conversations_mid_reply_keeps_what_was_written(qtbot, open_controller):
    controller = open_controller(FakeBackend(endless=True))
    assert controller.send("go")
    streaming = controller.message(1)
    qtbot.waitUntil(lambda: len(streaming.tokens) > 3, timeout=TIMEOUT_MS)
    first = controller.conversation_id
    controller.new_chat()
    assert not controller.busy and controller.conversation.messages == []
    stored = controller.store.message(streaming.id)
    assert stored.finish_reason == "cancelled" and len(controller.store.tokens(streaming.id)) == len(streaming.tokens)
    controller.open_conversation(first)
    assert [m.text for m in controller.conversation.messages] == ["go", stored.text]


def test_a_database_that_cannot_be_opened_is_said_plainly(qtbot, tmp_path):
    (tmp_path / "not-a-dir").write_text("a file where the data dir should be")
    store = Store(tmp_path / "not-a-dir" / "glassbox.db")
    thread = WorkerThread(Worker(FakeBackend()))
    try:
        controller = ChatController(thread.worker, Settings(), store)
        assert "nothing you write now will be kept" in controller.store_notice()
    finally:
        thread.stop()
        store.close()


def test_deleting_a_conversation_asks_the_worker_to_forget_its_cache(qtbot, open_controller):
    backend = FakeBackend()
    controller = open_controller(backend)
    send(qtbot, controller, "hi")
    deleted = controller.conversation_id
    controller.new_chat()
    controller.delete_conversation(deleted)
    qtbot.waitUntil(lambda: backend.sessions[-1].forgotten == [str(deleted)], timeout=TIMEOUT_MS)


def test_a_finished_replys_stats_are_saved_and_come_back(qtbot, open_controller):
    controller = open_controller()
    send(qtbot, controller, "hi")
    live = controller.message(1)
    stored = controller.store.message(live.id)
    n = len(split_tokens(REPLY)) + 1  # with the end-of-turn token
    assert stored.stats == {"prompt_tokens": 10, "cached_tokens": 0, "generated_tokens": n, "ttft_s": 0.01,
                            "tokens_per_s": None, "context_used": 10 + n, "context_length": 2048,
                            "finish_reason": "eos", "kv_bytes": 4096}  # fmt: skip
    again = from_stored(stored, controller.store.tokens(live.id))
    assert again.stats == stored.stats and again.stats["generated_tokens"] == live.stats["generated_tokens"]


class HalfThenFail(FakeBackend):
    """Streams two tokens of the reply, then fails (a backend error half-way)."""

    def load(self, spec, report):
        session = super().load(spec, report)
        stream = session.stream

        def half(request, should_stop, progress):
            items = stream(request, should_stop, progress)
            yield next(items)
            yield next(items)
            raise RuntimeError("the fake model fell over")

        session.stream = half
        return session


def test_a_failed_reply_reopens_failed_with_its_message_and_stays_out_of_the_history(qtbot, open_controller):
    controller = open_controller(HalfThenFail())
    with qtbot.waitSignal(controller.reply_failed, timeout=TIMEOUT_MS):
        assert controller.send("hi")
    live = controller.message(1)
    assert live.text and "fell over" in live.error
    shown_history = controller.conversation.history()
    controller.close()

    reopened = open_controller()
    again = reopened.message(1)
    assert again.text == live.text and again.error == live.error and again.finish_reason == "error"
    assert reopened.conversation.history() == shown_history == [{"role": "user", "content": "hi"}]
