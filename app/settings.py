"""Typed settings: how replies are decoded and how the app behaves, with defaults and validation.

`Settings` holds a `SamplingSettings` (the engine's decoding fields, reused as they are) and an
`AppSettings`. Both are stored as one JSON file with a schema version in the config dir; keys
missing from an older file take their defaults, unknown keys are ignored, and values that do not
validate fall back to defaults field by field, so a hand-edited file never stops the app from
starting. Passed in where needed; there is no global instance.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from app import stop_strings
from app.paths import aside_name
from app.server.listen import DEFAULT_HOST, DEFAULT_PORT, listen_problems
from engine.sampling import SamplingSettings
from resources import resource_path

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3  # 2: KV cache kind and prompt cache bounds; 3: theme, zoom, stop strings, presets
SETTINGS_FILE = "settings.json"
DEFAULT_MODEL = "default"
MAX_NEW_TOKENS_LIMIT = 32768
PANEL_TOP_K_LIMIT = 50
MIN_CONTEXT_LENGTH = 256
MAX_CONTEXT_LENGTH = 1 << 20
THEMES = {"system": "Follow the system", "light": "Light", "dark": "Dark"}
MIN_ZOOM_PERCENT, MAX_ZOOM_PERCENT, ZOOM_STEP_PERCENT = 50, 300, 10
MAX_PRESETS = 50
# KV cache kinds as stored, with what the Preferences dialog calls them
KV_CACHE_KINDS = {
    "plain": "Plain (float32)",
    "rotating": "Rotating window",
    "quantized8": "Quantized 8-bit",
    "quantized4": "Quantized 4-bit",
}
MIN_KV_WINDOW = 64
MAX_KV_WINDOW = 1 << 20
MAX_PROMPT_CACHE_ENTRIES = 256
MAX_PROMPT_CACHE_MB = 65536


@dataclass(frozen=True)
class CacheConfig:
    """How the worker keeps KV caches: their kind, how many prompts it keeps, whether on disk."""

    kind: str = "plain"  # a key of KV_CACHE_KINDS
    window: int = 1024  # tokens a rotating cache attends to
    max_entries: int = 8  # prompt caches kept in memory
    max_mb: int = 1024  # and at most this much memory for them
    on_disk: bool = True  # keep each conversation's cache on disk across restarts


def default_system_prompt() -> str:
    return resource_path("system_prompt.txt").read_text(encoding="utf-8").strip()


@dataclass(frozen=True)
class AppSettings:
    """Everything that is not a decoding setting."""

    max_new_tokens: int = 512
    system_prompt: str = field(default_factory=default_system_prompt)
    model: str = DEFAULT_MODEL  # "default", a GGUF file or a model folder
    recent_models: tuple[str, ...] = ()  # user-chosen paths, most recent first
    model_folders: tuple[str, ...] = ()  # folders the user added to Model → Manage Models…
    enable_thinking: bool = True  # a reasoning model thinks first (templates reading enable_thinking; per conversation)
    accepted_licences: tuple[str, ...] = ()  # "<licence id> <model file>" the user accepted (ui/licence_gate.py)
    context_length: int = 0  # 0: the model's own context window
    panel_top_k: int = 10
    probability_tint: bool = True
    tint_code: bool = False  # code keeps its own colours unless the user asks for the tint there too
    window_geometry: str = ""  # QWidget.saveGeometry() as hex
    splitter_state: str = ""
    kv_cache: str = "plain"  # see KV_CACHE_KINDS
    kv_window: int = 1024
    prompt_cache_entries: int = 8
    prompt_cache_mb: int = 1024
    prompt_cache_on_disk: bool = True
    theme: str = "system"  # see THEMES
    zoom_percent: int = 100  # text size in the window, 100 = the system's
    stop_strings: tuple[str, ...] = ()  # a reply ends where it would write one (app/stop_strings.py)
    system_prompt_presets: tuple[tuple[str, str], ...] = ()  # (name, system prompt), saved by the user
    # The OpenAI-compatible API inside the window (app/server): off unless turned on; 127.0.0.1
    # unless another address is chosen, which needs the API key (app/server/listen.py)
    server_enabled: bool = False
    server_host: str = DEFAULT_HOST
    server_port: int = DEFAULT_PORT
    server_api_key: str = ""

    @property
    def cache_config(self) -> CacheConfig:
        """The KV and prompt cache settings as the backend takes them with each request."""
        return CacheConfig(
            self.kv_cache, self.kv_window, self.prompt_cache_entries, self.prompt_cache_mb, self.prompt_cache_on_disk
        )

    def validate(self) -> dict[str, str]:
        """{field: human-readable problem}; empty when usable."""
        problems: dict[str, str] = {}
        if not (1 <= self.max_new_tokens <= MAX_NEW_TOKENS_LIMIT):
            problems["max_new_tokens"] = f"max new tokens must be between 1 and {MAX_NEW_TOKENS_LIMIT:,}"
        if self.context_length != 0 and not (MIN_CONTEXT_LENGTH <= self.context_length <= MAX_CONTEXT_LENGTH):
            problems["context_length"] = (
                f"context length must be 0 (the model's own) or {MIN_CONTEXT_LENGTH} to {MAX_CONTEXT_LENGTH:,} tokens"
            )
        if not (1 <= self.panel_top_k <= PANEL_TOP_K_LIMIT):
            problems["panel_top_k"] = f"panel top-k must be between 1 and {PANEL_TOP_K_LIMIT}"
        if self.kv_cache not in KV_CACHE_KINDS:
            problems["kv_cache"] = f"KV cache kind must be one of {', '.join(KV_CACHE_KINDS)}"
        if not (MIN_KV_WINDOW <= self.kv_window <= MAX_KV_WINDOW):
            problems["kv_window"] = f"the window must be {MIN_KV_WINDOW} to {MAX_KV_WINDOW:,} tokens"
        if not (1 <= self.prompt_cache_entries <= MAX_PROMPT_CACHE_ENTRIES):
            problems["prompt_cache_entries"] = f"cached prompts must be between 1 and {MAX_PROMPT_CACHE_ENTRIES}"
        if not (1 <= self.prompt_cache_mb <= MAX_PROMPT_CACHE_MB):
            problems["prompt_cache_mb"] = f"prompt cache memory must be between 1 and {MAX_PROMPT_CACHE_MB:,} MB"
        if not self.model.strip():
            problems["model"] = "choose the default model or a model file or folder"
        if self.theme not in THEMES:
            problems["theme"] = f"theme must be one of {', '.join(THEMES)}"
        if not (MIN_ZOOM_PERCENT <= self.zoom_percent <= MAX_ZOOM_PERCENT):
            problems["zoom_percent"] = f"zoom must be between {MIN_ZOOM_PERCENT}% and {MAX_ZOOM_PERCENT}%"
        if problem := stop_strings.problems(self.stop_strings):
            problems["stop_strings"] = problem
        if self.server_enabled:  # off, nothing listens: the address and key are only remembered
            listen = listen_problems(self.server_host, self.server_port, self.server_api_key, port_min=1)
            problems.update({f"server_{name}": problem for name, problem in listen.items()})
        names = [name for name, _text in self.system_prompt_presets]
        if len(names) > MAX_PRESETS or any(not n.strip() for n in names) or len(set(names)) != len(names):
            problems["system_prompt_presets"] = f"presets need distinct, non-empty names (at most {MAX_PRESETS})"
        return problems

    def with_recent_model(self, path: str, keep: int = 8) -> AppSettings:
        """Remember a user-chosen model path (most recent first, no duplicates)."""
        if path == DEFAULT_MODEL:
            return self
        recent = (path, *[p for p in self.recent_models if p != path])[:keep]
        return replace(self, recent_models=recent)


def default_sampling() -> SamplingSettings:
    """The window's decoding defaults: the engine's (temperature 0.7), with the light filters and
    repetition penalty that LM Studio and Ollama ship for small models (top-k 40, top-p 0.95,
    repetition penalty 1.1). With none of them the 135M default model loops within a reply
    ("last'slast'slast'…", a table row twenty times): a new user's first minutes looked broken.
    The panel still shows the model's own distribution beside the one these settings make."""
    return SamplingSettings(top_k=40, top_p=0.95, repetition_penalty=1.1)


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
    sampling: SamplingSettings = field(default_factory=default_sampling)
    app: AppSettings = field(default_factory=AppSettings)

    def validate(self) -> dict[str, str]:
        """{field name: problem} over both parts (field names do not overlap)."""
        return {**sampling_problems(self.sampling), **self.app.validate()}

    def to_dict(self) -> dict[str, Any]:
        app = asdict(self.app)
        app["recent_models"] = list(self.app.recent_models)
        app["model_folders"] = list(self.app.model_folders)
        app["accepted_licences"] = list(self.app.accepted_licences)
        app["stop_strings"] = list(self.app.stop_strings)
        app["system_prompt_presets"] = [list(p) for p in self.app.system_prompt_presets]
        return {"schema_version": SCHEMA_VERSION, "sampling": self.sampling.to_dict(), "app": app}

    def overlaid(self, sampling: Any, app: Any) -> Settings:
        """These settings with the valid fields of stored dicts in their place (what a saved reply
        was asked with, over today's settings for what it did not keep); bad values are skipped."""
        return Settings(_merge(self.sampling, sampling, sampling_problems), _merge(self.app, app, lambda a: a.validate()))

    @classmethod
    def from_dict(cls, data: dict[str, Any], rejected: list[tuple[str, Any, Any]] | None = None) -> Settings:
        """Merge a stored dict over the defaults; bad or missing values keep their defaults.
        `rejected` (when given) gets (name, stored value, default used) for each bad value."""
        data = migrate(data)
        sampling = _merge(default_sampling(), data.get("sampling") or {}, lambda s: sampling_problems(s), rejected)
        app = _merge(AppSettings(), data.get("app") or {}, lambda a: a.validate(), rejected)
        return cls(sampling, app)


