"""Preferences → Server: the OpenAI-compatible API inside the window (app/api_service.py).

On/off, the address and port to listen on, and the API key, which any address other than this
machine's (127.0.0.1, localhost, ::1) requires. Problems come from the settings' own validation
(app/server/listen.py, the same rules as `glassbox serve`) and show in place of each field's hint.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QFormLayout, QLineEdit, QSpinBox, QVBoxLayout, QWidget

from app.server.listen import DEFAULT_PORT, MIN_API_KEY_CHARS
from app.settings import AppSettings

SERVER_FIELDS = ("server_enabled", "server_host", "server_port", "server_api_key")
HOST_HINT = "127.0.0.1: this machine only; 0.0.0.0: every network interface (needs the API key)"
PORT_HINT = f"clients use http://HOST:PORT/v1 (default {DEFAULT_PORT})"
KEY_HINT = (f"clients send it as 'Authorization: Bearer KEY'; required off this machine, at least "
            f"{MIN_API_KEY_CHARS} characters; empty: none")
ENABLED_HINT = ("Other programs (editors, notebooks, the openai client) use the loaded model, with "
                "log-probabilities; their requests wait behind the window's replies. View → API Requests lists them.")


def _column(*widgets: QWidget) -> QVBoxLayout:
    box = QVBoxLayout()
    box.setSpacing(2)
    for widget in widgets:
        box.addWidget(widget)
    return box


class ServerTab(QWidget):
    """The tab's widgets; `values()` are AppSettings fields, `show_problems` puts problems in place."""

    changed = Signal()

    def __init__(self, parent=None):
        from ui.preferences import FieldMessage  # the dialog's own message label (no import cycle at load)

        super().__init__(parent)
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.enabled_check = QCheckBox("Serve the model over an OpenAI-compatible API")
        self.host_edit = QLineEdit()
        self.host_edit.setAccessibleName("Server address")
        self.port_spin = QSpinBox()
        self.port_spin.setRange(1, 65535)
        self.port_spin.setAccessibleName("Server port")
        self.key_edit = QLineEdit()
        self.key_edit.setAccessibleName("API key")
        self.key_edit.setEchoMode(QLineEdit.EchoMode.PasswordEchoOnEdit)
        self.messages = {
            "server_enabled": FieldMessage(ENABLED_HINT),
            "server_host": FieldMessage(HOST_HINT),
            "server_port": FieldMessage(PORT_HINT),
            "server_api_key": FieldMessage(KEY_HINT),
        }
        form.addRow("", _column(self.enabled_check, self.messages["server_enabled"]))
        form.addRow("Address", _column(self.host_edit, self.messages["server_host"]))
        form.addRow("Port", _column(self.port_spin, self.messages["server_port"]))
        form.addRow("API key", _column(self.key_edit, self.messages["server_api_key"]))
        self.enabled_check.toggled.connect(self._enable)
        for signal in (self.enabled_check.toggled, self.host_edit.textChanged, self.port_spin.valueChanged,
                       self.key_edit.textChanged):
            signal.connect(self.changed)

    def _enable(self, on: bool) -> None:
        for widget in (self.host_edit, self.port_spin, self.key_edit):
            widget.setEnabled(on)

    def set_value(self, name: str, app: AppSettings) -> None:
        value = getattr(app, name)
        if name == "server_enabled":
            self.enabled_check.setChecked(value)
            self._enable(value)
        elif name == "server_host":
            self.host_edit.setText(value)
        elif name == "server_port":
            self.port_spin.setValue(value)
        else:
            self.key_edit.setText(value)

    def values(self) -> dict:
        return {"server_enabled": self.enabled_check.isChecked(), "server_host": self.host_edit.text().strip(),
                "server_port": self.port_spin.value(), "server_api_key": self.key_edit.text().strip()}

    def show_problems(self, problems: dict[str, str]) -> int:
        """Show this tab's problems (only while the server is turned on: off, nothing listens);
        returns how many are shown."""
        on = self.enabled_check.isChecked()
        shown = 0
        for name, message in self.messages.items():
            problem = problems.get(name) if on else None
            message.show_problem(problem)
            shown += bool(problem)
        return shown
