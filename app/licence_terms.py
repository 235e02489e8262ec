"""Which model's terms still need the user's acceptance, and the record that they were accepted
(kept in the settings, one entry per licence and model file). Qt-free; the window's
`ui/licence_gate.py` asks.

`terms_before_loading` is asked before a model is loaded (the licence its file declares, read from
its metadata alone), so nothing of a model is loaded or shown as in use until its terms are
accepted; `pending_terms` checks a loaded model's info as well (a model whose licence only loading
could tell).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from app.model_names import display_name
from app.settings import DEFAULT_MODEL, Settings
from engine.licences import Licence, declared_in_file, licence_of, terms_file_beside


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


def terms_before_loading(spec: str, settings: Settings) -> PendingTerms | None:
    """The terms the model `spec` (a GGUF file; "default" and folders declare none here) needs
    accepted before it is loaded, or None: none declared, already accepted, or a file that cannot be
    read (loading it then says what is wrong)."""
    if spec == DEFAULT_MODEL:
        return None
    path = Path(spec).expanduser()
    terms = licence_of(declared_in_file(path))
    if terms is None or not terms.needs_acceptance:
        return None
    key = acceptance_key(terms, str(path))
    if key in settings.app.accepted_licences:
        return None
    return PendingTerms(display_name(path), terms, key, terms_file_beside(path))


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
