"""The `glassbox` script: `glassbox --version` prints the version, `glassbox serve ...` runs the API
with no window (no Qt is imported), anything else starts the desktop app (ui.main)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] in (["--version"], ["-V"]):
        from app.version import VERSION

        print(f"glassbox {VERSION}")
        return 0
    if argv[:1] == ["serve"]:
        from app.server.serve import main as serve

        return serve(argv[1:])
    from ui.main import main as desktop

    return desktop(argv)


if __name__ == "__main__":
    sys.exit(main())
