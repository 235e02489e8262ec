"""Render the app icon (resources/glassbox.svg) into the PNG sizes desktops ask for and the macOS
.icns: `python packaging/make_icons.py` rewrites resources/icons/glassbox-<N>.png and
resources/glassbox.icns (both kept in the repository, so a build needs no renderer).

The .icns is written here rather than with Apple's iconutil, which only exists on macOS: the format
is a header and a list of (type, length, PNG) records (Apple's "icns" types ic07..ic14).
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)  # the hicolor theme's usual sizes
# icns record type -> pixel size (the @2x types hold the doubled size)
ICNS_TYPES = {b"icp4": 16, b"icp5": 32, b"icp6": 64, b"ic07": 128, b"ic08": 256, b"ic09": 512, b"ic10": 1024,
              b"ic11": 32, b"ic12": 64, b"ic13": 256, b"ic14": 512}


def render(renderer: QSvgRenderer, size: int) -> bytes:
    """The icon as PNG bytes, `size` x `size` pixels, transparent around it."""
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if not image.save(buffer, "PNG"):
        raise SystemExit(f"could not encode the {size}px icon as PNG")
    return bytes(data)


def icns(pngs: dict[int, bytes]) -> bytes:
    records = b"".join(kind + struct.pack(">I", 8 + len(pngs[size])) + pngs[size] for kind, size in ICNS_TYPES.items())
    return b"icns" + struct.pack(">I", 8 + len(records)) + records


def main() -> int:
    _app = QGuiApplication(sys.argv[:1])
    renderer = QSvgRenderer(str(RESOURCES / "glassbox.svg"))
    if not renderer.isValid():
        raise SystemExit("resources/glassbox.svg could not be read")
    sizes = sorted(set(PNG_SIZES) | set(ICNS_TYPES.values()))
    pngs = {size: render(renderer, size) for size in sizes}
    (RESOURCES / "icons").mkdir(exist_ok=True)
    for size in PNG_SIZES:
        (RESOURCES / "icons" / f"glassbox-{size}.png").write_bytes(pngs[size])
    (RESOURCES / "glassbox.icns").write_bytes(icns(pngs))
    print(f"wrote resources/icons/glassbox-{{{','.join(map(str, PNG_SIZES))}}}.png and resources/glassbox.icns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
