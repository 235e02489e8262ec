"""The model worker on its own thread: loading, streaming in batches, cancelling, surviving errors."""

from __future__ import annotations

import threading
import time

import pytest
from PySide6.QtCore import QObject, Signal, Slot

from app.backend import EngineBackend, GenerateRequest
from app.failures import FailureKind
from app.worker import TokenBatcher, Worker, WorkerThread
from engine.events import TokenEvent
from engine.sampling import SamplingSettings
from tests.app.fakes import BROKEN, REPLY, FakeBackend, FakeSession, split_tokens

TIMEOUT_MS = 20000
SLOW_TIMEOUT_MS = 180000


class Requests(QObject):
    """Asks the worker the way the controller does: queued signals into its thread."""

    load = Signal(str)
    generate = Signal(int, object)


class Recorder(QObject):
    """Hears the worker the way the controller does: slots of a GUI-thread object (queued)."""

    def __init__(self, worker):
        super().__init__()
        self.loaded, self.load_failed, self.batches, self.finished, self.failed = [], [], [], [], []
        worker.model_loaded.connect(self.on_loaded)
        worker.model_failed.connect(self.on_load_failed)
        worker.tokens.connect(self.on_tokens)
        worker.finished.connect(self.on_finished)
        worker.failed.connect(self.on_failed)

    @Slot(object)
    def on_loaded(self, info):
        self.loaded.append(info)

    @Slot(str)
    def on_load_failed(self, message):
        self.load_failed.append(message)

    @Slot(int, object)
    def on_tokens(self, rid, batch):
        self.batches.append((rid, batch))

    @Slot(int, object)
    def on_finished(self, rid, stats):
        self.finished.append((rid, stats))

    @Slot(int, str)
    def on_failed(self, rid, message):
        self.failed.append((rid, message))

    def records(self):
        return [r for _, batch in self.batches for r in batch]


@pytest.fixture
def worker_for(qtbot):
    started = []

    def make(backend, **kwargs):
        thread = WorkerThread(Worker(backend, **kwargs))
        requests = Requests()
        requests.load.connect(thread.worker.load_model)
        requests.generate.connect(thread.worker.generate)
        started.append(thread)
        return thread.worker, requests, Recorder(thread.worker)

    yield make
    for thread in started:
        thread.stop()


def request(text: str = "hi", max_new_tokens: int = 64) -> GenerateRequest:
    return GenerateRequest(text, SamplingSettings(), max_new_tokens=max_new_tokens)


def test_batcher_coalesces_by_time():
    now = [0.0]
    flushed = []
    b = TokenBatcher(flushed.append, interval_s=0.04, clock=lambda: now[0])
    b.add(1)  # the first token goes out at once
    for t, item in ((0.01, 2), (0.02, 3), (0.03, 4)):
        now[0] = t
        b.add(item)
    assert flushed == [[1]]
    now[0] = 0.05
    b.add(5)
    assert flushed == [[1], [2, 3, 4, 5]]
    now[0] = 0.06
    b.add(6)
    b.flush()  # the end of a reply flushes what is left
    assert flushed == [[1], [2, 3, 4, 5], [6]]


def test_batcher_flushes_the_ending_record_at_once_and_asks_to_be_woken_for_held_ones():
    now, flushed, wakes = [0.0], [], []
    b = TokenBatcher(flushed.append, interval_s=0.04, clock=lambda: now[0], wake=wakes.append)
    b.add(1)
    now[0] = 0.01
    b.add(2)  # held: the batcher asks to be woken when it is due, 0.03 s on
    assert flushed == [[1]] and wakes == [pytest.approx(0.03)]
    now[0] = 0.02
    b.add(3)  # already waiting for that wake-up
    b.flush_due()  # a wake-up too early flushes nothing and asks again for the rest
    assert flushed == [[1]] and wakes[1:] == [pytest.approx(0.02)]
    now[0] = 0.04
    b.flush_due()
    assert flushed == [[1], [2, 3]]
    now[0] = 0.05
    b.add(TokenEvent(index=3, token=2, text="", piece="", logprob=0.0, sampled_logprob=0.0, entropy=0.0, finish_reason="eos"))  # the end of the reply: not held
    assert [len(batch) for batch in flushed] == [1, 2, 1]


