"""Fonts that can show every character a reply may hold.

Qt falls back per character to fonts the system offers, but only among families it is pointed at
on some platforms: the app font and the code font name a colour emoji family after their own, so
emoji never show as "�" or empty boxes. Linux gets it from the `fonts-noto-color-emoji` package
(in the Makefile's APT list); macOS and Windows have their own.
"""

from __future__ import annotations

from PySide6.QtGui import QFont, QFontDatabase
from PySide6.QtWidgets import QApplication

EMOJI_FAMILIES = ("Noto Color Emoji", "Apple Color Emoji", "Segoe UI Emoji")


def with_emoji(families: list[str]) -> list[str]:
    """`families` followed by the emoji families (each once)."""
    return list(dict.fromkeys([*families, *EMOJI_FAMILIES]))


def fixed_font() -> QFont:
    """The system's fixed-width font, with emoji after it."""
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    font.setFamilies(with_emoji([font.family(), "monospace"]))
    return font


def apply_fonts(app: QApplication) -> None:
    """Give the application font the emoji families as fallbacks."""
    font = app.font()
    font.setFamilies(with_emoji(font.families() or [font.family()]))
    app.setFont(font)
