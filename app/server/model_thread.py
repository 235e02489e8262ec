"""One thread that owns the loaded session and runs requests on it one at a time, in arrival order.

A request is a `work(should_stop)` callable returning an iterator; each item it yields is handed to
the request's `deliver` callback (from the model thread), then `deliver(DONE)`, or
`deliver(exception)` if the work raised. Setting the job's `stop` event makes `should_stop()`
true, which the engine checks before every token. `submit` raises `QueueFull` when `max_waiting`
requests are already waiting, so a flood of clients gets a clear refusal instead of an unbounded
queue. Qt-free: the window and `glassbox serve` can both drive it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from app.threads import start_thread

log = logging.getLogger(__name__)

DONE = object()  # delivered after a request's last item
Work = Callable[[Callable[[], bool]], Iterator[Any]]
Deliver = Callable[[Any], None]


class QueueFull(RuntimeError):
    """Too many requests are waiting for the model; the message says how many."""


class ServerClosing(QueueFull):
    """The server is shutting down: no request is taken any more."""


@dataclass
class Job:
    work: Work
    deliver: Deliver
    stop: threading.Event = field(default_factory=threading.Event)


class JobQueue:
    """Requests for one model, run one at a time in arrival order: the waiting ones are bounded
    (`submit` raises QueueFull past `max_waiting`), and `close()` ends serving. Where the jobs run
    is the subclass's: `_dispatch(job)` hands a job to the model's thread, which calls `run(job)`."""

    def __init__(self, max_waiting: int = 8):
        self.max_waiting = max_waiting
        self._lock = threading.Lock()
        self._waiting = 0
        self._running: Job | None = None
        self._closed = False

    @property
    def waiting(self) -> int:
        return self._waiting

    @property
    def busy(self) -> bool:
        return self._running is not None

    def submit(self, work: Work, deliver: Deliver) -> Job:
        with self._lock:
            if self._closed:
                raise ServerClosing("the server is shutting down")
            if self._waiting >= self.max_waiting:
                raise QueueFull(
                    f"the model is busy: {self._waiting} requests are already waiting (at most "
                    f"{self.max_waiting}); try again when one has finished"
                )
            self._waiting += 1
        job = Job(work, deliver)
        self._dispatch(job)
        return job

    def _dispatch(self, job: Job) -> None:
        raise NotImplementedError

    def run(self, job: Job) -> None:
        """Run one dispatched job, on the model's thread: its items, then DONE (or the exception)."""
        with self._lock:
            self._waiting -= 1
            closed, self._running = self._closed, job
        try:
            if closed:
                _send(job, ServerClosing("the server is shutting down"))
                return
            if job.stop.is_set():  # its client left while it waited
                _send(job, DONE)
                return
            try:
                for item in job.work(job.stop.is_set):
                    _send(job, item)
                _send(job, DONE)
            except Exception as e:  # handed to the request, which answers it; the thread goes on
                log.debug("request failed on the model thread", exc_info=True)
                _send(job, e)
        finally:
            self._running = None

    def close(self, timeout: float = 10.0) -> None:
        """Refuse new requests (and waiting ones, as they come up), stop the running one and wait
        (up to `timeout` s) for it to end."""
        with self._lock:
            self._closed = True
        running = self._running
        if running is not None:
            running.stop.set()
        deadline = time.monotonic() + timeout
        while self._running is not None and time.monotonic() < deadline:
            time.sleep(0.01)


class ModelThread(JobQueue):
    """Serialises requests onto one session on a thread of its own (`glassbox serve`, tests)."""

    def __init__(self, max_waiting: int = 8):
        super().__init__(max_waiting)
        self._jobs: queue.Queue[Job] = queue.Queue()
        self._thread = start_thread(self._loop, "glassbox-model")

    def _dispatch(self, job: Job) -> None:
        self._jobs.put(job)

    def close(self, timeout: float = 10.0) -> None:
        """Refuse new and waiting requests, stop the running one and wait (up to `timeout` s) for it.

        The thread itself stays parked on its empty queue (a daemon) rather than exiting: a thread
        that has run MLX work and exits while the interpreter shuts down raced MLX's own teardown
        and aborted the process ("terminate called without an active exception", 2 runs in 15 of
        `glassbox serve` stopped with Ctrl+C right after a reply)."""
        with self._lock:
            self._closed = True
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            with self._lock:
                self._waiting -= 1
            _send(job, ServerClosing("the server is shutting down"))
        super().close(timeout)

    def _loop(self) -> None:
        while True:
            self.run(self._jobs.get())


def _send(job: Job, item: Any) -> None:
    """Hand `item` to the job's receiver; a receiver that is gone (its event loop closed) stops the job."""
    try:
        job.deliver(item)
    except Exception:
        log.debug("a request's receiver is gone; stopping it", exc_info=True)
        job.stop.set()
