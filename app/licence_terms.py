"""Which loaded model's terms still need the user's acceptance, and the record that they were
accepted (kept in the settings, one entry per licence and model file). Qt-free; the window's
`ui/licence_gate.py` asks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.settings import Settings
from engine.licences import Licence, licence_of


@dataclass(frozen=True)
class PendingTerms:
    """A loaded model whose licence must be accepted before first use.

    key: what the settings keep once accepted. text: the full terms as plain text (read from the
    file beside the model; None when Glassbox has no copy, then `licence.url` says where)."""

    model: str  # the model's name as the window shows it
    licence: Licence
    key: str
    text_file: Path | None


def pending_terms(info: dict[str, Any] | None, settings: Settings) -> PendingTerms | None:
    """The terms the model in `info` (the worker's model info) still needs accepted, or None."""
    if not info:
        return None
    terms = licence_of(info.get("license"))
    if terms is None or not terms.needs_acceptance:
        return None
    key = acceptance_key(terms, str(info.get("path") or info.get("spec") or ""))
    if key in settings.app.accepted_licences:
        return None
    text_file = Path(info["license_file"]) if info.get("license_file") else None
    return PendingTerms(str(info.get("display_name") or info.get("name") or "This model"), terms, key, text_file)


def acceptance_key(terms: Licence, model_path: str) -> str:
    """One entry per licence and model file (links resolved, so the same file counts once)."""
    try:
        model_path = os.path.realpath(model_path)
    except OSError:
        pass
    return f"{terms.id} {model_path}"


def accepted(settings: Settings, pending: PendingTerms) -> Settings:
    """`settings` recording that `pending` was accepted."""
    app = settings.app
    return replace(settings, app=replace(app, accepted_licences=(*app.accepted_licences, pending.key)))
