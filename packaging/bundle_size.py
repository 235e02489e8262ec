"""What makes up the size of a built bundle: `python packaging/bundle_size.py dist/Glassbox`.

Prints the size of each component (MB, 10^6 bytes; links counted once, at their target), largest
first, and the total; docs/packaging.md keeps the table. Standard library only.
"""

from __future__ import annotations

import os
import sys
from collections import defaultdict
from pathlib import Path

# (component, path prefixes inside the bundle's top folder): the first that matches wins.
COMPONENTS = [
    ("Qt: ICU data and libraries", ("PySide6/Qt/lib/libicu",)),
    ("Qt: libraries", ("PySide6/Qt/lib/",)),
    ("Qt: plugins", ("PySide6/Qt/plugins/",)),
    ("Qt: Python bindings (PySide6, shiboken6)", ("PySide6/", "shiboken6/")),
    ("MLX (libmlx, its reference BLAS/LAPACK, Metal library)",
     ("mlx/", "mlx_cpu.libs/", "libmlx", "mlx.metallib")),
    ("NumPy (with its OpenBLAS)", ("numpy/", "numpy.libs/")),
    ("Python runtime (libpython, compiled stdlib modules, base_library.zip)",
     ("libpython", "python3", "base_library.zip", "Python")),
    ("the app's Python code and its pure-Python libraries (PYZ in the executable)", ("Glassbox",)),
    ("tokenizers, sentencepiece", ("tokenizers/", "sentencepiece/", "sentencepiece.libs/")),
    ("server: pydantic-core, uvicorn, yaml", ("pydantic_core/", "yaml/", "uvicorn/", "_yaml")),
    ("OpenSSL (https downloads)", ("libcrypto", "libssl")),
    ("Glassbox: CPU kernels and resources", ("engine/", "resources/")),
]


def component_of(relative: str) -> str:
    for name, prefixes in COMPONENTS:
        if relative.startswith(prefixes):
            return name
    if "/" not in relative and ".so" in relative or relative.endswith(".dylib"):
        return "system libraries Qt and Python link to (X11/xcb, GLib, fonts, compression, …)"
    return "other (metadata, small modules)"


def sizes(top: Path) -> dict[str, int]:
    """Bytes per component of the bundle folder `top` (its `_internal` folder, or a .app's
    Contents/, is taken as the top when present); each file counted once."""
    inner = top / "_internal" if (top / "_internal").is_dir() else top
    totals: dict[str, int] = defaultdict(int)
    seen: set[tuple[int, int]] = set()
    for root, _dirs, files in os.walk(top):
        for name in files:
            path = Path(root) / name
            if path.is_symlink():
                continue
            stat = path.stat()
            if (stat.st_dev, stat.st_ino) in seen:
                continue
            seen.add((stat.st_dev, stat.st_ino))
            try:
                relative = path.relative_to(inner).as_posix()
            except ValueError:
                relative = path.relative_to(top).as_posix()
            for bundle_folder in ("Contents/Frameworks/", "Contents/Resources/", "Contents/MacOS/"):
                relative = relative.removeprefix(bundle_folder)
            totals[component_of(relative)] += stat.st_size
    return dict(totals)


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python packaging/bundle_size.py dist/Glassbox", file=sys.stderr)
        return 2
    totals = sizes(Path(argv[0]))
    for name, size in sorted(totals.items(), key=lambda item: -item[1]):
        print(f"{size / 1e6:8.1f} MB  {name}")
    print(f"{sum(totals.values()) / 1e6:8.1f} MB  total")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
