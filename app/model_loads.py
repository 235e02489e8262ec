"""Which model loads are under way, and what to do when one fails (Qt-free bookkeeping)."""

from __future__ import annotations

from collections import deque
from typing import Any

from app.model_names import display_name
from app.settings import DEFAULT_MODEL


class ModelLoads:
    """Loads sent to the worker, oldest first, and the model that is loaded now."""

    def __init__(self) -> None:
        self.info: dict[str, Any] | None = None  # the loaded model's info dict
        self._pending: deque[str] = deque()

    @property
    def loading(self) -> bool:
        return bool(self._pending)

    def start(self, spec: str) -> str:
        """Record a load; what to tell the user meanwhile."""
        self._pending.append(spec)
        name = "the default model" if spec == DEFAULT_MODEL else display_name(spec)  # as every view names it
        return f"Loading {name}…"

    def loaded(self, info: dict[str, Any]) -> None:
        if self._pending:
            self._pending.popleft()
        self.info = info

    def failed(self, message: str) -> tuple[str, bool]:
        """(what to tell the user, whether to load the default model instead): with nothing loaded
        to fall back on (a saved model that is gone), the default model is loaded."""
        spec = self._pending.popleft() if self._pending else None
        fall_back = self.info is None and spec not in (None, DEFAULT_MODEL) and not self._pending
        return (message + " Loading the default model instead." if fall_back else message), fall_back