@dataclass(frozen=True)
class ConversationSettings:
    """What one conversation sets for itself instead of the app-wide settings (stored by
    `app.store.conversation_settings`). None: the conversation follows the app's setting."""

    system_prompt: str | None = None
    stop_strings: tuple[str, ...] | None = None
    mode: str | None = None  # "completion" (no chat template, app/reply_request.py) or "chat"; None: the model's kind
    enable_thinking: bool | None = None  # passed to templates that read it (Qwen 3); None: the app's

    @property
    def empty(self) -> bool:
        return self.system_prompt is None and self.stop_strings is None and self.mode is None \
            and self.enable_thinking is None

    def applied_to(self, settings: Settings) -> Settings:
        """`settings` with this conversation's own values in place of the app's."""
        app = settings.app
        if self.system_prompt is not None:
            app = replace(app, system_prompt=self.system_prompt)
        if self.stop_strings is not None:
            app = replace(app, stop_strings=self.stop_strings)
        if self.enable_thinking is not None:
            app = replace(app, enable_thinking=self.enable_thinking)
        return replace(settings, app=app)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.system_prompt is not None:
            out["system_prompt"] = self.system_prompt
        if self.stop_strings is not None:
            out["stop_strings"] = list(self.stop_strings)
        if self.mode is not None:
            out["mode"] = self.mode
        if self.enable_thinking is not None:
            out["enable_thinking"] = self.enable_thinking
        return out

    @classmethod
    def from_json(cls, data: Any) -> ConversationSettings:
        """Whatever of `data` is usable (anything else is left to the app's settings)."""
        if not isinstance(data, dict):
            return cls()
        prompt = data.get("system_prompt")
        strings = data.get("stop_strings")
        ok = isinstance(strings, list) and all(isinstance(s, str) for s in strings) and stop_strings.problems(strings) is None
        mode = data.get("mode") if data.get("mode") in ("completion", "chat") else None
        thinking = data.get("enable_thinking") if isinstance(data.get("enable_thinking"), bool) else None
        return cls(prompt if isinstance(prompt, str) else None, tuple(strings) if ok else None, mode, thinking)