def loaded(qtbot, req, rec, spec="default", timeout=TIMEOUT_MS):
    req.load.emit(spec)
    qtbot.waitUntil(lambda: bool(rec.loaded or rec.load_failed), timeout=timeout)
    return rec.loaded[-1] if rec.loaded else None


def generated(qtbot, req, rec, rid, request, timeout=TIMEOUT_MS):
    req.generate.emit(rid, request)
    qtbot.waitUntil(lambda: any(r == rid for r, _ in rec.finished + rec.failed), timeout=timeout)
    return next(x for r, x in rec.finished + rec.failed if r == rid)


def test_load_then_generate_streams_plain_records(qtbot, worker_for):
    worker, req, rec = worker_for(FakeBackend())
    assert loaded(qtbot, req, rec)["display_name"] == "Fake default"
    stats = generated(qtbot, req, rec, 1, request())
    assert stats["finish_reason"] == "eos"
    assert all(isinstance(r, TokenEvent) for r in rec.records())
    assert "".join(r.text for r in rec.records()) == REPLY
    assert {rid for rid, _ in rec.batches} == {1}


def test_batches_coalesce_a_fast_stream(qtbot, worker_for):
    frozen = lambda: 0.0  # noqa: E731 - a clock that never advances: everything after the first waits
    worker, req, rec = worker_for(FakeBackend(), clock=frozen)
    loaded(qtbot, req, rec)
    generated(qtbot, req, rec, 1, request())
    assert [len(b) for _, b in rec.batches] == [1, len(split_tokens(REPLY))]  # the rest, end-of-turn token too


def test_a_failed_load_keeps_the_previous_model(qtbot, worker_for):
    worker, req, rec = worker_for(FakeBackend())
    loaded(qtbot, req, rec)
    req.load.emit(f"/tmp/{BROKEN}")
    qtbot.waitUntil(lambda: bool(rec.load_failed), timeout=TIMEOUT_MS)
    assert "corrupt" in rec.load_failed[0]
    assert generated(qtbot, req, rec, 2, request())["finish_reason"] == "eos"


def test_generate_without_a_model_fails_cleanly(qtbot, worker_for):
    worker, req, rec = worker_for(FakeBackend())
    failure = generated(qtbot, req, rec, 1, request())
    assert failure.kind is FailureKind.NO_MODEL and "No model" in failure.message


def test_an_exception_comes_back_as_a_signal_and_the_thread_lives(qtbot, worker_for):
    worker, req, rec = worker_for(FakeBackend())
    loaded(qtbot, req, rec)
    failure = generated(qtbot, req, rec, 1, request("explode"))
    assert failure.kind is FailureKind.UNEXPECTED and "exploded" in failure.message
    assert generated(qtbot, req, rec, 2, request())["finish_reason"] == "eos"


def test_cancel_stops_a_streaming_reply(qtbot, worker_for):
    worker, req, rec = worker_for(FakeBackend(endless=True))
    loaded(qtbot, req, rec)
    req.generate.emit(5, request())
    qtbot.waitUntil(lambda: bool(rec.batches), timeout=TIMEOUT_MS)
    # the worker is inside an endless stream: only the thread-safe flag can reach it now
    worker.cancel(5)
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=TIMEOUT_MS)
    rid, stats = rec.finished[0]
    assert rid == 5 and stats["finish_reason"] == "cancelled"
    assert len(rec.records()) == stats["generated_tokens"]


def test_cancel_before_start_skips_the_request(qtbot, worker_for):
    backend = FakeBackend()
    worker, req, rec = worker_for(backend)
    loaded(qtbot, req, rec)
    worker.cancel(3)
    assert generated(qtbot, req, rec, 3, request())["finish_reason"] == "cancelled"
    assert backend.sessions[0].requests == []


