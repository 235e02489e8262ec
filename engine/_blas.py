"""Use the system OpenBLAS for MLX's CPU matmuls when it is installed.

The `mlx[cpu]` wheel links the reference BLAS (about 5 GFLOP/s here); Debian's OpenBLAS gives about
180 GFLOP/s. Loading it with RTLD_GLOBAL before `mlx.core` is imported makes MLX resolve its BLAS
symbols to it. This module must therefore be imported before anything imports `mlx`.
"""

from __future__ import annotations

import ctypes
import os
import sys

OPENBLAS_CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3",
    "/usr/lib/aarch64-linux-gnu/openblas-pthread/libblas.so.3",
    "/usr/lib64/libopenblas.so.0",
)
HOW_TO_GET_IT = "install Debian's libopenblas0-pthread (sudo apt-get install libopenblas0-pthread)"

loaded_path: str | None = None


def preload() -> str | None:
    """Load OpenBLAS globally if mlx is not imported yet; return its path or None."""
    global loaded_path
    if loaded_path or sys.platform == "darwin" or os.environ.get("GLASSBOX_NO_OPENBLAS"):
        return loaded_path
    if "mlx.core" in sys.modules:
        return None
    for path in OPENBLAS_CANDIDATES:
        if os.path.exists(path):
            try:
                ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            except OSError:
                continue
            loaded_path = path
            return path
    return None


def advice() -> str | None:
    """One line telling how to get the fast CPU path, or None when it is in use or not relevant."""
    if loaded_path or sys.platform == "darwin":
        return None
    return f"MLX is using its slow reference BLAS on this CPU; for ~30x faster prompts, {HOW_TO_GET_IT}."
