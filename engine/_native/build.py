"""Build the CPU kernels: `python -m engine._native.build` (run by `make run` / `make test`).

Idempotent: when `build/<key>/` already holds the module for these sources and this MLX, it does
nothing. Needs cmake, a C++20 compiler and nanobind (pinned in pyproject.toml to the version MLX
was built with). A failed build is reported in one line and exits 0: Glassbox then runs on MLX's
own operations and says so.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import platform
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BUILD_ROOT = HERE / "build"
MODULE_NAME = "_glassbox_native"
BUNDLED_DIR = "engine/_native/bundled"  # where a bundle carries the module (packaging/bundle_layout.py)
SOURCE_SUFFIXES = (".cpp", ".h", ".txt")


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def build_key() -> str:
    """A short hash of everything the binary depends on: sources, MLX, nanobind, Python, CPU family."""
    h = hashlib.sha256()
    for path in sorted(p for p in HERE.iterdir() if p.suffix in SOURCE_SUFFIXES):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    for part in (_version("mlx"), _version("nanobind"), sys.implementation.cache_tag, platform.machine()):
        h.update(part.encode())
    return h.hexdigest()[:16]


def built_module() -> Path | None:
    """The built module for the current key, if there is one. A bundle (PyInstaller sets
    `sys.frozen`) carries the one built against the MLX inside it, and no sources to key by."""
    frozen = getattr(sys, "frozen", False)
    folder = Path(getattr(sys, "_MEIPASS", "")) / BUNDLED_DIR if frozen else BUILD_ROOT / build_key()
    found = sorted(folder.glob(f"{MODULE_NAME}*.so")) + sorted(folder.glob(f"{MODULE_NAME}*.pyd"))
    return found[0] if found else None


def build(verbose: bool = False) -> Path:
    """Compile the module into build/<key>/ and return its path. Raises RuntimeError on failure."""
    existing = built_module()
    if existing:
        return existing
    if shutil.which("cmake") is None:
        raise RuntimeError("cmake is not installed (Debian: apt-get install cmake g++)")
    key = build_key()
    BUILD_ROOT.mkdir(exist_ok=True)
    work = BUILD_ROOT / "cmake"  # kept between builds: a rebuild recompiles only what changed
    log_path = BUILD_ROOT / "last-build.log"
    steps = [
        ["cmake", "-S", str(HERE), "-B", str(work), f"-DPython_EXECUTABLE={sys.executable}",
         "-DCMAKE_BUILD_TYPE=Release"],
        ["cmake", "--build", str(work), "--parallel", "2"],
    ]
    with open(log_path, "w") as log:
        for cmd in steps:
            if subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode:
                raise RuntimeError(f"`{' '.join(cmd[:2])}` failed; the log is {log_path}")
    built = sorted(work.glob(f"{MODULE_NAME}*.so"))
    if not built:
        raise RuntimeError(f"the build produced no {MODULE_NAME} module; the log is {log_path}")
    staging = BUILD_ROOT / f".{key}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    shutil.copy2(built[0], staging / built[0].name)
    for old in BUILD_ROOT.iterdir():  # binaries for other sources or MLX versions
        if old.is_dir() and old not in (staging, work):
            shutil.rmtree(old, ignore_errors=True)
    staging.rename(BUILD_ROOT / key)
    return BUILD_ROOT / key / built[0].name


def main() -> int:
    try:
        path = build()
    except (RuntimeError, OSError) as e:
        print(f"note: Glassbox's CPU kernels were not built ({e}); the engine will use MLX's own, slower "
              "CPU path", file=sys.stderr)
        return 0
    print(f"CPU kernels: {path.relative_to(HERE.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
