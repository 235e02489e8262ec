"""What Help → About shows: Glassbox's version, the versions of what runs the model, the loaded
model's name and licence, and the folders the app keeps its things in.

Everything here is plain data for the view (`AboutInfo`); the view shows each value as text, never
as markup (a model's name comes from its file).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import PySide6
from PySide6.QtCore import qVersion

from app.version import VERSION
from engine import runtime
from engine.licences import licence_of


@dataclass(frozen=True)
class Places:
    """The folders Glassbox reads and writes (each one the user can open)."""

    data: Path  # conversations, memories, prompt caches
    config: Path  # settings.json
    models: Path  # the default model and models fetched by Glassbox


@dataclass(frozen=True)
class AboutInfo:
    version: str
    python: str
    qt: str  # "Qt 6.x (PySide6 6.x)"
    mlx: str  # "MLX 0.x on Device(cpu, 0)"
    model: str  # the loaded model's name, or "no model loaded"
    model_license: str  # the licence the model file declares, or what is known of it
    license_file: Path | None  # its full text beside the model, when Glassbox has it
    places: Places | None  # None where the window was built without them (tests)


def about_info(model_info: dict[str, Any] | None, places: Places | None) -> AboutInfo:
    """The About box's content for the model now loaded (`model_info` as the worker reports it)."""
    versions = runtime.versions()
    info = model_info or {}
    model = str(info.get("display_name") or info.get("name") or "no model loaded")
    if info:
        declared = licence_of(info.get("license"))
        license_name = declared.name if declared else "not declared in the model file"
    else:
        license_name = "—"
    license_file = Path(info["license_file"]) if info.get("license_file") else None
    return AboutInfo(
        version=VERSION,
        python=platform.python_version(),
        qt=f"Qt {qVersion()} (PySide6 {PySide6.__version__})",
        mlx=f"MLX {versions['mlx']} on {versions['device']}",
        model=model,
        model_license=license_name,
        license_file=license_file,
        places=places,
    )
