"""What a model's declared licence means for its user: its full name, whether its terms must be
accepted before first use (a model under terms that are not an open-source licence, such as
Gemma's), and where to read them.

A model declares its licence as an identifier (GGUF `general.license`, a Hugging Face model card's
`license:`), e.g. "apache-2.0" or "gemma". An identifier Glassbox does not know is treated as terms
to read and accept: nothing unknown is passed off as open source.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from engine.gguf import GGUFError, metadata_value


@dataclass(frozen=True)
class Licence:
    """id: as declared, lower-case. name: what the window calls it. needs_acceptance: shown before
    first use and accepted once per model. url: the terms' home, when known."""

    id: str
    name: str
    needs_acceptance: bool
    url: str | None = None


_TERMS = (
    Licence("gemma", "Gemma Terms of Use (not Apache-2.0)", True, "https://ai.google.dev/gemma/terms"),
    *(Licence(v, f"Llama {v[5:]} Community License (not open source)", True, "https://www.llama.com/license/")
      for v in ("llama2", "llama3", "llama3.1", "llama3.2", "llama3.3", "llama4")),
)
_OPEN = {
    "apache-2.0": "Apache License 2.0", "mit": "MIT License", "bsd-2-clause": "BSD 2-Clause License",
    "bsd-3-clause": "BSD 3-Clause License", "cc-by-4.0": "Creative Commons Attribution 4.0",
    "cc-by-sa-4.0": "Creative Commons Attribution-ShareAlike 4.0", "cc0-1.0": "CC0 1.0 (public domain)",
    "mpl-2.0": "Mozilla Public License 2.0", "unlicense": "The Unlicense",
}
KNOWN = {t.id: t for t in _TERMS} | {k: Licence(k, name, False) for k, name in _OPEN.items()}


def licence_of(declared: str | None) -> Licence | None:
    """The licence a model declares (None: it declares none, and nothing is asked)."""
    if declared is None or not str(declared).strip():
        return None
    key = str(declared).strip().lower()
    return KNOWN.get(key) or Licence(key, f"“{declared.strip()}” (terms Glassbox does not know: read them)", True)


def terms_file_beside(model: Path) -> Path | None:
    """The full text of a model file's terms kept beside it (`<file>.license.<ext>`, as `fetch`
    keeps it), if there is one; None for a folder."""
    if not model.is_file():
        return None
    return next(iter(sorted(model.parent.glob(glob.escape(model.name) + ".license.*"))), None)


def declared_in_file(model: Path) -> str | None:
    """The licence a model file declares (GGUF `general.license`), read before the model is loaded:
    only the metadata up to that key. None when it declares none, for a folder, or for a file that
    is not a readable GGUF (loading it then says what is wrong)."""
    if not model.is_file():
        return None
    try:
        value = metadata_value(model, "general.license")
    except (OSError, GGUFError):
        return None
    return str(value) if value is not None else None
