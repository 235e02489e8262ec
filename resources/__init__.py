"""Data shipped with Glassbox: icon, stylesheet, default system prompt."""

from pathlib import Path

RESOURCES_DIR = Path(__file__).resolve().parent


def resource_path(name: str) -> Path:
    """The path of a shipped resource file."""
    return RESOURCES_DIR / name
