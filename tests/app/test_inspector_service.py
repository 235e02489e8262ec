"""InspectorService with a fake backend: requests reach the worker thread, stale answers are dropped,
and a failure comes back as a message (the worker thread survives)."""

from __future__ import annotations

import time
from contextlib import contextmanager

from app.controller import ChatController
from app.inspection import MapRequest
from app.inspector import InspectorService
from app.settings import Settings
from app.worker import Worker, WorkerThread
from tests.app.fakes import FakeBackend, FakeSession


@contextmanager
def inspector_service(qtbot, backend: FakeBackend):
    """An InspectorService on a real worker thread with `backend`'s model loaded."""
    worker = Worker(backend)
    thread = WorkerThread(worker)
    try:
        controller = ChatController(worker, Settings())
        with qtbot.waitSignal(controller.model_loaded, timeout=10000):
            controller.load_model("default")
        yield InspectorService(controller, worker)
    finally:
        thread.stop()


def test_answers_come_back_by_signal_and_stale_ones_are_dropped(qtbot):
    with inspector_service(qtbot, FakeBackend()) as service:
        failures, busy = [], []
        service.failed.connect(failures.append)
        service.busy_changed.connect(busy.append)
        service.lookup("Paris")
        service.lookup("Rome")  # replaces the first: its answer, if it is served, is stale
        qtbot.waitUntil(lambda: busy[-1] is False, timeout=10000)
        assert failures == ["the fake backend cannot be inspected"]  # once: the stale one dropped
        with qtbot.waitSignal(service.failed, timeout=10000):  # the worker thread still serves
            service.analogy("a", "b", "c")


class SlowMapSession(FakeSession):
    """A full map that takes 200 chunks of 10 ms, reporting progress and asking to stop between them.
    A map of layer 3 stays at its fifth chunk until it is stopped or replaced (at most 30 s): the
    2 s it would take are less than a busy machine's GUI thread may take to ask."""

    def inspect(self, request, progress=None, should_stop=None):
        if not isinstance(request, MapRequest):
            return super().inspect(request, progress, should_stop)
        for done in range(1, 201):
            if should_stop():
                return None
            time.sleep(0.01)
            progress(done, 200)
            held_until = time.monotonic() + 30 if done == 5 and request.layer == 3 else 0
            while time.monotonic() < held_until and not should_stop():
                time.sleep(0.01)
        return {"layer": request.layer, "head": request.head, "weights": None}


def test_a_full_map_reports_progress_and_can_be_stopped_without_blocking(qtbot):
    with inspector_service(qtbot, FakeBackend(session=SlowMapSession)) as service:
        progress, maps, failures = [], [], []
        service.map_progress.connect(lambda d, t: progress.append((d, t)))
        service.map_ready.connect(maps.append)
        service.failed.connect(failures.append)
        service.attention_map(3, 1)
        qtbot.waitUntil(lambda: len(progress) >= 5, timeout=10000)  # the GUI thread runs meanwhile
        service.stop_map()
        qtbot.waitUntil(lambda: failures == ["Stopped."], timeout=10000)
        assert progress[-1][0] < 200 and all(t == 200 for _d, t in progress) and not maps
        # a newer map replaces one being computed: only the newest arrives
        progress.clear()
        service.attention_map(3, 1)
        qtbot.waitUntil(lambda: len(progress) >= 5, timeout=10000)
        service.attention_map(4, 2)
        qtbot.waitUntil(lambda: bool(maps), timeout=20000)
        assert [(m["layer"], m["head"]) for m in maps] == [(4, 2)]
