"""Run the API in a background thread (for the window later, and for tests): uvicorn on its own
event loop, started and stopped within bounded time."""

from __future__ import annotations

import errno
import socket
import threading
import time

import uvicorn


class ServerStartError(RuntimeError):
    """The server did not start listening (port taken, or it did not come up in time)."""


class BackgroundServer:
    """`start()` returns once the server listens (its `port` is then the real one, also when 0
    was asked for); `stop()` lets running requests end and returns within `timeout` seconds."""

    def __init__(self, app, host: str = "127.0.0.1", port: int = 0):
        self.config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(self.config)
        self._socket: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name="glassbox-api", daemon=True)
        self.host, self.port = host, port

    def _bind(self) -> socket.socket:
        """The listening socket, bound here so that a taken port is a ServerStartError saying so
        (uvicorn binding it itself would exit its thread with SystemExit)."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.host, self.port))
        except OSError as e:
            sock.close()
            why = f"port {self.port} is in use" if e.errno == errno.EADDRINUSE else e.strerror or str(e)
            raise ServerStartError(f"cannot listen on {self.host}:{self.port}: {why}") from e
        return sock

    def _run(self) -> None:
        self.server.run(sockets=[self._socket])

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self._socket = self._bind()
        self.port = self._socket.getsockname()[1]
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop(1.0)
                raise ServerStartError(f"the server did not start listening on {self.host}:{self.port}")
            time.sleep(0.02)
        sockets = [s for server in self.server.servers for s in server.sockets]
        if sockets:
            self.port = sockets[0].getsockname()[1]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self._thread.is_alive():  # streams still open after the grace period
            self.server.force_exit = True
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
