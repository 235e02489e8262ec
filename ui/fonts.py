"""Fonts that can show every character a reply may hold.

Emoji come from the platform's per-character font fallback: on Linux fontconfig finds the colour
emoji font of the `fonts-noto-color-emoji` package (in the Makefile's APT list); macOS and Windows
bring their own. Glassbox deliberately does *not* name an emoji family in the application font's
family list or its substitutions: Qt then takes font metrics such as the average character width
from the emoji font, whose glyphs are very wide, and every label asks for thousands of pixels (the
window grew to 13,000 px). `tests/ui/test_reply_text.py` checks that emoji are drawn in colour.
"""

from __future__ import annotations

from PySide6.QtGui import QFont, QFontDatabase, QGuiApplication

EMOJI_FAMILIES = ("Noto Color Emoji", "Apple Color Emoji", "Segoe UI Emoji")


def fixed_font(like: QFont | None = None) -> QFont:
    """The system's fixed-width family at the size of `like` (default: the application's font,
    which follows View → Zoom), so code and tokens grow with the text around them."""
    font = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
    size = (like if like is not None else QGuiApplication.font()).pointSizeF()
    if size > 0:
        font.setPointSizeF(size)
    return font
