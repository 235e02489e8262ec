"""Manage Models' scan, off the GUI thread: reading the headers of many large GGUF files and
safetensors folders takes seconds, and the window must keep answering meanwhile.

`LibraryScan.start()` runs `LibraryActions.rows` on a thread of its own and reports by signal
(queued to the GUI thread): `progress(done, total, place)` before each place is read, then
`finished(rows)`. Starting again, or `cancel()`, makes the running scan stop at its next place and
its results be dropped, so a late answer never replaces a newer one.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from app.library_actions import LibraryActions
from app.model_library import LibraryRow, Location
from app.threads import start_thread


class LibraryScan(QObject):
    progress = Signal(int, int, str)  # places read, places in all, "<source>: <folder>" being read now
    finished = Signal(object)  # list[LibraryRow], every model found

    # carried across threads with the scan's number, so a stale scan's reports are dropped here
    _reported = Signal(int, int, int, str)
    _done = Signal(int, object)

    def __init__(self, actions: LibraryActions, parent: QObject | None = None):
        super().__init__(parent)
        self._actions = actions
        self._generation = 0
        self._stop = threading.Event()
        self.thread: threading.Thread | None = None  # the running scan's thread (tests look at it)
        self._reported.connect(self._on_reported)
        self._done.connect(self._on_done)

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self) -> None:
        """Scan every place again; any scan still running is abandoned."""
        self.cancel()
        self._generation += 1
        generation, stop = self._generation, threading.Event()
        self._stop = stop

        def report(done: int, total: int, location: Location) -> None:
            _emit(self._reported, generation, done, total, f"{location.source}: {location.root}")

        def run() -> None:
            rows: list[LibraryRow] = self._actions.rows(report, stop.is_set)
            _emit(self._done, generation, rows)

        self.thread = start_thread(run, "library-scan")

    def cancel(self) -> None:
        """Stop the running scan at its next place; its results are never reported."""
        self._stop.set()
        self._generation += 1

    def _on_reported(self, generation: int, done: int, total: int, place: str) -> None:
        if generation == self._generation:
            self.progress.emit(done, total, place)

    def _on_done(self, generation: int, rows: list[LibraryRow]) -> None:
        if generation == self._generation:
            self.finished.emit(rows)


def _emit(signal, *args) -> None:
    """Emit from the scan's thread; the dialog (and this object with it) may be gone by then."""
    try:
        signal.emit(*args)
    except RuntimeError:  # the C++ object was deleted: nobody is waiting for this scan
        pass
