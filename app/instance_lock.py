"""One Glassbox window per data folder and per config folder.

Two windows on the same folders both kept the database open and each saved its own stale copy of
the settings when it quit, so a preference saved in one was silently undone by the other (trial 5).
A second window therefore does not start: it is told which Glassbox holds the folders.

The lock is an advisory `flock` on a small file in each folder (holding the owner's process id),
released when the window closes or its process dies, so a crash never leaves a stale lock. Where
`fcntl` does not exist (Windows) there is no lock.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = "glassbox-window.lock"


class AlreadyRunning(RuntimeError):
    """Another Glassbox window holds one of the folders; the message is for the user."""


class InstanceLock:
    """Held while a window runs: `acquire` raises AlreadyRunning if another process holds it."""

    def __init__(self, folders: Iterable[Path]):
        self.folders = list(dict.fromkeys(Path(f) for f in folders))
        self._files: list = []

    def acquire(self) -> None:
        """Take every folder's lock, or none (AlreadyRunning names the folder and the process)."""
        if fcntl is None:
            return
        try:
            for folder in self.folders:
                folder.mkdir(parents=True, exist_ok=True)
                handle = open(folder / LOCK_NAME, "a+", encoding="utf-8")  # noqa: SIM115 (held while running)
                try:
                    fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    handle.seek(0)
                    owner = handle.read().strip()
                    handle.close()
                    process = f" (process {owner})" if owner.isdigit() else ""
                    raise AlreadyRunning(
                        f"Glassbox is already running with {folder}{process}. Switch to that window, or quit it "
                        "first: two windows on the same folders would each save their own copy of the settings "
                        "and undo the other's."
                    ) from None
                handle.seek(0)
                handle.truncate()
                handle.write(str(os.getpid()))
                handle.flush()
                self._files.append(handle)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        """Let another window have the folders."""
        for handle in self._files:
            handle.close()  # closing the file ends the flock
        self._files = []
