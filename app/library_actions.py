"""What Model → Manage Models… can do: list the models on this machine, add or remove a folder to
look in (kept in the settings), and open one — refused before loading when Glassbox cannot open it
or it will not fit in the free memory. Qt-free; the dialog gets this object, never the settings
store or the worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from app import model_library
from app.model_library import LibraryRow, Location, ScanProgress
from app.settings import Settings
from engine import default_model


class LibraryActions:
    """get_settings() -> the current Settings; apply(settings) uses new ones (loading a new model
    when `app.model` changed, as the Model menu does); remember(settings) keeps them without
    acting (an added folder); models_dir: Glassbox's own (default: the engine's models dir);
    available_memory() -> free bytes now."""

    def __init__(
        self,
        get_settings: Callable[[], Settings],
        apply: Callable[[Settings], None],
        remember: Callable[[Settings], None],
        models_dir: Path | None = None,
        available_memory: Callable[[], int] | None = None,
        locations: Callable[[Path, tuple[str, ...]], list[Location]] | None = None,
    ):
        self._get, self._apply, self._remember = get_settings, apply, remember
        self._models_dir = models_dir if models_dir is not None else default_model.models_dir()
        self._available = available_memory or (lambda: model_library.available_memory())
        self._locations = locations or (lambda models_dir, added: model_library.default_locations(models_dir, added))

    @property
    def folders(self) -> tuple[str, ...]:
        """The folders the user added, in the order added."""
        return self._get().app.model_folders

    def locations(self) -> list[Location]:
        return self._locations(self._models_dir, self.folders)

    def rows(self, progress: ScanProgress | None = None, cancelled: Callable[[], bool] | None = None) -> list[LibraryRow]:
        """Every model found now (reads metadata only; see `model_library.scan` for the callbacks).
        Reading many large files takes a while: the window runs this on a `LibraryScan` thread."""
        return model_library.scan(self.locations(), progress, cancelled)

    def add_folder(self, folder: str) -> None:
        settings = self._get()
        if folder and folder not in settings.app.model_folders:
            app = replace(settings.app, model_folders=(*settings.app.model_folders, folder))
            self._remember(replace(settings, app=app))

    def remove_folder(self, folder: str) -> None:
        settings = self._get()
        app = replace(settings.app, model_folders=tuple(f for f in settings.app.model_folders if f != folder))
        self._remember(replace(settings, app=app))

    def refusal(self, row: LibraryRow) -> str | None:
        """Why `row` would be refused now (a plain-text sentence), or None."""
        return model_library.fit_problem(row, self._available())

    def open(self, row: LibraryRow) -> str | None:
        """Switch to `row`'s model unless refused; returns the refusal (nothing is loaded then)."""
        if problem := self.refusal(row):
            return problem
        settings = self._get()
        if settings.app.model != row.spec:
            self._apply(replace(settings, app=replace(settings.app, model=row.spec)))
        return None