@pytest.mark.slow
def test_real_engine_streams_plain_values(qtbot, worker_for):
    worker, req, rec = worker_for(EngineBackend())
    info = loaded(qtbot, req, rec, timeout=SLOW_TIMEOUT_MS)
    assert info["architecture"] == "llama" and info["context_length"] == 8192
    greedy = GenerateRequest("What is the capital of France?", SamplingSettings(temperature=0.0), max_new_tokens=6)
    stats = generated(qtbot, req, rec, 1, greedy, SLOW_TIMEOUT_MS)
    records = rec.records()
    assert 1 <= len(records) == stats["generated_tokens"] <= 6
    assert stats["prompt_tokens"] > 5 and stats["kv_bytes"] > 0
    for r in records:
        assert type(r.token) is int and type(r.logprob) is float and type(r.entropy) is float
        assert all(type(i) is int and type(p) is str and type(lp) is float for i, p, lp in r.top_raw)
        assert r.top_raw[0][2] >= r.top_raw[-1][2]
    reply = "".join(r.text for r in records)
    assert "Paris" in reply
    # the second turn reuses the first one's KV cache (prompt cache)
    history = ({"role": "user", "content": greedy.user_message}, {"role": "assistant", "content": reply})
    follow = GenerateRequest("And of Italy?", SamplingSettings(temperature=0.0), history, max_new_tokens=4)
    assert generated(qtbot, req, rec, 2, follow, SLOW_TIMEOUT_MS)["cached_tokens"] > 0


@pytest.mark.slow
def test_real_engine_fits_the_conversation_to_the_context_window(qtbot, worker_for):
    worker, req, rec = worker_for(EngineBackend())
    loaded(qtbot, req, rec, timeout=SLOW_TIMEOUT_MS)
    history = tuple(
        {"role": role, "content": f"Message number {i} talks about gardens, rivers and old bridges."}
        for i in range(30) for role in ("user", "assistant")
    )
    small = GenerateRequest("Hello?", SamplingSettings(temperature=0.0), history, "Be brief.",
                            max_new_tokens=4, context_length=256)
    stats = generated(qtbot, req, rec, 1, small, SLOW_TIMEOUT_MS)
    assert stats["dropped_messages"] > 0 and stats["prompt_tokens"] <= 256 - 4
    too_long = GenerateRequest("word " * 400, SamplingSettings(), max_new_tokens=4, context_length=256)
    failure = generated(qtbot, req, rec, 2, too_long, SLOW_TIMEOUT_MS)
    assert failure.kind is FailureKind.CONTEXT_TOO_LONG and "Shorten the message" in failure.message


class WarmingSession(FakeSession):
    """Records when its warm-up pieces and its replies run (in the worker thread). Piece 1 runs
    until the test has asked for a reply (`asked`), so the reply is asked for during the warm-up
    however late the test's thread sees piece 0 (on a busy machine it saw it after piece 2)."""

    log: list[str] = []
    asked = threading.Event()

    def warm_up(self):
        for i in range(4):
            if i == 1:
                self.asked.wait(TIMEOUT_MS / 1000)
            else:
                time.sleep(0.1)
            self.log.append(f"piece {i}")
            yield f"piece {i}"

    def stream(self, request, should_stop, progress):
        self.log.append("reply")
        yield from super().stream(request, should_stop, progress)


def test_the_warm_up_after_a_load_runs_piece_by_piece_behind_a_reply(qtbot, worker_for):
    WarmingSession.log = log = []
    WarmingSession.asked = asked = threading.Event()
    worker, req, rec = worker_for(FakeBackend(session=WarmingSession))
    assert loaded(qtbot, req, rec)
    qtbot.waitUntil(lambda: "piece 0" in log, timeout=TIMEOUT_MS)  # it starts on its own once idle
    req.generate.emit(1, request())
    asked.set()
    qtbot.waitUntil(lambda: bool(rec.finished), timeout=TIMEOUT_MS)
    assert rec.finished[0][0] == 1 and rec.finished[0][1]["finish_reason"] == "eos"
    qtbot.waitUntil(lambda: "piece 3" in log, timeout=TIMEOUT_MS)  # and finishes after the reply
    # the reply asked for during the warm-up waited for the piece running then, not for the rest
    assert log.index("reply") <= log.index("piece 0") + 2 < log.index("piece 3")
    assert log.count("reply") == 1 and sorted(x for x in log if x != "reply") == [f"piece {i}" for i in range(4)]
