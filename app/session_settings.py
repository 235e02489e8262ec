"""The session's settings and the model they choose: apply or keep new settings, load a model in
the worker (the loaded one stays usable until the new one is ready), fall back to the default
model when a saved choice cannot be loaded, and count tokens with the loaded model's tokenizer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QObject, Signal

from app.licence_terms import terms_before_loading
from app.model_loads import ModelLoads
from app.model_names import display_name
from app.settings import DEFAULT_MODEL, Settings
from app.worker import Worker


class SessionSettings(QObject):
    settings_changed = Signal(object)  # Settings
    model_loading = Signal(float, str)  # progress 0..1 (-1: not known yet), what is happening
    model_waiting = Signal(str)  # a load asked for while a reply is written: it starts when the reply ends
    model_loaded = Signal(object)  # info dict
    model_failed = Signal(str)  # message for the user
    terms_needed = Signal(object, str)  # PendingTerms, the spec: asked before loading; nothing is loaded yet
    token_count = Signal(int, int)  # ticket from count_tokens, tokens (-1: could not count)

    _request_load = Signal(str)
    _request_count = Signal(int, str)

    def __init__(self, worker: Worker, settings: Settings, parent: QObject | None = None,
                 writing: Callable[[], bool] = lambda: False):  # fmt: skip
        """`writing`: whether a reply is being written now (the worker loads a model only after it)."""
        super().__init__(parent)
        self._settings = settings
        self._writing = writing
        self._loads = ModelLoads()
        self._next_count = 1
        self._request_load.connect(worker.load_model)
        self._request_count.connect(worker.count_tokens)
        worker.token_count.connect(self.token_count)
        worker.model_loading.connect(self.model_loading)
        worker.model_loaded.connect(self._on_model_loaded)
        worker.model_failed.connect(self._on_model_failed)

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def model_info(self) -> dict[str, Any] | None:
        """The loaded model's info dict (None before the first load finishes)."""
        return self._loads.info

    @property
    def loading(self) -> bool:
        return self._loads.loading

    def apply(self, settings: Settings) -> None:
        """Use new settings from the next reply on; load the model if it changed."""
        model_changed = settings.app.model != self._settings.app.model
        if model_changed:
            settings = replace(settings, app=settings.app.with_recent_model(settings.app.model))
        self.keep(settings)
        if model_changed:
            self.load_model(settings.app.model)

    def keep(self, settings: Settings) -> None:
        """Keep new settings without acting on them (window layout, a model choice taken back)."""
        self._settings = settings
        self.settings_changed.emit(settings)

    def load_model(self, spec: str) -> None:
        """Load a model in the worker; the current one stays usable until the new one is ready. A
        model whose terms must be accepted first is not loaded: `terms_needed` asks, and the
        answer loads it (`load_model` again, once accepted) or keeps the current one.

        While a reply is being written the worker finishes it first (with the loaded model): then
        `model_waiting` says so, and `model_loading` comes from the worker when the load starts."""
        if (pending := terms_before_loading(spec, self._settings)) is not None:
            self.terms_needed.emit(pending, spec)
            return
        loading = self._loads.start(spec)
        if self._writing():
            self.model_waiting.emit(f"{display_name(spec)} will load when this reply ends")
        else:
            self.model_loading.emit(-1.0, loading)
        self._request_load.emit(spec)

    def count_tokens(self, text: str) -> int:
        """Ask the worker how many tokens `text` is; returns the ticket `token_count` answers with
        (after any reply being written now)."""
        ticket, self._next_count = self._next_count, self._next_count + 1
        self._request_count.emit(ticket, text)
        return ticket

    def _on_model_loaded(self, info: dict) -> None:
        self._loads.loaded(info)
        self.model_loaded.emit(info)

    def _on_model_failed(self, message: str) -> None:
        message, fall_back = self._loads.failed(message)
        self.model_failed.emit(message)
        if fall_back:
            self.keep(replace(self._settings, app=replace(self._settings.app, model=DEFAULT_MODEL)))
            self.load_model(DEFAULT_MODEL)
