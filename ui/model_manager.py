"""Model → Manage Models…: the models already on this machine (other apps' downloads, Glassbox's
own, folders the user added), one row each with what its metadata says and a memory estimate.
Rows Glassbox cannot open are greyed with the reason; opening one that will not fit in the free
memory is refused with a message, before anything loads. Every name and path is plain text.

The dialog gets `LibraryActions` (an intent: list, add/remove a folder, open), never the settings
store or the worker."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.library_actions import LibraryActions
from app.library_scan import LibraryScan
from app.model_library import LibraryRow, format_bytes, format_count
from ui.tables import read_only_table
from ui.text_format import plain_tooltip
from ui.wrap_label import WrapLabel

COLUMNS = ("Name", "Architecture", "Parameters", "Quantization", "File size", "Context", "Memory (est.)",
           "Found in", "Note", "Path")
RIGHT_ALIGNED = {"Parameters", "File size", "Context", "Memory (est.)"}


class ModelManagerDialog(QDialog):
    def __init__(self, actions: LibraryActions, parent: QWidget | None = None, loaded_spec: str | None = None):
        super().__init__(parent)
        self._actions, self._loaded = actions, loaded_spec
        self._rows: list[LibraryRow] = []
        self.setWindowTitle("Manage Models")
        self.resize(1200, 560)

        self.table = read_only_table(COLUMNS, "Models on this computer", stretch="Path")
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)  # a long path keeps its file name in view
        self.table.cellDoubleClicked.connect(lambda row, _column: self.open_row(row))
        self.table.itemSelectionChanged.connect(self._selection_changed)

        self.message = WrapLabel()  # plain text: it quotes paths, which break where they must
        self.message.setObjectName("dialogNote")
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Looking for models")
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(8)
        self.progress.hide()
        self.scan = LibraryScan(actions, self)  # reads the files on its own thread
        self.scan.progress.connect(self._scan_progress)
        self.scan.finished.connect(self._show_rows)
        self.finished.connect(lambda _result: self.scan.cancel())  # closed: a running scan is dropped

        self.folders = QListWidget()
        self.folders.setAccessibleName("Folders you added")
        self.folders.setMaximumHeight(4 * self.folders.fontMetrics().lineSpacing() + 12)
        self.folders.itemSelectionChanged.connect(self._selection_changed)

        self.open_button = QPushButton("&Open")
        self.open_button.setDefault(True)
        self.open_button.clicked.connect(lambda: self.open_row(self.table.currentRow()))
        self.add_button = QPushButton("&Add Folder…")
        self.add_button.clicked.connect(self.ask_folder)
        self.remove_button = QPushButton("&Remove Folder")
        self.remove_button.clicked.connect(self._remove_selected_folder)
        refresh = QPushButton("Re&fresh")
        refresh.clicked.connect(self.refresh)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)

        folder_label = QLabel("Also look in these folders:")
        folder_label.setTextFormat(Qt.TextFormat.PlainText)
        buttons = QHBoxLayout()
        for button in (self.add_button, self.remove_button, refresh):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(close)
        buttons.addWidget(self.open_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.message)
        layout.addWidget(folder_label)
        layout.addWidget(self.folders)
        layout.addLayout(buttons)
        self.refresh()

    # -- contents --------------------------------------------------------------------------

    def refresh(self) -> None:
        """Scan again (metadata only, on the scan's thread); the rows are shown when it ends."""
        self.folders.clear()
        self.folders.addItems(list(self._actions.folders))
        self.progress.setRange(0, 0)  # busy until the first place is counted
        self.progress.show()
        self.show_message("Looking for models…")
        self.scan.start()

    @property
    def scanning(self) -> bool:
        """A scan is running (its rows are not shown yet)."""
        return not self.progress.isHidden()

    def _scan_progress(self, done: int, total: int, place: str) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.show_message(f"Looking for models in {place} ({done + 1} of {total} places)…")

    def _show_rows(self, rows: list[LibraryRow]) -> None:
        """Show every row found; greyed where it cannot open."""
        self.progress.hide()
        self._rows = rows
        self.table.setRowCount(len(self._rows))
        for i, row in enumerate(self._rows):
            refusal = self._actions.refusal(row)
            note = row.problem or (refusal and "needs more memory than is free now") or (
                "loaded now" if _same_model(row.spec, self._loaded) else "")
            values = (
                row.name, row.architecture, format_count(row.parameters), row.quantization,
                format_bytes(row.file_bytes) if row.file_bytes else "",
                f"{row.context_length:,}" if row.context_length else "",
                format_bytes(row.memory_bytes) if row.memory_bytes else "",
                row.source, note, row.spec,
            )
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)  # plain text: a name or path is never markup
                if COLUMNS[column] in RIGHT_ALIGNED:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                item.setToolTip(plain_tooltip(refusal or row.spec))
                if not row.supported:
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsEnabled)
                self.table.setItem(i, column, item)
        found = sum(r.supported for r in self._rows)
        self.show_message(
            f"{len(self._rows)} model{'s' if len(self._rows) != 1 else ''} found, {found} Glassbox can open. "
            "Double-click one to open it." if self._rows else
            "No models found. Add a folder that holds .gguf files or model folders (config.json + *.safetensors)."
        )
        self._selection_changed()

    def rows(self) -> list[LibraryRow]:
        return list(self._rows)

    def show_message(self, text: str) -> None:
        self.message.setText(text)

    def _selection_changed(self) -> None:
        row = self.table.currentRow()
        self.open_button.setEnabled(0 <= row < len(self._rows) and self._rows[row].supported)
        self.remove_button.setEnabled(self.folders.currentItem() is not None)

    # -- intents ---------------------------------------------------------------------------

    def open_row(self, index: int) -> bool:
        """Open the model in row `index`: closes the dialog, or says why it was refused."""
        if not 0 <= index < len(self._rows):
            return False
        if refusal := self._actions.open(self._rows[index]):
            self.show_message(refusal)
            return False
        self.accept()
        return True

    def ask_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder that holds models", str(Path.home()))
        if folder:
            self.add_folder(folder)

    def add_folder(self, folder: str) -> None:
        self._actions.add_folder(folder)
        self.refresh()

    def _remove_selected_folder(self) -> None:
        if (item := self.folders.currentItem()) is not None:
            self._actions.remove_folder(item.text())
            self.refresh()


def _same_model(spec: str, loaded: str | None) -> bool:
    """Whether a row's file or folder is the loaded model's (the default model is loaded by the
    spec "default", so paths are compared, links resolved)."""
    if not loaded:
        return False
    try:
        return spec == loaded or Path(spec).resolve() == Path(loaded).resolve()
    except OSError:
        return False


def open_model_manager(parent: QWidget, controller) -> ModelManagerDialog:
    """Show the dialog for `controller`'s settings (`app.controller.Controller`); opening a row
    switches the model the way the Model menu does (`apply_settings`)."""
    actions = LibraryActions(lambda: controller.settings, controller.apply_settings, controller.remember)
    info = controller.model_info or {}
    dialog = ModelManagerDialog(actions, parent, info.get("path") or info.get("spec"))
    dialog.open()
    return dialog
