"""Where Glassbox keeps its data (conversations, memories, caches) and its settings.

Precedence, highest first: an explicit argument (`--data-dir` / `--config-dir`), the environment
(`GLASSBOX_DATA_DIR` / `GLASSBOX_CONFIG_DIR`, which tests and second profiles use), then the
platform's per-user directory from appdirs. The directory is created on use.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import appdirs

APP_NAME = "Glassbox"


def _resolve(override: str | os.PathLike | None, env_var: str, platform_default: str) -> Path:
    chosen = override if override is not None else os.environ.get(env_var) or platform_default
    path = Path(chosen).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The data dir (conversation database, caches), created if missing."""
    return _resolve(override, "GLASSBOX_DATA_DIR", appdirs.user_data_dir(APP_NAME, appauthor=False))


def config_dir(override: str | os.PathLike | None = None) -> Path:
    """The config dir (settings), created if missing."""
    return _resolve(override, "GLASSBOX_CONFIG_DIR", appdirs.user_config_dir(APP_NAME, appauthor=False))


def database_path(data_override: str | os.PathLike | None = None) -> Path:
    """The conversation and memory database (`app.store.Store`) inside the data dir."""
    return data_dir(data_override) / "glassbox.db"


def aside_name(path: Path, why: str) -> Path:
    """A free name beside `path` for keeping it aside: `<name>.<why>-<YYYYmmdd-HHMMSS>`, then `-2`,
    `-3` … when a file was already kept aside in the same second (one never replaces another)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target, n = path.with_name(f"{path.name}.{why}-{stamp}"), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.{why}-{stamp}-{n}")
    return target
