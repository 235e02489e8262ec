"""C++ sources of Glassbox's CPU kernels (an MLX extension) and the script that builds them.

`python -m engine._native.build` compiles them into `build/<key>/`, where the key names the
sources, MLX and nanobind versions and the Python ABI, so a changed MLX or source is rebuilt and a
stale binary is never loaded. `engine/native.py` loads the result.
"""
