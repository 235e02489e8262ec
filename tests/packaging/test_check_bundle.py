"""packaging/check_bundle.py on bundle layouts built as folders: the ones that work, and the ones
that fail at the first GPU operation ("Failed to load the default metallib") or load two libmlx."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("check_bundle", ROOT / "packaging" / "check_bundle.py")
check_bundle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check_bundle)


def tree(top: Path, files: dict[str, str | None]) -> Path:
    """Files (value None, 1 kB each) and relative links (value: the link's target) under `top`."""
    for name, target in files.items():
        path = top / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if target is None:
            path.write_bytes(b"\0" * 1000)
        else:
            os.symlink(target, path)
    return top


def test_the_linux_layout_passes_with_its_link(tmp_path):
    bundle = tree(tmp_path / "Glassbox", {
        "Glassbox": None, "_internal/mlx/lib/libmlx.so": None, "_internal/libmlx.so": "mlx/lib/libmlx.so"})
    assert check_bundle.check(bundle, expect_metallib=False) == [
        "libmlx: _internal/mlx/lib/libmlx.so (0.0 MB)", "link: _internal/libmlx.so -> mlx/lib/libmlx.so"]


def test_two_copies_of_libmlx_fail(tmp_path):
    bundle = tree(tmp_path / "Glassbox", {"_internal/mlx/lib/libmlx.so": None, "_internal/libmlx.so": None})
    with pytest.raises(check_bundle.LayoutError, match="2 copies of libmlx"):
        check_bundle.check(bundle, expect_metallib=False)


def test_the_app_layout_passes_with_the_metallib_beside_libmlx(tmp_path):
    bundle = tree(tmp_path / "Glassbox.app", {
        "Contents/MacOS/Glassbox": None,
        "Contents/Frameworks/libmlx.dylib": None,
        "Contents/Resources/mlx.metallib": None,
        "Contents/Frameworks/mlx.metallib": "../Resources/mlx.metallib",  # PyInstaller's cross-links
        "Contents/Resources/libmlx.dylib": "../Frameworks/libmlx.dylib",
    })
    assert check_bundle.check(bundle, expect_metallib=True)[-1] == (
        "mlx.metallib: Contents/Frameworks/mlx.metallib -> Contents/Resources/mlx.metallib (0.0 MB)")


def test_the_default_pyinstaller_layout_on_macos_fails(tmp_path):
    # libmlx under mlx/lib with the metallib, and the loader's @rpath/libmlx.dylib a link at the
    # top: MLX looks for the metallib beside the link it was loaded through
    bundle = tree(tmp_path / "Glassbox.app", {
        "Contents/Frameworks/mlx/lib/libmlx.dylib": None,
        "Contents/Frameworks/mlx/lib/mlx.metallib": None,
        "Contents/Frameworks/libmlx.dylib": "mlx/lib/libmlx.dylib",
    })
    with pytest.raises(check_bundle.LayoutError, match="libmlx is in Contents/Frameworks/mlx/lib, not in the folder"):
        check_bundle.check(bundle, expect_metallib=True)


def test_a_metallib_away_from_libmlx_fails(tmp_path):
    bundle = tree(tmp_path / "Glassbox.app", {
        "Contents/Frameworks/libmlx.dylib": None, "Contents/Resources/mlx/lib/mlx.metallib": None})
    with pytest.raises(check_bundle.LayoutError, match="not beside Contents/Frameworks/libmlx.dylib"):
        check_bundle.check(bundle, expect_metallib=True)


def test_a_link_to_libmlx_in_another_loaded_folder_fails(tmp_path):
    bundle = tree(tmp_path / "Glassbox.app", {
        "Contents/Frameworks/libmlx.dylib": None, "Contents/Frameworks/mlx.metallib": None,
        "Contents/Frameworks/mlx/lib/libmlx.dylib": "../../libmlx.dylib"})
    with pytest.raises(check_bundle.LayoutError, match="mlx/lib/libmlx.dylib gives MLX a second folder"):
        check_bundle.check(bundle, expect_metallib=True)


def test_the_command_names_the_problem_in_one_line(tmp_path, capsys):
    bundle = tree(tmp_path / "Glassbox", {"_internal/a/libmlx.so": None, "_internal/b/libmlx.so": None})
    assert check_bundle.main([str(bundle)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("bundle check failed: 2 copies of libmlx")
