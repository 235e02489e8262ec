"""A model's licence before first use: when a model whose terms must be accepted (Gemma's, not
Apache-2.0) has loaded and the user has not accepted them for that file, a window-modal dialog
shows them in full; Accept is remembered in the settings (per licence and model file), Decline goes
back to the model used before (the default model if there was none) and says so.

The terms are shown as plain text: an HTML copy is reduced to its text, never rendered with links
or images."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QTextDocumentFragment
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QPlainTextEdit, QVBoxLayout, QWidget

from app.licence_terms import PendingTerms, accepted, pending_terms


class LicenceDialog(QDialog):
    def __init__(self, pending: PendingTerms, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(f"Licence of {pending.model}")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.resize(640, 520)
        terms = pending.licence
        intro = (
            f"{pending.model} is licensed under the {terms.name}. Glassbox uses it only if you accept these "
            "terms; you are asked once for this model file."
        )
        self.intro = QLabel(intro + (f"\nThe terms online: {terms.url}" if terms.url else ""))
        self.intro.setTextFormat(Qt.TextFormat.PlainText)
        self.intro.setWordWrap(True)
        self.intro.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text = QPlainTextEdit(terms_text(pending.text_file, terms.url))
        self.text.setReadOnly(True)
        self.text.setAccessibleName("Licence text")
        buttons = QDialogButtonBox()
        self.accept_button = buttons.addButton("&Accept", QDialogButtonBox.ButtonRole.AcceptRole)
        self.decline_button = buttons.addButton("&Decline", QDialogButtonBox.ButtonRole.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.intro)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)


def terms_text(path: Path | None, url: str | None) -> str:
    """The terms as plain text (an HTML copy reduced to its text), or where to read them."""
    if path is None:
        return f"Glassbox has no copy of these terms beside the model. Read them at {url}." if url else \
            "Glassbox has no copy of these terms beside the model: read the terms its publisher gives."
    try:
        raw = path.read_text(encoding="utf-8", errors="replace")
    except OSError as e:
        return f"The terms beside the model ({path}) cannot be read: {e.strerror or e}."
    if path.suffix.lower() in (".html", ".htm"):
        return QTextDocumentFragment.fromHtml(raw).toPlainText()
    return raw


class LicenceGate(QObject):
    """Asks for a loaded model's terms (see the module docstring); `dialog` is the open one."""

    def __init__(self, window: QWidget, controller, notice, composer: QWidget | None = None):
        """composer: disabled from a Decline until the model gone back to has loaded, so nothing
        is sent to the declined model meanwhile."""
        super().__init__(window)
        self._window, self._controller, self._notice, self._composer = window, controller, notice, composer
        self._cleared_spec: str | None = None  # the last model used without pending terms
        self.dialog: LicenceDialog | None = None
        controller.model_loaded.connect(self._on_model_loaded)
        controller.model_failed.connect(lambda _message: self._hold(False))

    def _hold(self, held: bool) -> None:
        if self._composer is not None:
            self._composer.setEnabled(not held)

    def _on_model_loaded(self, info: dict) -> None:
        self._hold(False)
        pending = pending_terms(info, self._controller.settings)
        if pending is None:
            self._cleared_spec = info.get("spec")
            return
        if (old := self.dialog) is not None:  # another model loaded meanwhile: its question replaces this one
            self.dialog = None
            old.done(QDialog.DialogCode.Rejected)
        dialog = self.dialog = LicenceDialog(pending, self._window)
        dialog.accepted.connect(lambda: self._accept(dialog, pending))
        dialog.rejected.connect(lambda: self._decline(dialog, pending))
        dialog.open()

    def _accept(self, dialog: LicenceDialog, pending: PendingTerms) -> None:
        if dialog is self.dialog:
            self.dialog = None
            self._controller.remember(accepted(self._controller.settings, pending))

    def _decline(self, dialog: LicenceDialog, pending: PendingTerms) -> None:
        if dialog is not self.dialog:
            return
        self.dialog = None
        back = self._cleared_spec or "default"
        settings = self._controller.settings
        self._notice.show_info(  # the user's own choice, carried out
            f"You declined the {pending.licence.name}, so {pending.model} is not used: "
            f"going back to {'the default model' if back == 'default' else back}."
        )
        self._hold(True)
        self._controller.apply_settings(replace(settings, app=replace(settings.app, model=back)))
