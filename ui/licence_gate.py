"""A model's licence before first use: when a model whose terms must be accepted (Gemma's, not
Apache-2.0) has loaded and the user has not accepted them for that file, a window-modal dialog
shows them in full; Accept is remembered in the settings (per licence and model file), Decline goes
back to the model used before (the default model if there was none) and says so.

The terms are shown from their first line: a saved web page is reduced to its main content
(app/licence_text.py), shown as headings, paragraphs and list items built from plain text, never
rendered as HTML with links, images or the site's menus."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QFont, QTextBlockFormat, QTextCharFormat, QTextCursor, QTextDocument
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QTextEdit, QVBoxLayout, QWidget

from app.licence_terms import PendingTerms, accepted, pending_terms
from app.licence_text import read_terms
from app.notices import About
from app.settings import DEFAULT_MODEL


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
        self.text = QTextEdit()
        self.text.setReadOnly(True)
        self.text.setDocument(terms_document(pending.text_file, terms.url))
        self.text.document().setParent(self.text)
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


def terms_document(path: Path | None, url: str | None) -> QTextDocument:
    """The terms as a document of headings, paragraphs and list items (app/licence_text.py: the
    main content of a saved page, never its menus), built block by block from plain text: nothing
    in the file is read as markup. When there is no readable copy, the document says why and where
    to read the terms."""
    doc = QTextDocument()
    cursor = QTextCursor(doc)
    terms = read_terms(path) if path is not None else None
    if terms is None:
        _add(cursor, "Glassbox has no copy of these terms beside the model. "
             + (f"Read them at {url}." if url else "Read the terms its publisher gives."), first=True)
        return doc
    first = True
    if terms.problem:
        where = f"Read them at {url}." if url else "Read the terms its publisher gives."
        _add(cursor, f"Note: {terms.problem}. {where}", first=True, italic=True)
        first = False
    for block in terms.blocks:
        _add(cursor, block.text, first=first, level=block.level if block.kind == "heading" else 0,
             item=block.kind == "item")
        first = False
    return doc


HEADING_SCALE = {1: 1.5, 2: 1.25, 3: 1.1, 4: 1.0}


def _add(cursor: QTextCursor, text: str, first: bool, level: int = 0, item: bool = False, italic: bool = False) -> None:
    """One block of plain text: a heading (level 1–4: bold, larger), a list item (a bullet,
    indented) or a paragraph, with room above it."""
    block = QTextBlockFormat()
    block.setTopMargin(0 if first else (14 if level else 8))
    if level:
        block.setHeadingLevel(level)
    if item:
        block.setIndent(1)
        text = "• " + text
    chars = QTextCharFormat()
    if level:
        chars.setFontWeight(QFont.Weight.Bold)
        chars.setFontPointSize(cursor.document().defaultFont().pointSizeF() * HEADING_SCALE[level])
    chars.setFontItalic(italic)
    if first:
        cursor.setBlockFormat(block)
        cursor.setBlockCharFormat(chars)
    else:
        cursor.insertBlock(block, chars)
    # a line break written in the page stays one (U+2028 keeps it inside the block)
    cursor.insertText(text.replace("\n", "\u2028"), chars)


class LicenceGate(QObject):
    """Asks for a model's terms (see the module docstring); `dialog` is the open one.

    Before loading (`terms_needed`): nothing of the model is loaded or shown until Accept, which
    records the acceptance and loads it; Decline keeps the model in use (or, with none loaded yet,
    loads the default model). After loading (`model_loaded`, a model whose licence only loading
    could tell): Decline goes back to the model used before."""

    def __init__(self, window: QWidget, controller, notice, composer: QWidget | None = None):
        """composer: disabled from a Decline until the model gone back to has loaded, so nothing
        is sent to the declined model meanwhile."""
        super().__init__(window)
        self._window, self._controller, self._notice, self._composer = window, controller, notice, composer
        self._cleared_spec: str | None = None  # the last model used without pending terms
        self.dialog: LicenceDialog | None = None
        controller.terms_needed.connect(self._on_terms_needed)
        controller.model_loaded.connect(self._on_model_loaded)
        controller.model_failed.connect(lambda _message: self._hold(False))

    def _hold(self, held: bool) -> None:
        if self._composer is not None:
            self._composer.setEnabled(not held)

    def _ask(self, pending: PendingTerms, on_accept, on_decline) -> None:
        """Open the dialog for `pending`; a question still open is replaced (a later choice wins)."""
        if (old := self.dialog) is not None:
            self.dialog = None
            old.done(QDialog.DialogCode.Rejected)
        dialog = self.dialog = LicenceDialog(pending, self._window)
        dialog.accepted.connect(lambda: self._answered(dialog) and on_accept())
        dialog.rejected.connect(lambda: self._answered(dialog) and on_decline())
        dialog.open()

    def _answered(self, dialog: LicenceDialog) -> bool:
        """Whether `dialog` is the question still open (then it is closed now)."""
        if dialog is not self.dialog:
            return False
        self.dialog = None
        return True

    def _on_terms_needed(self, pending: PendingTerms, spec: str) -> None:
        self._ask(pending, lambda: self._accept_then_load(pending, spec), lambda: self._keep_current(pending))

    def _accept_then_load(self, pending: PendingTerms, spec: str) -> None:
        settings = accepted(self._controller.settings, pending)
        self._controller.remember(replace(settings, app=replace(settings.app, model=spec)))
        self._controller.load_model(spec)

    def _keep_current(self, pending: PendingTerms) -> None:
        """Declined before loading: the model in use stays (its choice back in the settings), or
        with none loaded yet, the default model is loaded."""
        settings = self._controller.settings
        info = self._controller.model_info or {}
        current = info.get("spec")
        self._controller.remember(replace(settings, app=replace(settings.app, model=current or DEFAULT_MODEL)))
        if current is None:
            self._controller.load_model(DEFAULT_MODEL)
        kept = f"{info.get('display_name') or current} stays in use" if current else "loading the default model instead"
        self._notice.show_info(f"You declined the {pending.licence.name}, so {pending.model} was not loaded: {kept}.",
                               About.MODEL_CHOICE)  # the user's own choice, carried out

    def _on_model_loaded(self, info: dict) -> None:
        self._hold(False)
        pending = pending_terms(info, self._controller.settings)
        if pending is None:
            self._cleared_spec = info.get("spec")
            return
        self._ask(pending, lambda: self._controller.remember(accepted(self._controller.settings, pending)),
                  lambda: self._go_back(pending))

    def _go_back(self, pending: PendingTerms) -> None:
        """Declined after loading: back to the model used before."""
        back = self._cleared_spec or DEFAULT_MODEL
        settings = self._controller.settings
        self._hold(True)
        self._controller.apply_settings(replace(settings, app=replace(settings.app, model=back)))
        self._notice.show_info(  # the user's own choice, carried out
            f"You declined the {pending.licence.name}, so {pending.model} is not used: "
            f"going back to {'the default model' if back == DEFAULT_MODEL else back}.", About.MODEL_CHOICE)
