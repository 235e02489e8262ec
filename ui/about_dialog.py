"""Help → About: the version of Glassbox and of what runs the model, the loaded model and its
licence, and the folders the app uses, each with a button that opens it.

Every value is set as plain text (a model's name and a path come from files, never markup).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QGridLayout, QLabel, QPushButton, QVBoxLayout

from app.about import AboutInfo


def _plain(text: str) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


class AboutDialog(QDialog):
    """The About box for `info` (app.about.about_info)."""

    def __init__(self, info: AboutInfo, parent=None):
        super().__init__(parent)
        self.setWindowTitle("About Glassbox")
        self.info = info
        self.open_buttons: dict[str, QPushButton] = {}
        layout = QVBoxLayout(self)
        title = _plain(f"Glassbox {info.version}")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.4)
        font.setBold(True)
        title.setFont(font)
        layout.addWidget(title)
        layout.addWidget(_plain("A chat assistant that runs a language model on this computer and shows what "
                                "happens inside it while it talks."))
        grid = QGridLayout()
        rows = [("Model", info.model), ("Model licence", info.model_license),
                ("Runs on", info.mlx), ("Window", info.qt), ("Python", info.python)]
        for row, (name, value) in enumerate(rows):
            grid.addWidget(_plain(name), row, 0, Qt.AlignmentFlag.AlignTop)
            grid.addWidget(_plain(value), row, 1)
        row = len(rows)
        if info.license_file is not None:
            self._open_row(grid, row, "Licence text", info.license_file)
            row += 1
        if info.places is not None:
            for name, path in (("Conversations and caches", info.places.data),
                               ("Settings", info.places.config), ("Models", info.places.models)):
                self._open_row(grid, row, name, path)
                row += 1
        grid.setColumnStretch(1, 1)
        layout.addLayout(grid)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setMinimumWidth(520)

    def _open_row(self, grid: QGridLayout, row: int, name: str, path: Path) -> None:
        grid.addWidget(_plain(name), row, 0, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(_plain(str(path)), row, 1)
        button = QPushButton("Open")
        button.setToolTip(f"Open {name.lower()} in the file manager")
        button.setEnabled(path.exists())
        button.clicked.connect(lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(path))))
        grid.addWidget(button, row, 2)
        self.open_buttons[name] = button
