"""Where the user writes: a message box (Enter sends, Shift+Enter adds a line), Attach, and
Send/Stop. Text files dropped on it or chosen with Attach become parts of the message of their own,
shown as chips above the box (name, size, tokens, × to remove; `app.attachments`), never text in
the box; what could not be attached, and whether an attachment fits, shows under the box."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
)

from app.attachments import Attachment, AttachmentError, read_attachment
from ui.attachment_chips import AttachmentChips
from ui.wrap_label import WrapLabel

MAX_VISIBLE_LINES = 8
COMPACT_BELOW_PX = 440  # narrower than this, Attach… is a "+" (its tooltip says what it does)


CHAT_PLACEHOLDERS = ("Message Glassbox…  (Shift+Enter: new line)", "Message Glassbox…", "Message…")
COMPLETION_PLACEHOLDERS = ("Text for the model to continue…  (Shift+Enter: new line)", "Text to continue…", "Text…")


class MessageBox(QPlainTextEdit):
    """Plain-text input that grows with its content up to a few lines."""

    submitted = Signal()
    files_dropped = Signal(list)  # local file paths dropped on the box

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("messageBox")
        self.setAccessibleName("Message")
        self.placeholder_forms = CHAT_PLACEHOLDERS
        self.setPlaceholderText(self.placeholder_forms[0])
        self.setTabChangesFocus(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.document().contentsChanged.connect(self._fit_height)
        self._fit_height()

    def keyPressEvent(self, event) -> None:
        enter = event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        if enter and not (event.modifiers() & Qt.KeyboardModifier.ShiftModifier):
            self.submitted.emit()
            return
        super().keyPressEvent(event)

    def _local_files(self, event) -> list[str]:
        mime = event.mimeData()
        return [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []

    def dragEnterEvent(self, event) -> None:
        if self._local_files(event):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:
        if self._local_files(event):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:
        """Dropped files are attached (never pasted as file:// text)."""
        if paths := self._local_files(event):
            event.acceptProposedAction()
            self.files_dropped.emit(paths)
        else:
            super().dropEvent(event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        # the hint about Shift+Enter only when it fits on the box's one line, and a shorter one after
        self._fit_placeholder()

    def set_placeholder_forms(self, forms: tuple[str, ...]) -> None:
        """What the empty box says, longest first (the longest that fits is shown)."""
        self.placeholder_forms = forms
        self._fit_placeholder()

    def _fit_placeholder(self) -> None:
        """The longest form that fits the box's line; where even the shortest does not (a large
        text size in a narrow chat), it cut with "…" and the whole hint in the box's tooltip: Qt
        would wrap it onto a second line the box has no room for ("Message." at 270 %)."""
        room = self.viewport().width() - 24
        forms, metrics = self.placeholder_forms, self.fontMetrics()
        shown = next((f for f in forms if metrics.horizontalAdvance(f) <= room), None)
        if shown is None:
            shown = metrics.elidedText(forms[-1], Qt.TextElideMode.ElideRight, max(1, room))
        self.setPlaceholderText(shown)
        self.setToolTip("" if shown in forms else forms[0])
        self.viewport().update()  # drawn now, not at the next repaint (verify 5: the old text stayed until a send)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._fit_height()  # the stylesheet's font and padding apply only once polished

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._fit_height()
            self._fit_placeholder()  # a zoom: the same room holds a shorter form

    def _fit_height(self) -> None:
        wanted = int(self.document().size().height())
        lines = max(1, min(MAX_VISIBLE_LINES, wanted))
        policy = Qt.ScrollBarPolicy.ScrollBarAsNeeded if wanted > MAX_VISIBLE_LINES else Qt.ScrollBarPolicy.ScrollBarAlwaysOff
        self.setVerticalScrollBarPolicy(policy)
        line_height = self.fontMetrics().lineSpacing()
        margins = self.contentsMargins().top() + self.contentsMargins().bottom()
        doc_margin = int(self.document().documentMargin() * 2)
        self.setFixedHeight(lines * line_height + margins + doc_margin + 8)

    def sizeHint(self) -> QSize:
        return QSize(400, self.height())


class Composer(QFrame):
    """The message box, Attach, and one button that reads Send, or Stop while a reply streams."""

    send_requested = Signal(str)
    stop_requested = Signal()
    attached = Signal(object)  # an Attachment added to the message
    attachments_changed = Signal()  # a file was attached or removed (or all were taken by a send)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("composer")
        self.box = MessageBox()
        self.button = QPushButton("Send")
        self.button.setObjectName("sendButton")
        self.button.setAccessibleName("Send or stop")
        self.button.setMinimumWidth(84)
        self.button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.attach_button = QPushButton("Attach…")
        self.attach_button.setObjectName("attachButton")
        self.attach_button.setAccessibleName("Attach text files")
        self.attach_button.setToolTip("Attach text files: the model reads them with your message (or drop files on the box)")
        self.attach_button.clicked.connect(self.ask_files)
        self.info = WrapLabel()  # what attaching did or could not do; plain text (file names are data)
        self.info.setObjectName("fieldHint")
        self.info.hide()
        self._info_timer = QTimer(self)  # a line shown `for_ms` goes when it fires
        self._info_timer.setSingleShot(True)
        self._info_timer.timeout.connect(lambda: self.show_info(""))
        self.token_count = QLabel()  # the message's live token count (ui/live_token_count.py)
        self.token_count.setObjectName("fieldHint")
        self.token_count.setAlignment(Qt.AlignmentFlag.AlignRight)
        self.token_count.hide()
        self._busy = False
        self._stopping = False  # Stop was asked for and the reply has not ended yet
        self._last_dir: Path | None = None
        self.chips = AttachmentChips(removable=True)  # the files attached to the message being written
        self.chips.removed.connect(self.remove_attachment)
        row = QHBoxLayout()
        row.setSpacing(10)
        row.addWidget(self.attach_button, 0, Qt.AlignmentFlag.AlignBottom)
        row.addWidget(self.box, 1)
        row.addWidget(self.button, 0, Qt.AlignmentFlag.AlignBottom)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 10, 16, 14)
        layout.setSpacing(4)
        layout.addWidget(self.chips)
        layout.addLayout(row)
        hints = QHBoxLayout()
        hints.addWidget(self.info, 1)
        hints.addWidget(self.token_count, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(hints)
        self.box.files_dropped.connect(self.attach_files)
        self.box.submitted.connect(self._submit)
        self.button.clicked.connect(self._on_button)
        self.box.textChanged.connect(self._update_button)
        self.box.textChanged.connect(self._drop_stale_problem)
        self._update_button()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        # a narrow chat column (a small window with the panel open) keeps its room for the message
        compact = self.width() < COMPACT_BELOW_PX
        self.attach_button.setText("+" if compact else "Attach…")
        self.button.setMinimumWidth(60 if compact else 84)

    # -- attachments -----------------------------------------------------------------------

    def ask_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Attach text files", str(self._last_dir or Path.home()), "Text files (*.txt *.md *.py *.json *.csv *.log);;All files (*)"
        )
        if paths:
            self.attach_files(paths)

    @property
    def attachments(self) -> list[Attachment]:
        """The files attached to the message being written, in the order they were attached."""
        return self.chips.attachments()

    def set_attachments(self, attachments) -> None:
        """Attach exactly these files (a message given back, a draft restored)."""
        self.chips.set_attachments(list(attachments))
        self._attachments_changed()

    def update_attachment(self, old: Attachment, new: Attachment) -> bool:
        """Show `new` in place of the attached `old` (its token count came); False if `old` is no
        longer attached."""
        for chip in self.chips.chips:
            if chip.attachment is old:
                chip.set_attachment(new)
                return True
        return False

    def remove_attachment(self, attachment: Attachment) -> None:
        """Take an attached file out of the message (its ×)."""
        kept = [a for a in self.attachments if a is not attachment]
        self.chips.set_attachments(kept)
        if not kept:
            self.show_info("")
        self._attachments_changed()
        self.box.setFocus()

    def _attachments_changed(self) -> None:
        self._update_button()
        self.attachments_changed.emit()

    def attach_files(self, paths: list[str]) -> list[Attachment]:
        """Attach each file to the message (a chip above the box); say what could not be attached."""
        attached, problems = [], []
        for path in paths:
            try:
                attachment = read_attachment(path)
            except AttachmentError as e:
                problems.append(str(e))
                continue
            self._last_dir = Path(path).parent
            self.chips.set_attachments([*self.attachments, attachment])
            attached.append(attachment)
            self.attached.emit(attachment)
        if attached:
            self._attachments_changed()
        if problems:
            self.show_info(" ".join(problems), problem=True)
        elif attached:
            names = ", ".join(a.name for a in attached)
            self.show_info(f"Attached {names} · counting tokens…")
        self.box.setFocus()
        return attached

    def show_info(self, text: str, problem: bool = False, for_ms: int = 0) -> None:
        """A line under the box (hidden when `text` is empty); red when it is a problem; gone after
        `for_ms` milliseconds when given (0: until replaced)."""
        self._info_timer.stop()
        if text and for_ms > 0:
            self._info_timer.start(for_ms)
        self.info.setText(text)
        self.info.setVisible(bool(text))
        self.info.setProperty("problem", problem)
        self.info.style().unpolish(self.info)
        self.info.style().polish(self.info)

    def _drop_stale_problem(self) -> None:
        """A problem (a file that could not be attached) no longer applies once the message is
        edited, sent or replaced: the line goes; other lines stay until the next send."""
        if self.info.property("problem"):
            self.show_info("")

    def show_token_count(self, count: int | None, room: int | None = None) -> None:
        """The message's token count under the box (hidden for None: empty box, or no model); red,
        with about how many fit, when it is more than `room` tokens (it cannot be sent whole)."""
        words = "" if count is None else f"{count:,} token{'s' if count != 1 else ''}"
        too_long = count is not None and room is not None and count > room
        if too_long:
            words += f" — too long: about {max(room, 0):,} fit"
        self.token_count.setText(words)
        self.token_count.setToolTip("The message and the conversation must fit the model's context window, with room "
                                    "kept for the reply: shorten it or start a new conversation." if too_long else "")
        self.token_count.setProperty("problem", too_long)
        self.token_count.style().unpolish(self.token_count)
        self.token_count.style().polish(self.token_count)
        self.token_count.setVisible(count is not None)

    def set_busy(self, busy: bool) -> None:
        """While busy the button stops the reply and Enter does not send."""
        self._busy = busy
        self._stopping = False
        self.button.setText("Stop" if busy else "Send")
        self.button.setToolTip("Stop the reply (Esc)" if busy else "Send (Enter)")
        self.button.setProperty("busy", busy)
        self.button.style().unpolish(self.button)
        self.button.style().polish(self.button)
        self._update_button()

    def set_stopping(self) -> None:
        """Stop was asked for: the button says so and waits (until `set_busy(False)`)."""
        if self._busy:
            self.button.setText("Stopping…")
            self.button.setToolTip("The model finishes the step it is on (a part of the prompt, or one token)")
            self.button.setEnabled(False)
            self._stopping = True

    def _update_button(self) -> None:
        if self._busy and self._stopping:
            return  # waits for the reply to end
        self.button.setEnabled(self._busy or bool(self.box.toPlainText().strip()) or bool(self.attachments))

    def _on_button(self) -> None:
        if self._busy:
            self.stop_requested.emit()
        else:
            self._submit()

    def _submit(self) -> None:
        text = self.box.toPlainText()
        if self._busy or not (text.strip() or self.attachments):
            return
        self.send_requested.emit(text)
