"""InspectorService with a fake backend: requests reach the worker thread, stale answers are dropped,
and a failure comes back as a message (the worker thread survives)."""

from __future__ import annotations

from app.controller import ChatController
from app.inspector import InspectorService
from app.settings import Settings
from app.worker import Worker, WorkerThread
from tests.app.fakes import FakeBackend


def test_counts_and_failures_come_back_by_signal(qtbot):
    worker = Worker(FakeBackend())
    thread = WorkerThread(worker)
    try:
        controller = ChatController(worker, Settings())
        with qtbot.waitSignal(controller.model_loaded, timeout=10000):
            controller.load_model("default")
        service = InspectorService(controller, worker)
        counts = []
        service.count_ready.connect(lambda text, n: counts.append((text, n)))
        service.count_tokens("one two")
        service.count_tokens("one two three")  # replaces the first if it was not served yet
        qtbot.waitUntil(lambda: bool(counts) and counts[-1] == ("one two three", 3), timeout=10000)
        assert counts == [("one two three", 3)]  # the first answer, if any, was stale: dropped
        with qtbot.waitSignal(service.failed, timeout=10000) as failed:
            service.lookup("Paris")
        assert "cannot be inspected" in failed.args[0]
        with qtbot.waitSignal(service.count_ready, timeout=10000):  # the worker thread still serves
            service.count_tokens("four")
    finally:
        thread.stop()