def migrate(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older schema up to SCHEMA_VERSION, one version at a time.

    1 -> 2 added the cache fields to "app"; a version-1 file has none of them, so the missing-key
    merge gives them their defaults and nothing is renamed. A file from a newer version is read
    as far as its fields are known.
    """
    if not isinstance(data, dict):
        return {}
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or isinstance(version, bool):
        version = 1
    if version < 2:
        data = {**data, "schema_version": 2}
    if version < 3:  # 2 -> 3 added theme, zoom, stop strings and presets: defaults, nothing renamed
        data = {**data, "schema_version": 3}
    return data


def _merge(default, stored: dict[str, Any], problems, rejected: list | None = None) -> Any:
    """Apply each stored field over `default` if its type fits and it validates on its own; each
    one that does not is added to `rejected` as (name, stored value, default kept)."""
    result = default
    if not isinstance(stored, dict):
        return result
    for f in fields(default):
        if f.name not in stored:
            continue
        value = _coerce(stored[f.name], getattr(default, f.name), f.name)
        candidate = result if value is _INVALID else replace(result, **{f.name: value})
        if value is not _INVALID and f.name not in problems(candidate):
            result = candidate
        elif rejected is not None:
            rejected.append((f.name, stored[f.name], getattr(default, f.name)))
    return result


def rejected_text(path: Path, rejected: list[tuple[str, Any, Any]]) -> str:
    """What the user is told about values in the settings file that could not be used."""
    def shown(value: Any) -> str:
        text = json.dumps(value, ensure_ascii=False) if not isinstance(value, tuple) else json.dumps(list(value))
        return text if len(text) <= 40 else text[:39] + "…"

    parts = [f"{name} {shown(value)} (now {shown(default)})" for name, value, default in rejected]
    return (f"Some values in {path} could not be used; their defaults are used instead: {'; '.join(parts)}. "
            "Saving Preferences writes good values in their place.")


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
        return value if _is_text(value) else _INVALID
    if name == "system_prompt_presets":
        ok = isinstance(value, list) and all(
            isinstance(p, list) and len(p) == 2 and all(_is_text(v) for v in p) for p in value
        )
        return tuple((p[0], p[1]) for p in value) if ok else _INVALID
    if isinstance(default, tuple):
        ok = isinstance(value, list) and all(_is_text(v) for v in value)
        return tuple(value) if ok else _INVALID
    return _INVALID


def _is_text(value: Any) -> bool:
    """A str that is text: JSON can spell a lone surrogate ("\\ud800"), which no tokenizer can
    encode and no file can be saved with."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class SettingsFile:
    """Reads and writes Settings as JSON in one directory (the config dir)."""

    def __init__(self, directory: str | os.PathLike):
        self.path = Path(directory) / SETTINGS_FILE
        self.notice = ""  # what the user must know about the last load (empty when all is well)

    def load(self) -> Settings:
        """The stored settings merged over the defaults; defaults if the file is missing or unreadable.

        An unreadable file is kept beside it (settings.json.unreadable-<time>) rather than
        overwritten by the next save, and `notice` says where it went.
        """
        self.notice = ""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return Settings()
        except (OSError, ValueError) as e:
            kept = aside_name(self.path, "unreadable")  # never over a file kept aside before
            try:
                self.path.replace(kept)
                where = f"it was kept as {kept}"
            except OSError:
                where = f"it is {self.path}"
            log.warning("unreadable settings file %s: %s", self.path, e)
            self.notice = f"Your settings file is damaged and could not be read; {where}. Glassbox uses its defaults."
            return Settings()
        rejected: list[tuple[str, Any, Any]] = []
        settings = Settings.from_dict(data, rejected)
        if rejected:
            log.warning("settings file %s: values not used: %s", self.path, rejected)
            self.notice = rejected_text(self.path, rejected)
        return settings

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
