"""Memories: the dialog to view, add, edit, pin and delete them, and the confirmation a "forget …"
message asks for. Memories apply to every conversation and persist in the app's database."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.memories import Memories, Memory
from ui.confirm import confirm


def confirm_forget(parent: QWidget, memories: list[Memory]) -> bool:
    """Ask before deleting what a "forget …" message matched."""
    listing = "\n".join(f"• {m.text}" for m in memories)
    noun = "this memory" if len(memories) == 1 else f"these {len(memories)} memories"
    return confirm(parent, "Forget", f"Forget {noun}?\n\n{listing}")


EMPTY_TEXT = (
    "No memories yet. Type one below and press Add, or start a message with "
    "“remember that …” and Glassbox keeps it."
)


class MemoryDialog(QDialog):
    """Double-click a memory to edit it; pinned memories go into every request."""

    def __init__(self, memories: Memories, parent=None):
        super().__init__(parent)
        self._memories = memories
        self.setWindowTitle("Memories")
        self.resize(520, 440)
        intro = QLabel(
            "Facts Glassbox tells the model in every conversation when they match what you ask. "
            "Ticked (pinned) ones are always included. Double-click a memory to edit it."
        )
        intro.setWordWrap(True)
        self.list = QListWidget()
        self.list.setObjectName("memoryList")
        self.list.setAccessibleName("Memories")
        self.list.setWordWrap(True)
        self.list.setEditTriggers(
            QListWidget.EditTrigger.DoubleClicked | QListWidget.EditTrigger.EditKeyPressed
        )
        self.empty_label = QLabel(EMPTY_TEXT)  # instead of an empty white box
        self.empty_label.setObjectName("emptyState")
        self.empty_label.setWordWrap(True)
        self.empty_label.setTextFormat(Qt.TextFormat.PlainText)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.new_box = QLineEdit()
        self.new_box.setPlaceholderText("Something to remember, e.g. “I prefer metric units”")
        self.add_button = QPushButton("Add")
        self.pin_button = QPushButton("Pin")
        self.delete_button = QPushButton("Delete")
        add_row = QHBoxLayout()
        add_row.addWidget(self.new_box, 1)
        add_row.addWidget(self.add_button)
        actions = QHBoxLayout()
        actions.addWidget(self.pin_button)
        actions.addWidget(self.delete_button)
        actions.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        close.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.list, 1)
        layout.addWidget(self.empty_label, 1)
        layout.addLayout(actions)
        layout.addLayout(add_row)
        layout.addWidget(close)

        self.add_button.clicked.connect(self.add)
        self.new_box.returnPressed.connect(self.add)
        self.pin_button.clicked.connect(self.toggle_pin)
        self.delete_button.clicked.connect(self.delete_selected)
        self.list.itemChanged.connect(self._edited)
        self.list.currentItemChanged.connect(lambda _current, _previous: self._update_buttons())
        memories.changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        selected = self.selected()
        self.list.blockSignals(True)
        self.list.clear()
        for memory in self._memories.list():
            item = QListWidgetItem(memory.text)
            item.setData(Qt.ItemDataRole.UserRole, memory.id)
            item.setCheckState(Qt.CheckState.Checked if memory.pinned else Qt.CheckState.Unchecked)
            item.setToolTip("Pinned (ticked): in every request. Unticked: used when it matches your message.")
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsEditable | Qt.ItemFlag.ItemIsUserCheckable)
            self.list.addItem(item)
            if selected is not None and memory.id == selected.id:
                self.list.setCurrentItem(item)
        self.list.blockSignals(False)
        self.list.setVisible(self.list.count() > 0)
        self.empty_label.setVisible(self.list.count() == 0)
        self._update_buttons()

    def selected(self) -> Memory | None:
        item = self.list.currentItem()
        if item is None:
            return None
        return self._memories.get(item.data(Qt.ItemDataRole.UserRole))

    def _update_buttons(self) -> None:
        memory = self.selected()
        self.pin_button.setEnabled(memory is not None)
        self.delete_button.setEnabled(memory is not None)
        self.pin_button.setText("Unpin" if memory is not None and memory.pinned else "Pin")
        for button in (self.pin_button, self.delete_button):  # nothing to pin or delete: not offered
            button.setVisible(self.list.count() > 0)

    def add(self) -> None:
        text = self.new_box.text().strip()
        if text:
            self._memories.remember(text)
            self.new_box.clear()

    def toggle_pin(self) -> None:
        if (memory := self.selected()) is not None:
            self._memories.update(memory.id, pinned=not memory.pinned)

    def delete_selected(self) -> None:
        if (memory := self.selected()) is not None:
            self._memories.forget([memory.id])

    def _edited(self, item: QListWidgetItem) -> None:
        """The text was edited or the pin ticked (an emptied text is not saved)."""
        pinned = item.checkState() == Qt.CheckState.Checked
        self._memories.update(item.data(Qt.ItemDataRole.UserRole), text=item.text(), pinned=pinned)
