"""The stack every model thread gets: 16 MiB, whatever the platform's default.

Template compilation (jinja2) and Markdown parsing recurse deeply on hostile input; a secondary
thread's default stack is 8 MiB on Linux but 512 KiB on macOS, where that recursion would crash the
process instead of raising RecursionError. The Qt worker (app.worker) and the API's model thread
(app.server.model_thread) both start with this size.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

MODEL_THREAD_STACK_BYTES = 16 * 1024 * 1024


def start_thread(target: Callable[[], None], name: str) -> threading.Thread:
    """Start a daemon thread running `target` with MODEL_THREAD_STACK_BYTES of stack."""
    previous = threading.stack_size(MODEL_THREAD_STACK_BYTES)
    try:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
    finally:
        threading.stack_size(previous)
    return thread
