"""Glassbox inference engine: pure Python + MLX + numpy. Never imports Qt."""

from engine import _blas

_blas.preload()  # before any `import mlx`: see engine/_blas.py
