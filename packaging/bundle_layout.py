"""What goes into the Glassbox bundle, and where: read by packaging/glassbox.spec at build time and
by packaging/check_bundle.py on the built bundle. Runs in the build venv's Python (no app imports).

MLX (docs/packaging.md, "MLX in the bundle"):
- Its compiled module imports Python submodules PyInstaller cannot see (`mlx._reprlib_fix`): they
  are listed as hidden imports.
- libmlx is collected once. MLX finds its Metal library (`mlx.metallib`, macOS) beside the libmlx
  it was loaded from (dladdr), so the two lie side by side in the one place the loader takes
  libmlx from: on macOS PyInstaller rewrites every reference to `@rpath/<basename>` with the rpath
  at the bundle's top folder, so both go there, libmlx as the real file; a second copy or a link
  elsewhere is what makes a bundle fail with "Failed to load the default metallib" although the
  file is in it. On Linux (no metallib) libmlx stays in `mlx/lib/`, where `mlx/core*.so`'s RUNPATH
  ($ORIGIN/lib) finds it, with PyInstaller's link to it in the top folder.
- libmlx cannot be put at the top by listing it in the spec's `binaries`: dependency analysis
  collects it again under `mlx/lib/` with a link at the top of the same name, and PyInstaller's
  TOC normalization lets the link win (SYMLINK outranks BINARY), so the listed file is gone before
  COLLECT. `keep` therefore takes every libmlx entry out on macOS and `libmlx_at_top` adds the one
  real file back after the Analysis (tests/packaging/test_bundle_layout.py runs PyInstaller's own
  normalization on the entries its analysis makes).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import re
import sys
from pathlib import Path, PurePath

BUNDLE_ID = "org.glassbox.Glassbox"
MACOS = sys.platform == "darwin"

# Python modules the app never imports that PyInstaller would follow from its dependencies' optional
# imports (each checked: nothing in engine/app/ui or the libraries' used paths needs them).
UNUSED_MODULES = [
    "tkinter", "unittest", "pydoc_data", "lib2to3", "setuptools", "pip", "distutils",
    "mlx.extension", "mlx._distributed_utils",  # building MLX extensions, distributed launch
    "IPython", "matplotlib", "pandas", "PIL", "scipy", "torch", "pytest", "hypothesis",
    # Qt: the app uses QtCore, QtGui and QtWidgets only (tests/app/test_qt_modules.py for app/)
    "PySide6.QtNetwork", "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtOpenGL", "PySide6.QtOpenGLWidgets",
    "PySide6.QtPdf", "PySide6.QtSql", "PySide6.QtTest", "PySide6.QtDBus", "PySide6.QtConcurrent",
    "PySide6.QtPrintSupport", "PySide6.QtXml", "PySide6.QtHelp", "PySide6.QtDesigner", "PySide6.QtUiTools",
    "PySide6.QtWebEngineCore", "PySide6.Qt3DCore", "PySide6.QtMultimedia",
]

# Collected files the app does not use, by their path inside the bundle (PurePath.match patterns,
# matched from the right; `.*` covers .so and .dylib). Each group says why it is not needed.
QT = "PySide6/Qt"
UNUSED_FILES = [
    # platforms: a window needs xcb (X11), wayland or cocoa (macOS); offscreen runs --self-test;
    # the framebuffer, EGL-fullscreen, VNC and Vulkan-display back ends are for kiosks and embedded
    *(f"{QT}/plugins/platforms/libq{name}.*" for name in ("eglfs", "linuxfb", "minimal", "minimalegl",
                                                             "vkkhrdisplay", "vnc")),
    f"{QT}/plugins/egldeviceintegrations/*", f"{QT}/lib/libQt6EglFS*", f"{QT}/lib/libQt6EglFsKmsSupport*",
    f"{QT}/plugins/generic/*",  # evdev/tslib/TUIO input, for the framebuffer back ends
    # the GTK theme plugin pulls in GTK's whole stack (cairo, pango, gdk-pixbuf, ...); the app draws
    # its own light/dark theme (ui/theme.py), and file dialogs go through the XDG portal plugin
    f"{QT}/plugins/platformthemes/libqgtk3.*",
    # image formats: the app shows SVG (icons, check marks) and PNG (built into QtGui) only
    *(f"{QT}/plugins/imageformats/libq{name}.*" for name in ("gif", "icns", "ico", "jpeg", "tga", "tiff",
                                                                "wbmp", "webp", "pdf")),
    # Wayland: the xdg-shell a desktop compositor speaks, not IVI/fullscreen/wl-shell; no compositor parts
    *(f"{QT}/plugins/wayland-shell-integration/lib{name}.*" for name in ("ivi-shell", "fullscreen-shell-v1",
                                                                           "wl-shell-plugin")),
    f"{QT}/plugins/wayland-graphics-integration-client/*-server.*",
    f"{QT}/translations/*",  # the app's text is English only
]
# Whole folders left out, at any depth (PurePath.match's `*` covers one level only).
UNUSED_FOLDERS = ("mlx/include/", "mlx/share/")  # C++ headers and CMake files for building against MLX
# Libraries loaded by name at run time (never a link-time dependency), kept by `prune_libraries`.
LOADED_BY_NAME = ("libpython", "_glassbox_native")


# The macOS a bundle needs is the newest one the wheels it carries were built for (pip picks the wheel
# for the building Mac's own macOS: mlx's macosx_15_0 wheel on a Mac with 15 does not load on 14).
MACOS_WHEELS = ("mlx", "mlx-metal", "pyside6-essentials", "shiboken6", "numpy")
MLX_MINIMUM_MACOS = (14, 0)  # MLX's documented minimum (mlx 0.32: "macOS >= 14.0")


def minimum_macos(wheel_tags: dict[str, str] | None = None) -> str:
    """LSMinimumSystemVersion for the .app: the newest `macosx_X_Y` platform tag among the WHEEL
    files of MACOS_WHEELS (`wheel_tags`: distribution -> its WHEEL file's text; read from the
    installed distributions when None), and never older than MLX_MINIMUM_MACOS. "14.0" style."""
    if wheel_tags is None:
        wheel_tags = {}
        for name in MACOS_WHEELS:
            try:
                wheel_tags[name] = importlib.metadata.distribution(name).read_text("WHEEL") or ""
            except importlib.metadata.PackageNotFoundError:
                continue
    newest = MLX_MINIMUM_MACOS
    for text in wheel_tags.values():
        for major, minor in re.findall(r"^Tag:.*-macosx_(\d+)_(\d+)_\w+\s*$", text, flags=re.MULTILINE):
            newest = max(newest, (int(major), int(minor)))
    return f"{newest[0]}.{newest[1]}"


def mlx_package() -> Path:
    spec = importlib.util.find_spec("mlx")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("mlx is not installed in the Python that builds the bundle")
    return Path(next(iter(spec.submodule_search_locations)))


def metallib_datas(macos: bool = MACOS) -> list[tuple[str, str]]:
    """The Analysis `datas` entry for mlx.metallib (macOS; none elsewhere): in the top folder, beside
    the libmlx `libmlx_at_top` puts there (a .app keeps the file in Contents/Resources and a link to
    it in Contents/Frameworks, which MLX opens like the file)."""
    return [(str(mlx_package() / "lib" / "mlx.metallib"), ".")] if macos else []


def libmlx_at_top(macos: bool = MACOS) -> list[tuple[str, str, str]]:
    """The TOC entry to add to the Analysis' binaries after `keep`: on macOS libmlx as a real file
    in the top folder (where `@rpath/libmlx.dylib` resolves, beside the metallib); nothing on Linux,
    where the analysis' own entry under mlx/lib and its link are the layout wanted."""
    if not macos:
        return []
    return [("libmlx.dylib", str(mlx_package() / "lib" / "libmlx.dylib"), "BINARY")]


