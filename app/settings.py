"""Typed settings: how replies are decoded and how the app behaves, with defaults and validation.

`Settings` holds a `SamplingSettings` (the engine's decoding fields, reused as they are) and an
`AppSettings`. Both are stored as one JSON file with a schema version in the config dir; keys
missing from an older file take their defaults, unknown keys are ignored, and values that do not
validate fall back to defaults field by field, so a hand-edited file never stops the app from
starting. Passed in where needed; there is no global instance.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from engine.sampling import SamplingSettings
from resources import resource_path

SCHEMA_VERSION = 1
SETTINGS_FILE = "settings.json"
DEFAULT_MODEL = "default"
MAX_NEW_TOKENS_LIMIT = 32768
PANEL_TOP_K_LIMIT = 50
MIN_CONTEXT_LENGTH = 256


def default_system_prompt() -> str:
    return resource_path("system_prompt.txt").read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class AppSettings:
    """Everything that is not a decoding setting."""

    max_new_tokens: int = 512
    system_prompt: str = field(default_factory=default_system_prompt)
    model: str = DEFAULT_MODEL  # "default", a GGUF file or a model folder
    recent_models: tuple[str, ...] = ()  # user-chosen paths, most recent first
    context_length: int = 0  # 0: the model's own context window
    panel_top_k: int = 10
    probability_tint: bool = True
    window_geometry: str = ""  # QWidget.saveGeometry() as hex
    splitter_state: str = ""

    def validate(self) -> dict[str, str]:
        """{field: human-readable problem}; empty when usable."""
        problems: dict[str, str] = {}
        if not (1 <= self.max_new_tokens <= MAX_NEW_TOKENS_LIMIT):
            problems["max_new_tokens"] = f"max new tokens must be between 1 and {MAX_NEW_TOKENS_LIMIT}"
        if self.context_length != 0 and self.context_length < MIN_CONTEXT_LENGTH:
            problems["context_length"] = (
                f"context length must be 0 (the model's own) or at least {MIN_CONTEXT_LENGTH} tokens"
            )
        if not (1 <= self.panel_top_k <= PANEL_TOP_K_LIMIT):
            problems["panel_top_k"] = f"panel top-k must be between 1 and {PANEL_TOP_K_LIMIT}"
        if not self.model.strip():
            problems["model"] = "choose the default model or a model file or folder"
        return problems

    def with_recent_model(self, path: str, keep: int = 8) -> AppSettings:
        """Remember a user-chosen model path (most recent first, no duplicates)."""
        if path == DEFAULT_MODEL:
            return self
        recent = (path, *[p for p in self.recent_models if p != path])[:keep]
        return replace(self, recent_models=recent)


def sampling_problems(sampling: SamplingSettings) -> dict[str, str]:
    """The engine's validation, attributed to fields so a form can show each message in place."""
    defaults = SamplingSettings()
    problems: dict[str, str] = {}
    for f in fields(SamplingSettings):
        value = getattr(sampling, f.name)
        if value == getattr(defaults, f.name):
            continue
        found = replace(defaults, **{f.name: value}).validate()
        if found:
            problems[f.name] = found[0]
    return problems


@dataclass(frozen=True)
class Settings:
    sampling: SamplingSettings = field(default_factory=SamplingSettings)
    app: AppSettings = field(default_factory=AppSettings)

    def validate(self) -> dict[str, str]:
        """{field name: problem} over both parts (field names do not overlap)."""
        return {**sampling_problems(self.sampling), **self.app.validate()}

    def to_dict(self) -> dict[str, Any]:
        app = asdict(self.app)
        app["recent_models"] = list(self.app.recent_models)
        return {"schema_version": SCHEMA_VERSION, "sampling": self.sampling.to_dict(), "app": app}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Merge a stored dict over the defaults; bad or missing values keep their defaults."""
        data = migrate(data)
        sampling = _merge(SamplingSettings(), data.get("sampling") or {}, lambda s: sampling_problems(s))
        app = _merge(AppSettings(), data.get("app") or {}, lambda a: a.validate())
        return cls(sampling, app)


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older schema up to SCHEMA_VERSION (version 1 is the first; nothing to do yet)."""
    return data if isinstance(data, dict) else {}


def _merge(default, stored: dict[str, Any], problems) -> Any:
    """Apply each stored field over `default` if its type fits and it validates on its own."""
    result = default
    if not isinstance(stored, dict):
        return result
    for f in fields(default):
        if f.name not in stored:
            continue
        value = _coerce(stored[f.name], getattr(default, f.name), f.name)
        if value is _INVALID:
            continue
        candidate = replace(result, **{f.name: value})
        if f.name not in problems(candidate):
            result = candidate
    return result


_INVALID = object()


def _coerce(value: Any, default: Any, name: str) -> Any:
    if name == "seed":
        return value if value is None or (isinstance(value, int) and not isinstance(value, bool)) else _INVALID
    if isinstance(default, bool):
        return value if isinstance(value, bool) else _INVALID
    if isinstance(default, int):
        return value if isinstance(value, int) and not isinstance(value, bool) else _INVALID
    if isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else _INVALID
    if isinstance(default, str):
        return value if isinstance(value, str) else _INVALID
    if isinstance(default, tuple):
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        return tuple(value) if ok else _INVALID
    return _INVALID


class SettingsFile:
    """Reads and writes Settings as JSON in one directory (the config dir)."""

    def __init__(self, directory: str | os.PathLike):
        self.path = Path(directory) / SETTINGS_FILE

    def load(self) -> Settings:
        """The stored settings merged over the defaults; defaults if the file is missing or unreadable."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return Settings()
        return Settings.from_dict(data)

    def save(self, settings: Settings) -> None:
        """Write atomically (temp file + rename), so a crash never leaves half a file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(settings.to_dict(), indent=2, ensure_ascii=False)
        fd, tmp = tempfile.mkstemp(prefix=".settings-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text + "\n")
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
