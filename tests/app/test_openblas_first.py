"""Starting the app loads OpenBLAS before MLX: otherwise every matmul silently runs ~30x slower."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import _blas

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(_blas.loaded_path is None, reason="no system OpenBLAS on this machine")
@pytest.mark.parametrize("entry", ["ui.main", "app.main", "app.backend", "app.worker", "app.controller"])
def test_importing_an_entry_point_loads_openblas_before_mlx(entry):
    code = f"import {entry}, mlx.core, engine._blas as b; print(b.loaded_path)"
    env = {k: v for k, v in os.environ.items() if k != "GLASSBOX_NO_OPENBLAS"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == _blas.loaded_path
