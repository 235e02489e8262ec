"""Check a built bundle's MLX layout: `python packaging/check_bundle.py dist/Glassbox` (or
dist/Glassbox.app). packaging/build.sh runs it after every build.

- libmlx is there exactly once as a file (links to it are fine: they are not a second library);
- where there is a Metal library (macOS), it is there exactly once and lies beside that libmlx
  (MLX opens `mlx.metallib` from the folder of the libmlx it was loaded from), and libmlx is the
  real file in the top folder, where the loader looks (`@rpath/libmlx.dylib`), with no link
  elsewhere that would give MLX another folder to look in (a .app's Contents/Resources holds
  PyInstaller's links to its Frameworks; nothing is loaded from there).

Prints the listing of what it found; exits 1 with one line saying what is wrong. Standard library only.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

LIBMLX = re.compile(r"libmlx\.(so|dylib)(\.[0-9.]+)?")
METALLIB = "mlx.metallib"


class LayoutError(Exception):
    pass


def top_folder(bundle: Path) -> Path:
    """Where PyInstaller puts the libraries: Contents/Frameworks in a .app, else _internal/."""
    for inner in (bundle / "Contents" / "Frameworks", bundle / "_internal"):
        if inner.is_dir():
            return inner
    return bundle


def check(bundle: Path, expect_metallib: bool) -> list[str]:
    """The listing lines for the MLX files of `bundle`; LayoutError when the layout is wrong."""
    libs, links, metallibs = [], [], []
    for root, dirs, files in os.walk(bundle):
        for name in files + dirs:
            path = Path(root) / name
            if LIBMLX.fullmatch(name):
                (links if path.is_symlink() else libs).append(path)
            elif name == METALLIB and not path.is_symlink():
                metallibs.append(path)
    if len(libs) != 1:
        raise LayoutError(f"{len(libs)} copies of libmlx in {bundle} (one is right): {', '.join(map(str, libs))}")
    lib = libs[0]
    lines = [f"libmlx: {lib.relative_to(bundle)} ({lib.stat().st_size / 1e6:.1f} MB)"]
    for link in links:
        if link.resolve() != lib.resolve():
            raise LayoutError(f"{link.relative_to(bundle)} links to {link.resolve()}, not to {lib.relative_to(bundle)}")
        lines.append(f"link: {link.relative_to(bundle)} -> {os.readlink(link)}")
    if not expect_metallib:
        if metallibs:
            raise LayoutError(f"a Metal library where there is no Metal: {metallibs[0].relative_to(bundle)}")
        return lines
    if len(metallibs) != 1:
        raise LayoutError(f"{len(metallibs)} copies of {METALLIB} in {bundle} (one is right)")
    if lib.parent != top_folder(bundle):
        raise LayoutError(f"libmlx is in {lib.parent.relative_to(bundle)}, not in the folder the loader takes it "
                          f"from ({top_folder(bundle).relative_to(bundle)})")
    resources = bundle / "Contents" / "Resources"  # a .app's cross-links of its Frameworks, never loaded from
    for link in links:
        if link.parent != resources:
            raise LayoutError(f"{link.relative_to(bundle)} gives MLX a second folder to look for {METALLIB} in")
    beside = lib.parent / METALLIB
    if not beside.exists() or beside.resolve() != metallibs[0].resolve():
        raise LayoutError(f"{METALLIB} is at {metallibs[0].relative_to(bundle)}, not beside "
                          f"{lib.relative_to(bundle)}: MLX would fail with 'Failed to load the default metallib'")
    lines.append(f"{METALLIB}: {beside.relative_to(bundle)} -> {metallibs[0].relative_to(bundle)} "
                 f"({metallibs[0].stat().st_size / 1e6:.1f} MB)")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python packaging/check_bundle.py dist/Glassbox|dist/Glassbox.app", file=sys.stderr)
        return 2
    try:
        lines = check(Path(argv[0]), expect_metallib=sys.platform == "darwin")
    except LayoutError as e:
        print(f"bundle check failed: {e}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
