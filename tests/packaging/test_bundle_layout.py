"""packaging/bundle_layout.py on the TOC entries PyInstaller's Analysis makes for MLX: libmlx ends up
exactly once, as a real file, where the loader takes it from (macOS: the top folder, beside the
metallib; Linux: mlx/lib with PyInstaller's link at the top).

The entries are the ones PyInstaller 6.22 made for `import mlx.core` with libmlx listed in the
spec's binaries at the top folder (a throwaway spec, run on Linux; on macOS the names end in
.dylib): dependency analysis collected it again under mlx/lib and added a link at the top, and the
final normalization kept the link in place of the listed file, moving it to `datas`.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("bundle_layout", ROOT / "packaging" / "bundle_layout.py")
bundle_layout = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bundle_layout)

SITE = "/venv/lib/python3.11/site-packages"


def analysis_toc(suffix: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(binaries, datas) as the Analysis leaves them for MLX (see the module docstring)."""
    lib = f"libmlx.{suffix}"
    binaries = [(f"mlx/core.cpython-311-{suffix}", f"{SITE}/mlx/core.cpython-311-{suffix}", "EXTENSION"),
                (f"mlx/lib/{lib}", f"{SITE}/mlx/lib/{lib}", "BINARY")]
    datas = [(lib, f"mlx/lib/{lib}", "SYMLINK")]
    return binaries, datas


def libmlx_entries(toc: list[tuple[str, str, str]]) -> list[tuple[str, str]]:
    return [(dest, typecode) for dest, _src, typecode in toc if "libmlx" in dest]


def test_pyinstallers_normalization_replaces_a_listed_libmlx_with_the_analysis_link():
    # Why libmlx cannot simply be listed at the top in the spec: the link of the same name wins.
    datastruct = pytest.importorskip("PyInstaller.building.datastruct")
    listed = ("libmlx.dylib", f"{SITE}/mlx/lib/libmlx.dylib", "BINARY")
    found = [("mlx/lib/libmlx.dylib", f"{SITE}/mlx/lib/libmlx.dylib", "BINARY"),
             ("libmlx.dylib", "mlx/lib/libmlx.dylib", "SYMLINK")]
    normalized = datastruct.normalize_toc([listed, *found])
    assert libmlx_entries(normalized) == [("libmlx.dylib", "SYMLINK"), ("mlx/lib/libmlx.dylib", "BINARY")]


def test_macos_keeps_one_real_libmlx_at_the_top(monkeypatch):
    monkeypatch.setattr(bundle_layout, "mlx_package", lambda: Path(SITE) / "mlx")
    binaries, datas = analysis_toc("dylib")
    binaries = bundle_layout.keep(binaries, macos=True) + bundle_layout.libmlx_at_top(macos=True)
    datas = bundle_layout.keep(datas, macos=True)
    assert libmlx_entries(binaries + datas) == [("libmlx.dylib", "BINARY")]
    assert ("libmlx.dylib", f"{SITE}/mlx/lib/libmlx.dylib", "BINARY") in binaries
    assert ("mlx/core.cpython-311-dylib", f"{SITE}/mlx/core.cpython-311-dylib", "EXTENSION") in binaries
    # the metallib goes to the same (top) folder
    assert bundle_layout.metallib_datas(macos=True) == [(f"{SITE}/mlx/lib/mlx.metallib", ".")]


def test_linux_keeps_the_analysis_layout(monkeypatch):
    monkeypatch.setattr(bundle_layout, "mlx_package", lambda: Path(SITE) / "mlx")
    binaries, datas = analysis_toc("so")
    assert bundle_layout.keep(binaries, macos=False) + bundle_layout.libmlx_at_top(macos=False) == binaries
    assert bundle_layout.keep(datas, macos=False) == datas
    assert bundle_layout.metallib_datas(macos=False) == []


def test_unused_files_are_left_out_on_both_systems():
    toc = [("PySide6/Qt/plugins/platforms/libqvnc.so", "/x/libqvnc.so", "BINARY"),
           ("PySide6/Qt/plugins/platforms/libqxcb.so", "/x/libqxcb.so", "BINARY"),
           ("PySide6/Qt/translations/qt_de.qm", "/x/qt_de.qm", "DATA"),
           ("mlx/include/mlx/backend/cpu/simd/simd.h", "/x/simd.h", "DATA"),
           ("mlx/share/cmake/MLX/MLXConfig.cmake", "/x/MLXConfig.cmake", "DATA")]
    for macos in (False, True):
        assert bundle_layout.keep(toc, macos=macos) == [toc[1]]


def wheel(*tags: str) -> str:
    return "Wheel-Version: 1.0\nGenerator: setuptools\nRoot-Is-Purelib: false\n" + "".join(f"Tag: {t}\n" for t in tags)


def test_the_app_needs_the_newest_macos_its_wheels_were_built_for():
    # pip on a Mac with macOS 15 installs mlx's macosx_15_0 wheel: that bundle does not run on 14
    tags = {"mlx": wheel("cp311-cp311-macosx_15_0_arm64"),
            "pyside6-essentials": wheel("cp39-abi3-macosx_13_0_universal2"),
            "numpy": wheel("cp311-cp311-macosx_14_0_arm64")}
    assert bundle_layout.minimum_macos(tags) == "15.0"


def test_the_app_needs_at_least_mlxs_own_minimum():
    tags = {"mlx": wheel("cp311-cp311-macosx_13_0_arm64"), "numpy": wheel("cp311-cp311-macosx_11_0_arm64")}
    assert bundle_layout.minimum_macos(tags) == "14.0"
    assert bundle_layout.minimum_macos({"mlx": wheel("cp311-cp311-manylinux_2_35_x86_64")}) == "14.0"


def test_a_minor_version_counts():
    assert bundle_layout.minimum_macos({"mlx-metal": wheel("py3-none-macosx_14_5_arm64")}) == "14.5"
