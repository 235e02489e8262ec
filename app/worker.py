"""The model worker: one QObject on its own QThread that owns the loaded model and its caches.

The GUI asks through queued slots (`load_model`, `generate`) and hears back through signals that
carry plain Python values. `cancel` is a plain thread-safe method (it only records the request id),
so it takes effect while a reply is streaming instead of waiting in the worker's queue. Token
events are coalesced into batches at most every `batch_interval_s`, so the GUI repaints a few
dozen times a second however fast the model runs, and none waits longer than that
(`app.token_batcher`). Every error comes back as a signal; the thread
never dies, and a model that fails to load leaves the previous one loaded and usable.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, QTimer, Signal, Slot

from app.backend import Backend, BackendError, GenerateRequest, ReplyDone, Session
from app.failures import Failure, FailureKind
from app.threads import MODEL_THREAD_STACK_BYTES
from app.token_batcher import FlushTimer, TokenBatcher
from engine.events import TokenEvent

DEFAULT_BATCH_INTERVAL_S = 0.04
WARM_UP_DELAY_MS = 500  # after a load, the window settles (and a first message may come) before the warm-up starts


class Worker(QObject):
    model_loading = Signal(float, str)  # progress 0..1 (-1: unknown), what is happening
    model_loaded = Signal(object)  # info dict
    model_failed = Signal(str)
    prefill_progress = Signal(int, int, int)  # request id, prompt tokens done, total
    tokens = Signal(int, object)  # request id, [TokenEvent, ...]
    finished = Signal(int, object)  # request id, stats dict
    failed = Signal(int, object)  # request id, Failure
    token_count = Signal(int, int)  # ticket, tokens (-1: no model loaded, or not countable text)
    inspected = Signal(int, object)  # request id, the Inspector's report (app.inspection)
    inspect_failed = Signal(int, str)  # request id, message
    inspect_progress = Signal(int, int, int)  # request id, done, total (a long inspection: a full map)

    def __init__(
        self,
        backend: Backend,
        batch_interval_s: float = DEFAULT_BATCH_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__()
        self._backend = backend
        self._session: Session | None = None
        self._batch_interval_s, self._clock = batch_interval_s, clock
        self._cancelled: set[int] = set()
        self._inspections: dict[type, tuple[int, object]] = {}  # kind -> newest unserved request
        self._stopped_inspections: set[int] = set()
        self._lock = threading.Lock()
        self._warming: tuple[Session, Any] | None = None  # (session, its warm-up pieces) not yet built

    @property
    def session(self) -> Session | None:
        """The loaded model's session (None before a load); used only on the worker's thread."""
        return self._session

    # -- called from any thread ------------------------------------------------------------

    def cancel(self, request_id: int) -> None:
        """Stop request `request_id` at its next token (or before it starts). Thread-safe."""
        with self._lock:
            self._cancelled.add(request_id)

    def _is_cancelled(self, request_id: int) -> bool:
        with self._lock:
            return request_id in self._cancelled

    # -- slots, run in the worker thread ---------------------------------------------------

    @Slot(str)
    def load_model(self, spec: str) -> None:
        try:
            session = self._backend.load(spec, lambda p, text: self.model_loading.emit(float(p), text))
        except BackendError as e:
            self.model_failed.emit(str(e))
            return
        except Exception as e:  # an unexpected failure must not kill the thread
            traceback.print_exc()
            self.model_failed.emit(f"Could not load {spec}: {type(e).__name__}: {e}")
            return
        self._session = session
        self.model_loaded.emit(dict(session.info))
        self._housekeeping()
        warm = getattr(session, "warm_up", None)
        self._warming = (session, warm()) if warm is not None else None
        QTimer.singleShot(WARM_UP_DELAY_MS, self, self._warm_up_step)

    @Slot()
    def _warm_up_step(self) -> None:
        """One piece of the loaded model's Inspector tables (Session.warm_up), then the next one
        posted behind whatever the window asked for meanwhile: a reply or an inspection asked for
        during the warm-up waits for one piece at most, never for all of it."""
        if self._warming is None:
            return
        session, pieces = self._warming
        if session is not self._session:  # another model was loaded since: its own warm-up runs
            return
        try:
            next(pieces)
        except StopIteration:
            self._warming = None
            return
        except Exception:  # the first inspection builds what failed here, and says why if it fails again
            traceback.print_exc()
            self._warming = None
            return
        QTimer.singleShot(0, self, self._warm_up_step)

    @Slot(int, object)
    def generate(self, request_id: int, request: GenerateRequest) -> None:
        if self._is_cancelled(request_id):
            with self._lock:
                self._cancelled.discard(request_id)
            self.finished.emit(request_id, {"finish_reason": "cancelled", "generated_tokens": 0})
            return
        if self._session is None:
            self.failed.emit(request_id, Failure(FailureKind.NO_MODEL, "No model is loaded. Choose one in the Model menu."))
            return
        self._serve(request_id, request)
        self._housekeeping()  # after the reply's last signal, so saving caches never delays it

    def submit_inspection(self, request_id: int, request: object) -> None:
        """Ask for the Inspector's numbers (app.inspection). Thread-safe: the newest request of a
        kind replaces one of that kind not yet served; pending requests are served between two
        tokens of a streaming reply, or by the `inspect_pending` slot (which the caller also
        signals) when the worker is idle."""
        with self._lock:
            self._inspections[type(request)] = (request_id, request)

    def stop_inspection(self, request_id: int) -> None:
        """Stop a long inspection (a full attention map) at its next chunk. Thread-safe."""
        with self._lock:
            self._stopped_inspections.add(request_id)

    def _inspection_stopped(self, request_id: int, kind: type) -> bool:
        """Stopped by the Inspector, or replaced: a newer request of its kind is waiting."""
        with self._lock:
            return request_id in self._stopped_inspections or kind in self._inspections

    @Slot()
    def inspect_pending(self) -> None:
        while True:
            with self._lock:
                if not self._inspections:
                    return
                job = self._inspections.pop(next(iter(self._inspections)))
            self._inspect(*job)

    def _inspect(self, request_id: int, request: object) -> None:
        if self._session is None:
            self.inspect_failed.emit(request_id, "No model is loaded.")
            return
        try:
            report = self._session.inspect(
                request,
                lambda done, total: self.inspect_progress.emit(request_id, done, total),
                lambda: self._inspection_stopped(request_id, type(request)),
            )
        except (BackendError, ValueError) as e:
            self.inspect_failed.emit(request_id, str(e))
            return
        except Exception as e:  # an unexpected failure must not kill the thread
            traceback.print_exc()
            self.inspect_failed.emit(request_id, f"Inspection failed: {type(e).__name__}: {e}")
            return
        finally:
            with self._lock:
                self._stopped_inspections.discard(request_id)
        if report is None:
            self.inspect_failed.emit(request_id, "Stopped.")
        else:
            self.inspected.emit(request_id, report)

    @Slot(object)
    def run_call(self, call: Callable[[], None]) -> None:
        """Run `call()` on the worker's thread, in turn with the window's replies (the API server's
        requests queue here: app/api_service.py). It must handle its own errors; one that escapes
        is printed, and the thread goes on."""
        try:
            call()
        except Exception:
            traceback.print_exc()

    @Slot(int, str)
    def count_tokens(self, ticket: int, text: str) -> None:
        """Count `text`'s tokens with the loaded model's tokenizer; answered by `token_count`."""
        try:
            count = self._session.count_tokens(text) if self._session is not None else -1
        except Exception:  # not valid text (a lone surrogate): not countable, not fatal
            traceback.print_exc()
            count = -1
        self.token_count.emit(ticket, count)

    @Slot(str)
    def forget_conversation(self, conversation_id: str) -> None:
        if self._session is not None:
            try:
                self._session.forget_conversation(conversation_id)
            except Exception:  # a file left behind is pruned later; not worth the thread
                traceback.print_exc()

    def _housekeeping(self) -> None:
        try:
            self._session.housekeeping()
        except Exception:  # losing a saved cache is not worth losing the thread
            traceback.print_exc()

    def _serve(self, request_id: int, request: GenerateRequest) -> None:
        timer = FlushTimer(lambda: batcher.flush_due())  # held tokens go out while the model computes
        batcher = TokenBatcher(lambda batch: self.tokens.emit(request_id, batch), self._batch_interval_s,
                               self._clock, timer.after)
        last_progress = [0.0]

        def progress(done: int, total: int) -> None:
            now = self._clock()
            if done == total or now - last_progress[0] >= self._batch_interval_s:
                last_progress[0] = now
                self.prefill_progress.emit(request_id, done, total)

        stats: dict = {}
        try:
            for item in self._session.stream(request, lambda: self._is_cancelled(request_id), progress):
                if isinstance(item, ReplyDone):
                    stats = item.stats
                elif isinstance(item, TokenEvent) and item.token is not None:
                    batcher.add(item)
                if self._inspections:  # the Inspector follows the reply as it streams
                    batcher.flush()
                    self.inspect_pending()
            batcher.flush()
        except BackendError as e:
            batcher.flush()
            self.failed.emit(request_id, Failure(e.kind, str(e)))
            return
        except Exception as e:
            traceback.print_exc()
            batcher.flush()
            self.failed.emit(request_id, Failure(FailureKind.UNEXPECTED, f"Generation failed: {type(e).__name__}: {e}"))
            return
        finally:
            timer.close()
            with self._lock:
                self._cancelled.discard(request_id)
        self.finished.emit(request_id, stats)


WORKER_NICENESS = 5


def lower_thread_priority() -> None:
    """Run in the worker thread: make it (and the compute threads it starts) yield to the GUI.

    On a machine whose cores are all busy with the model, the GUI thread otherwise waits its turn
    behind the compute threads. Linux can renice one thread (by its native id); elsewhere this
    does nothing, and Qt's own thread priorities do not apply to normal-policy threads.
    """
    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WORKER_NICENESS)
        except OSError:
            pass


class WorkerThread:
    """Starts a Worker on its own QThread and stops it cleanly."""

    def __init__(self, worker: Worker):
        self.worker = worker
        self.thread = QThread()
        self.thread.setObjectName("glassbox-model-worker")
        self.thread.setStackSize(MODEL_THREAD_STACK_BYTES)  # macOS gives secondary threads 512 KiB
        worker.moveToThread(self.thread)
        self.thread.started.connect(lower_thread_priority, Qt.ConnectionType.DirectConnection)
        self.thread.start()

    def stop(self, cancel_request: int | None = None, timeout_ms: int = 30000) -> None:
        if cancel_request is not None:
            self.worker.cancel(cancel_request)
        self.thread.quit()
        self.thread.wait(timeout_ms)
