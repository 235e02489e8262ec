"""app/ uses QtCore only (signals, threads), never widgets or GUI classes.

import-linter sees external packages whole, so it cannot tell PySide6.QtCore from
PySide6.QtWidgets; this reads every import in app/ instead.
"""

from __future__ import annotations

import ast
from pathlib import Path

APP_DIR = Path(__file__).resolve().parents[2] / "app"
ALLOWED_QT = {"PySide6", "PySide6.QtCore"}


def qt_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in ("PySide6", "shiboken6")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("PySide6", "shiboken6"):
            found.append(node.module)
            if node.module == "PySide6":
                found += [f"PySide6.{a.name}" for a in node.names]
    return found


def test_app_imports_only_qtcore():
    files = sorted(APP_DIR.glob("*.py"))
    assert files, "app/ has no modules to check"
    offenders = {
        str(f.relative_to(APP_DIR.parent)): bad
        for f in files
        if (bad := [m for m in qt_imports(f) if m not in ALLOWED_QT])
    }
    assert offenders == {}


def test_the_checker_catches_widgets(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from PySide6.QtWidgets import QWidget\nfrom PySide6 import QtGui\nimport PySide6.QtCore\n")
    assert qt_imports(sample) == ["PySide6.QtWidgets", "PySide6", "PySide6.QtGui", "PySide6.QtCore"]
