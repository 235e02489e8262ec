"""Architectures by their declared `model_type`; one file per architecture."""

from __future__ import annotations

import importlib

# model_type (config.json) or general.architecture (GGUF) -> module in engine.models
ARCHITECTURES = {"llama": "llama", "mistral": "llama", "smollm": "llama"}


class UnsupportedArchitecture(ValueError):
    pass


def get_architecture(model_type: str):
    """The module that implements `model_type` (it defines `ModelArgs` and `Model`)."""
    name = ARCHITECTURES.get(model_type)
    if name is None:
        supported = ", ".join(sorted(ARCHITECTURES))
        raise UnsupportedArchitecture(
            f"unsupported model architecture {model_type!r} (supported: {supported})"
        )
    return importlib.import_module(f"engine.models.{name}")
