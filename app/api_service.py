"""The OpenAI-compatible API inside the window's process (Preferences → Server): the same server
code as `glassbox serve` (app/server), run on a background thread, its requests executed on the
window's own model worker, so they queue behind the window's replies and use the loaded model.

`ApiService.apply(app_settings)` starts, restarts or stops the server to match the settings;
`state()` says where it listens (or why it does not) and how many requests are running; `requests`
keeps the recent ones for the Requests view. Signals are emitted in the GUI thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal

from app.backend import BackendError
from app.failures import FailureKind
from app.server.listen import listen_problems
from app.server.model_thread import Job, JobQueue
from app.server.request_log import RequestLog, ServedRequest
from app.server.served_model import ServedModel
from app.settings import AppSettings, CacheConfig
from app.worker import Worker

if TYPE_CHECKING:  # the web framework is imported when the server starts, not with the window (~1.5 s CPU)
    from app.server.background import BackgroundServer

NO_MODEL = "no model is loaded in Glassbox yet; try again when it has loaded"


class WorkerSession:
    """The worker's current session, looked up when a request runs (on the worker's thread): a
    model loaded in the window after the server started is the one that answers."""

    def __init__(self, worker: Worker):
        self._worker = worker

    def __getattr__(self, name: str):
        session = self._worker.session
        if session is None:
            raise BackendError(NO_MODEL, FailureKind.NO_MODEL)
        return getattr(session, name)


class WorkerQueue(JobQueue):
    """Jobs run on the window's model worker, queued behind whatever it is doing."""

    def __init__(self, worker: Worker, max_waiting: int = 8):
        super().__init__(max_waiting)
        self._relay = _Relay()
        self._relay.call.connect(worker.run_call, Qt.ConnectionType.QueuedConnection)

    def _dispatch(self, job: Job) -> None:
        self._relay.call.emit(lambda: self.run(job))


class _Relay(QObject):
    call = Signal(object)


@dataclass(frozen=True)
class ServerState:
    """What the status bar says: where the server listens (None: it does not), why not, and load."""

    address: str | None  # "http://127.0.0.1:8321/v1"
    running: int  # requests being answered or waiting
    problem: str = ""  # why it is not listening although turned on

    def text(self) -> str:
        if self.problem:
            return f"API off: {self.problem}"
        if self.address is None:
            return ""
        return f"API {self.address} · {self.running} running"


class ApiService(QObject):
    """Starts and stops the API to match the settings; emits `changed` when its state does and
    `request_seen(ServedRequest)` when a request starts or ends."""

    changed = Signal()
    request_seen = Signal(object)
    _seen = Signal(object)  # from the server's thread; relayed in the GUI thread

    def __init__(self, worker: Worker, parent: QObject | None = None):
        super().__init__(parent)
        self._worker = worker
        self.requests = RequestLog()
        self.served = ServedModel(WorkerSession(worker), "no model loaded", CacheConfig())
        self._server: BackgroundServer | None = None
        self._queue: WorkerQueue | None = None
        self._listening: tuple[str, int, str] | None = None
        self._problem = ""
        self._seen.connect(self._on_seen, Qt.ConnectionType.QueuedConnection)
        self.requests.listen(self._seen.emit)

    # -- the model the API serves -----------------------------------------------------------

    def set_model(self, info: dict | None) -> None:
        """The name clients see (GET /v1/models, each answer's "model")."""
        self.served.name = str((info or {}).get("display_name") or "no model loaded")

    def set_cache(self, cache: CacheConfig) -> None:
        self.served.cache = cache  # the window's: one KV kind, so the two never evict each other's caches

    # -- on and off ---------------------------------------------------------------------------

    def apply(self, app: AppSettings) -> None:
        """Match the server to `app`'s server settings (and the cache settings)."""
        self.set_cache(app.cache_config)
        wanted = (app.server_host.strip(), app.server_port, app.server_api_key.strip()) if app.server_enabled else None
        if wanted == self._listening and (wanted is None or self._server is not None):
            return
        self.stop()
        if wanted is not None:
            self.start(*wanted)

    def start(self, host: str, port: int, api_key: str = "") -> bool:
        """Listen on host:port; False (and `state().problem` says why) when it cannot."""
        self.stop()
        self._listening = (host, port, api_key)
        if problems := listen_problems(host, port, api_key, port_min=1):  # settings are checked already; never open up
            self._problem = "; ".join(problems.values())
            self.changed.emit()
            return False
        from app.server.background import BackgroundServer, ServerStartError
        from app.server.routes import create_app

        self._queue = WorkerQueue(self._worker)
        api = create_app(self.served, self._queue, api_key or None, requests=self.requests)
        server = BackgroundServer(api, host, port)
        try:
            self._server = server.start()
            self._problem = ""
        except ServerStartError as e:
            self._server, self._problem = None, str(e)
        self.changed.emit()
        return self._server is not None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop listening; a request being answered is stopped at its next token."""
        if self._queue is not None:
            self._queue.close(0)  # refuse what waits; the running one stops at its next token
        if self._server is not None:
            self._server.stop(timeout)
        had = self._server is not None or self._problem
        self._server, self._queue, self._listening, self._problem = None, None, None, ""
        if had:
            self.changed.emit()

    def state(self) -> ServerState:
        address = self._server.base_url if self._server is not None else None
        return ServerState(address, self.requests.running, self._problem)

    def _on_seen(self, request: ServedRequest) -> None:
        self.request_seen.emit(request)
        self.changed.emit()
