"""Views use the controller's intents and the values it hands out, never what is behind it: no
module in ui/ reads `<something>.store`, `.memory` or one of the controller's private parts.

import-linter keeps ui/ from importing app.store; this catches the same reach made at run time
through an attribute, which no import shows."""

from __future__ import annotations

import ast
from pathlib import Path

UI_DIR = Path(__file__).resolve().parents[2] / "ui"
# the database, the memory table, and the controller's parts and worker
BEHIND = {"store", "memory", "_store", "_worker", "_conversations", "_replies", "_session", "_turns"}


def reaches(path: Path) -> list[str]:
    """`x.store`, `x.memory`, `x._worker` … for any `x` but self."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value.id if isinstance(node.value, ast.Name) else None
        if node.attr in BEHIND and owner != "self":
            found.append(f"{path.relative_to(UI_DIR.parent)}:{node.lineno} .{node.attr}")
    return found


def test_no_view_reaches_behind_the_controller():
    files = sorted(UI_DIR.rglob("*.py"))
    assert len(files) > 10
    assert [r for f in files for r in reaches(f)] == []