def native_kernels(root: Path) -> list[tuple[str, str]]:
    """Glassbox's CPU kernels (engine/_native), when they are built for this MLX: the bundle carries
    the module built here, which engine/_native/build.py looks for in `bundled/` when frozen."""
    sys.path.insert(0, str(root))
    try:
        from engine._native import build
    finally:
        sys.path.remove(str(root))
    built = build.built_module()
    if built is None:
        print("note: the CPU kernels are not built (python -m engine._native.build); the bundle runs without them")
        return []
    return [(str(built), build.BUNDLED_DIR)]


def _is_libmlx(dest: str) -> bool:
    return re.fullmatch(r"libmlx\.(so|dylib)(\.[0-9.]+)?", PurePath(dest).name) is not None


def keep(toc: list[tuple[str, str, str]], macos: bool = MACOS) -> list[tuple[str, str, str]]:
    """An Analysis TOC (binaries or datas) without UNUSED_FILES and UNUSED_FOLDERS. On Linux libmlx stays as the
    analysis collected it (mlx/lib/libmlx.so and PyInstaller's link to it at the top); on macOS
    every libmlx entry goes (the copy under mlx/lib, the link at the top), and `libmlx_at_top` adds
    the one real file back."""
    out = []
    for dest, src, typecode in toc:
        if any(PurePath(dest).match(pattern) for pattern in UNUSED_FILES):
            continue
        if PurePath(dest).as_posix().startswith(UNUSED_FOLDERS):
            continue
        if macos and _is_libmlx(dest):
            continue
        out.append((dest, src, typecode))
    return out


def prune_libraries(binaries: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """`binaries` without the shared libraries nothing left in it links to (Linux; those the
    removed plugins brought in). Python extensions and Qt plugins are loaded by the app, never
    linked to, so they stay; so does LOADED_BY_NAME. Repeated until nothing more goes: a library
    left out takes its own dependencies' last users with it."""
    if sys.platform != "linux":
        return binaries
    from PyInstaller.depend.bindepend import get_imports

    def loaded_by_the_app(dest: str, typecode: str) -> bool:
        name = PurePath(dest).name
        return (typecode == "EXTENSION" or "/plugins/" in dest or name.startswith(LOADED_BY_NAME)
                or ".so" not in name)

    imports = {src: {PurePath(name).name for name, _path in get_imports(src)}
               for _dest, src, typecode in binaries if typecode in ("BINARY", "EXTENSION")}
    kept = list(binaries)
    while True:
        needed = set().union(*(imports.get(src, set()) for _dest, src, _typecode in kept))
        left_out = [entry for entry in kept
                    if PurePath(entry[0]).name not in needed and not loaded_by_the_app(entry[0], entry[2])]
        if not left_out:
            return kept
        for dest, _src, _typecode in left_out:
            print(f"bundle: leaving out {dest} (nothing left links to it)")
        kept = [entry for entry in kept if entry not in left_out]
