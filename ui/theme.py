"""Look and feel: Fusion style with a light or dark palette (chosen, or following the system), the
stylesheet, the text size (zoom), the app icon, and the probability tint that reads on both palettes."""

from __future__ import annotations

import math
import re

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from resources import resource_path

# Confident tokens stay on the neutral background; below CONFIDENT the background warms from a
# pale amber to a deep orange-red as the probability falls. Semi-transparent, so it reads on light
# and dark palettes alike.
CONFIDENT = 0.8
TINT_HIGH = (255, 196, 60)  # just below CONFIDENT
TINT_LOW = (255, 92, 40)  # near zero


def tint_color(logprob: float) -> QColor | None:
    """The background for a token of this probability, or None when the model was confident."""
    p = math.exp(logprob)
    if p >= CONFIDENT:
        return None
    t = ((CONFIDENT - p) / CONFIDENT) ** 0.7  # 0 just below CONFIDENT, 1 at p = 0
    rgb = [round(h + (l - h) * t) for h, l in zip(TINT_HIGH, TINT_LOW, strict=True)]
    return QColor(*rgb, round(40 + 100 * t))


def app_icon() -> QIcon:
    return QIcon(str(resource_path("glassbox.svg")))


def dark_palette() -> QPalette:
    pal = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#202124",
        QPalette.ColorRole.WindowText: "#e8eaed",
        QPalette.ColorRole.Base: "#17181a",
        QPalette.ColorRole.AlternateBase: "#2a2b2e",
        QPalette.ColorRole.Text: "#e8eaed",
        QPalette.ColorRole.Button: "#2d2e31",
        QPalette.ColorRole.ButtonText: "#e8eaed",
        QPalette.ColorRole.ToolTipBase: "#2d2e31",
        QPalette.ColorRole.ToolTipText: "#e8eaed",
        QPalette.ColorRole.PlaceholderText: "#9aa0a6",
        QPalette.ColorRole.Highlight: "#3d7be0",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#8ab4f8",
        QPalette.ColorRole.Mid: "#3c4043",
    }
    for role, color in colors.items():
        pal.setColor(role, QColor(color))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6f7378"))
    return pal


def light_palette() -> QPalette:
    pal = QApplication.style().standardPalette()
    pal.setColor(QPalette.ColorRole.Window, QColor("#f6f7f9"))
    pal.setColor(QPalette.ColorRole.Base, QColor("#ffffff"))
    pal.setColor(QPalette.ColorRole.AlternateBase, QColor("#eef0f3"))
    pal.setColor(QPalette.ColorRole.Highlight, QColor("#2f6fde"))
    pal.setColor(QPalette.ColorRole.ToolTipBase, QColor("#ffffff"))
    pal.setColor(QPalette.ColorRole.ToolTipText, QColor("#202124"))
    return pal


def system_prefers_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def stylesheet(zoom_percent: int = 100) -> str:
    """The stylesheet with every point size scaled by `zoom_percent` (100 = as written), and
    "{resources}" read as the folder of the shipped resources (images it refers to)."""
    text = resource_path("style.qss").read_text(encoding="utf-8").replace("{resources}", resource_path("").as_posix())
    return re.sub(r"(\d+(?:\.\d+)?)pt\b", lambda m: f"{float(m.group(1)) * zoom_percent / 100:g}pt", text)


def current_look(app: QApplication) -> tuple[str, int]:
    """(theme, zoom percent) as last applied by `apply_look`."""
    return app.property("glassboxTheme") or "system", app.property("glassboxZoom") or 100


def apply_look(app: QApplication, theme: str = "system", zoom_percent: int = 100) -> None:
    """Use `theme` ("system", "light" or "dark") and text `zoom_percent` for the whole app.

    The palette is switched and the stylesheet (its point sizes scaled) re-applied, which
    re-polishes every widget; the application font is scaled from the size it had at start.
    Nothing is done when neither changed (re-polishing every widget is not free).
    """
    dark = system_prefers_dark() if theme == "system" else theme == "dark"
    if (theme, zoom_percent, dark) == (*current_look(app), app.property("glassboxDark")):
        return
    if app.property("glassboxBaseFontPt") is None:
        app.setProperty("glassboxBaseFontPt", app.font().pointSizeF())
    app.setProperty("glassboxTheme", theme)
    app.setProperty("glassboxZoom", zoom_percent)
    app.setProperty("glassboxDark", dark)
    font = app.font()
    font.setPointSizeF(app.property("glassboxBaseFontPt") * zoom_percent / 100)
    app.setFont(font)
    app.setPalette(dark_palette() if dark else light_palette())
    app.setStyleSheet(stylesheet(zoom_percent))


def set_palette(app: QApplication, dark: bool) -> None:
    """Switch to the light or dark palette at the current text size."""
    apply_look(app, "dark" if dark else "light", current_look(app)[1])


def apply_theme(app: QApplication) -> None:
    """Fusion, the system's colour scheme until settings choose (followed when it changes), stylesheet."""
    app.setStyle("Fusion")
    app.setWindowIcon(app_icon())
    apply_look(app, *current_look(app))
    if not app.property("glassboxFollowsScheme"):
        app.setProperty("glassboxFollowsScheme", True)
        QGuiApplication.styleHints().colorSchemeChanged.connect(lambda _scheme: apply_look(app, *current_look(app)))
