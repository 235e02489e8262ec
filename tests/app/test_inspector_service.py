"""InspectorService with a fake backend: requests reach the worker thread, stale answers are dropped,
and a failure comes back as a message (the worker thread survives)."""

from __future__ import annotations

from app.controller import ChatController
from app.inspector import InspectorService
from app.settings import Settings
from app.worker import Worker, WorkerThread
from tests.app.fakes import FakeBackend


def test_answers_come_back_by_signal_and_stale_ones_are_dropped(qtbot):
    worker = Worker(FakeBackend())
    thread = WorkerThread(worker)
    try:
        controller = ChatController(worker, Settings())
        with qtbot.waitSignal(controller.model_loaded, timeout=10000):
            controller.load_model("default")
        service = InspectorService(controller, worker)
        failures, busy = [], []
        service.failed.connect(failures.append)
        service.busy_changed.connect(busy.append)
        service.lookup("Paris")
        service.lookup("Rome")  # replaces the first: its answer, if it is served, is stale
        qtbot.waitUntil(lambda: busy[-1] is False, timeout=10000)
        assert failures == ["the fake backend cannot be inspected"]  # once: the stale one dropped
        with qtbot.waitSignal(service.failed, timeout=10000):  # the worker thread still serves
            service.analogy("a", "b", "c")
    finally:
        thread.stop()
