"""The model registry: the default model, user-chosen files and folders, and GGUFs in the models dir."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.model_names import display_name
from app.settings import DEFAULT_MODEL, AppSettings
from engine import default_model


@dataclass(frozen=True)
class ModelEntry:
    spec: str  # what the worker loads: "default", a GGUF path or a folder path
    label: str
    kind: str  # "default", "file", "folder", "missing"


def describe(spec: str) -> ModelEntry:
    """A label and kind for one model spec."""
    if spec == DEFAULT_MODEL:
        return ModelEntry(spec, f"{default_model.DISPLAY_NAME} (default)", "default")
    path = Path(spec).expanduser()
    if path.is_dir():
        return ModelEntry(spec, f"{display_name(path)}/", "folder")
    if path.is_file():
        return ModelEntry(spec, display_name(path), "file")
    return ModelEntry(spec, f"{display_name(path)} (missing)", "missing")


class ModelRegistry:
    """Lists the models the user can pick, most relevant first, without duplicates."""

    def __init__(self, models_dir: Path | None = None):
        self._models_dir = models_dir if models_dir is not None else default_model.models_dir()

    def discovered(self) -> list[str]:
        """GGUF files in the models dir other than the default model's file."""
        if not self._models_dir.is_dir():
            return []
        default_file = default_model.FILE_NAME
        return sorted(str(p) for p in self._models_dir.glob("*.gguf") if p.name != default_file)

    def browse_dir(self, app: AppSettings) -> Path:
        """Where a file dialog for a model should open: beside the model chosen last, else the
        models dir, else the home folder (whichever exists first)."""
        for spec in (*app.recent_models, app.model):
            if spec != DEFAULT_MODEL:
                parent = Path(spec).expanduser().parent
                if parent.is_dir():
                    return parent
        return self._models_dir if self._models_dir.is_dir() else Path.home()

    def entries(self, app: AppSettings) -> list[ModelEntry]:
        specs = [DEFAULT_MODEL, app.model, *app.recent_models, *self.discovered()]
        seen: set[str] = set()
        out = []
        for spec in specs:
            if spec not in seen:
                seen.add(spec)
                out.append(describe(spec))
        return out
