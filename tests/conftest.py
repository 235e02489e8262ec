"""Shared fixtures: isolated data/config dirs, offscreen Qt, and the real default model (loaded once)."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest  # noqa: E402

import engine  # noqa: E402,F401  (loads OpenBLAS before any test module imports mlx)


@pytest.fixture(autouse=True)
def isolated_dirs(tmp_path, monkeypatch):
    """Every test gets its own data and config dirs; the models dir is shared (DESIGN.md)."""
    monkeypatch.setenv("GLASSBOX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("GLASSBOX_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture(scope="session")
def default_model_path():
    """The default GGUF (fetched by `make test`; fetched here if a test run skipped that)."""
    from engine import default_model

    return default_model.fetch(log=lambda m: None)


@pytest.fixture(scope="session")
def default_lm(default_model_path):
    """The default model as the app loads it (as stored, 4-bit, where the CPU kernels are built;
    float32 where they are not), loaded once per session."""
    from engine.loading import load

    return load(default_model_path)


@pytest.fixture(scope="session")
def float32_lm(default_model_path):
    """The default model expanded to float32 (llama.cpp's "f32" reference does the same arithmetic)."""
    from engine.loading import WeightPolicy, load

    return load(default_model_path, WeightPolicy("float32"))
