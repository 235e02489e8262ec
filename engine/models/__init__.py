"""Architectures by their declared type; one file per architecture.

Every module here that defines `ARCHITECTURE` (an `engine.models.base.Architecture`) is found by
scanning this package, so adding an architecture is adding its file: nothing else is edited.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from functools import cache

from engine.models.base import Architecture


class UnsupportedArchitecture(ValueError):
    pass


@cache
def registry() -> dict[str, Architecture]:
    """model_type / general.architecture name -> its Architecture."""
    found: dict[str, Architecture] = {}
    for module in pkgutil.iter_modules(__path__):
        arch = getattr(importlib.import_module(f"{__name__}.{module.name}"), "ARCHITECTURE", None)
        if arch is None:
            continue
        for name in arch.names:
            if name in found:
                raise RuntimeError(f"two architecture files claim {name!r}")
            found[name] = arch
    return found


def get_architecture(model_type: str) -> Architecture:
    """The architecture that implements `model_type`; UnsupportedArchitecture names the others.

    The file named after the type is tried first (importing every architecture costs ~50 ms of a
    load); a type claimed by a file of another name is found by the scan."""
    if model_type.isidentifier() and importlib.util.find_spec(f"{__name__}.{model_type}") is not None:
        arch = getattr(importlib.import_module(f"{__name__}.{model_type}"), "ARCHITECTURE", None)
        if arch is not None and model_type in arch.names:
            return arch
    arch = registry().get(model_type)
    if arch is None:
        supported = ", ".join(sorted(registry()))
        raise UnsupportedArchitecture(
            f"unsupported model architecture {model_type!r} (supported: {supported})"
        )
    return arch
