"""The worker saves caches only after the reply's last signal, and a failing save costs nothing."""

from __future__ import annotations

from app.backend import GenerateRequest
from app.worker import Worker
from engine.sampling import SamplingSettings
from tests.app.fakes import FakeBackend


def make_worker():
    worker = Worker(FakeBackend(), batch_interval_s=0.0)
    events: list[str] = []
    worker.model_loaded.connect(lambda info: events.append("loaded"))
    worker.finished.connect(lambda request_id, stats: events.append("finished"))
    worker.failed.connect(lambda request_id, message: events.append("failed"))
    worker.load_model("fake")
    return worker, events


def test_housekeeping_runs_after_the_load_and_after_each_reply_is_signalled():
    worker, events = make_worker()
    session = worker._session
    session.housekeeping = lambda: events.append("housekeeping")
    worker.generate(1, GenerateRequest("hi", SamplingSettings()))
    worker.generate(2, GenerateRequest("explode", SamplingSettings()))
    assert events == ["loaded", "finished", "housekeeping", "failed", "housekeeping"]
    assert session.housekeeping_calls == 1  # the load's, before the recorder was put in


def test_a_failing_save_does_not_stop_the_next_reply(capsys):
    worker, events = make_worker()

    def broken():
        raise OSError("disk full")

    worker._session.housekeeping = broken
    worker.generate(1, GenerateRequest("hi", SamplingSettings()))
    worker.generate(2, GenerateRequest("hi", SamplingSettings()))
    assert events == ["loaded", "finished", "finished"]
    assert "disk full" in capsys.readouterr().err
