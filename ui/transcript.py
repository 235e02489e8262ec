"""The transcript: the conversation's messages in a scrolling column, kept in step with the controller.

It passes what the user asks of a message (edit and resend, regenerate, switch version, remember)
straight to the controller.
"""

from __future__ import annotations

import time

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QLabel, QScrollArea, QSizePolicy, QVBoxLayout, QWidget

from app.controller import ChatController
from app.reply_request import is_completion
from app.search_words import matched_spans
from ui.message_view import MessageView

COLUMN_MAX_WIDTH = 860
RENDER_SHARE = 0.25  # most of the GUI thread's time a streaming reply's re-rendering may take
EMPTY_TEXT = (
    "<h2>Ask anything</h2>"
    "<p>The reply streams in token by token. Each token is tinted by how sure the model was: "
    "the warmer the colour, the less likely it was.</p>"
    "<p>Hover a word to see its probability and the alternatives; click it to see the full "
    "next-token picture in the panel on the right.</p>"
)
TINT_OFF = (  # the tint is off: no colours to explain
    "<p>The reply streams in token by token (the probability tint is off: View → Probability Tint "
    "turns it on).</p>"
)


COMPLETION_HEADING = (  # the completion view: nothing is asked, a text is continued
    "<h2>Write the beginning of a text</h2>"
    "<p>The model continues it as written, with no chat template: it does not answer, it goes on.</p>"
)


def empty_text(tint: bool, completion: bool = False) -> str:
    """What an empty conversation says: what to write (a question, or in the completion view the
    beginning of a text), how the tint reads while it is on, that it is off when not."""
    text = EMPTY_TEXT
    if not tint:
        start, end = text.index("<p>"), text.index("</p>") + len("</p>")
        text = text[:start] + TINT_OFF + text[end:]
    if completion:  # its own heading; what follows speaks of a continuation, not a reply
        body = text[text.index("</h2>") + len("</h2>"):]
        text = COMPLETION_HEADING + body.replace("The reply streams", "The continuation streams")
    return text


HIGHLIGHT_MS = 2500


class Transcript(QScrollArea):
    token_selected = Signal(int, int)  # message index, token index
    inspect_requested = Signal(int, int)  # message index, token index
    rendered = Signal(int)  # message index: its view now shows the message's tokens so far
    inspect_message_requested = Signal(int, int)  # message index, character index in a user message
    message_character_clicked = Signal(int, int)  # message index, character index (a click in a user message)
    remembered = Signal(str)  # a fact the user saved from a message
    copied = Signal(str)  # a message's text went to the clipboard

    def __init__(self, controller: ChatController, tint: bool, parent=None):
        super().__init__(parent)
        self._controller = controller
        self._tint = tint
        self._tint_code = controller.settings.app.tint_code
        self._completion = False  # the open conversation is in the completion view (set_completion)
        self.views: list[MessageView] = []
        self._selected: tuple[int, int] | None = None
        self.setWidgetResizable(True)
        self.setAccessibleName("Conversation")
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)

        canvas = QWidget()
        canvas.setObjectName("transcriptCanvas")
        outer = QVBoxLayout(canvas)
        outer.setContentsMargins(16, 16, 16, 16)
        self._column = QWidget()
        self._column.setMaximumWidth(COLUMN_MAX_WIDTH)
        self._column.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self._layout = QVBoxLayout(self._column)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(12)
        self.empty_label = QLabel(empty_text(tint))
        self.empty_label.setObjectName("emptyState")
        self.empty_label.setWordWrap(True)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._layout.addWidget(self.empty_label)
        self._layout.addStretch(1)
        outer.addWidget(self._column, 0, Qt.AlignmentFlag.AlignHCenter)
        self.setWidget(canvas)

        self._stick_to_bottom = True
        self._anchor: tuple[MessageView, int | None] | None = None  # a search hit kept in sight
        self.verticalScrollBar().actionTriggered.connect(self._on_user_scroll)  # wheel, keys, the bar
        self.verticalScrollBar().rangeChanged.connect(self._on_range_changed)
        self.verticalScrollBar().valueChanged.connect(self._on_scrolled)

        controller.message_added.connect(self._on_message_added)
        # Re-rendering a reply costs more as it grows: render at most as often as leaves the GUI
        # thread RENDER_SHARE of its time, however fast tokens arrive.
        self._dirty: set[int] = set()
        self._render_s = 0.0
        self._rendered_at = 0.0
        self._render_timer = QTimer(self)
        self._render_timer.setSingleShot(True)
        self._render_timer.timeout.connect(self._render_dirty)
        controller.reply_tokens.connect(lambda index, _records: self._schedule(index))
        controller.reply_finished.connect(lambda index, _stats: self._refresh(index))
        controller.reply_failed.connect(lambda index, _error: self._refresh(index))
        controller.prefill_progress.connect(self._on_prefill)
        controller.conversation_reset.connect(self.clear)
        controller.busy_changed.connect(self._on_busy_changed)
        for index in range(len(controller.conversation.messages)):  # a conversation reopened at start
            self._on_message_added(index)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._column.setFixedWidth(min(COLUMN_MAX_WIDTH, max(200, self.viewport().width() - 32)))

    def clear(self) -> None:
        self._anchor = None
        for view in self.views:
            view.deleteLater()
        self.views = []
        self._selected = None
        self.empty_label.show()

    def set_tint(self, tint: bool, tint_code: bool | None = None) -> None:
        """Probability tint on or off; `tint_code`: over code too (None: as before)."""
        self._tint = tint
        if tint_code is not None:
            self._tint_code = tint_code
        self.empty_label.setText(empty_text(tint, self._completion))
        for view in self.views:
            view.set_tint(tint, self._tint_code)

    def set_completion(self, on: bool) -> None:
        """The open conversation's view: an empty one says what to write in it."""
        self._completion = on
        self.empty_label.setText(empty_text(self._tint, on))

    def select(self, message_index: int, token_index: int | None) -> None:
        """Highlight one token (and clear the previous highlight)."""
        if self._selected and self._selected[0] < len(self.views):
            self.views[self._selected[0]].select_token(None)
        self._selected = (message_index, token_index) if token_index is not None else None
        if token_index is not None:
            self.views[message_index].select_token(token_index)

    def highlight(self, message_index: int, query: str = "") -> None:
        """A search hit: mark the message for a moment and every word `query` matched in it (as a
        browser's find does, until `clear_marks`), and scroll so its first match is in sight (the
        message's top where nothing matched)."""
        if not 0 <= message_index < len(self.views):
            return
        view = self.views[message_index]
        self._stick_to_bottom = False
        self.clear_marks()
        first = view.text.mark_matches(matched_spans(view.message.text, query) if query.strip() else [])
        view.setProperty("highlighted", True)
        view.style().unpolish(view)
        view.style().polish(view)
        self._anchor = (view, first)
        QTimer.singleShot(0, self, self._follow_anchor)
        QTimer.singleShot(HIGHLIGHT_MS, view, lambda: self._unhighlight(view))

    def clear_marks(self) -> None:
        """Take away the marks of the last search."""
        for view in self.views:
            view.text.mark_matches([])

    def _follow_anchor(self) -> None:
        """Keep the search hit in sight (its match's position, else the message's top) while the
        conversation just opened is still being laid out; the user's own scroll ends this."""
        if self._anchor is None:
            return
        view, position = self._anchor
        if view not in self.views:
            self._anchor = None
            return
        if position is None:
            self.ensureWidgetVisible(view, 0, 40)
            return
        rect = view.text.show_position(position)
        centre = view.text.viewport().mapTo(self.widget(), rect.center())
        self.ensureVisible(centre.x(), centre.y(), 0, max(40, self.viewport().height() // 3))

    def _on_user_scroll(self, _action: int) -> None:
        self._anchor = None

    def _unhighlight(self, view: MessageView) -> None:
        if view in self.views:
            view.setProperty("highlighted", False)
            view.style().unpolish(view)
            view.style().polish(view)

    def _on_message_added(self, index: int) -> None:
        self.empty_label.hide()
        message = self._controller.message(index)
        completion = is_completion(message.asked) if message.role == "assistant" else self._controller.completion_mode
        view = MessageView(message, self._tint, self._tint_code, completion=completion)
        view.token_clicked.connect(lambda token, i=index: self._on_token_clicked(i, token))
        view.edit_submitted.connect(lambda text, i=index: self._controller.edit_and_resend(i, text))
        view.branch_step.connect(lambda step, i=index: self._controller.switch_branch(i, step))
        view.regenerate_requested.connect(self._controller.regenerate)
        view.continue_requested.connect(self._controller.continue_reply)
        view.remember_requested.connect(lambda text, v=view: self._remember(v, text))
        view.inspect_requested.connect(lambda token, i=index: self.inspect_requested.emit(i, token))
        view.inspect_message_requested.connect(lambda char, i=index: self.inspect_message_requested.emit(i, char))
        view.character_clicked.connect(lambda char, i=index: self.message_character_clicked.emit(i, char))
        view.copied.connect(self.copied)
        for earlier in self.views:
            earlier.set_last_reply(False)
        view.set_last_reply(True)
        view.set_actions_enabled(not self._controller.busy)
        self.views.append(view)
        self._layout.insertWidget(self._layout.count() - 1, view)
        self._stick_to_bottom = True
        self._anchor = None
        self._mark_left_out()

    def _mark_left_out(self) -> None:
        """Mark the messages the latest finished reply's context left out (its `dropped_messages`,
        the oldest history messages; a failed or empty reply is never history, so never counted)."""
        messages = [view.message for view in self.views]
        last = next((i for i in range(len(messages) - 1, -1, -1)
                     if messages[i].role == "assistant" and "dropped_messages" in messages[i].stats), None)  # fmt: skip
        left_out: set[int] = set()
        if last is not None:
            remaining = int(messages[last].stats.get("dropped_messages") or 0)
            for i, m in enumerate(messages[:last]):
                if remaining <= 0:
                    break
                if m.role == "assistant" and (m.error is not None or not m.text.strip()):
                    continue  # never sent to the model
                left_out.add(i)
                remaining -= 1
        for i, view in enumerate(self.views):
            view.set_left_out(i in left_out)

    def _remember(self, view: MessageView, text: str) -> None:
        memory = self._controller.remember_fact(text, view.message.id)
        self.remembered.emit(memory.text)

    def _on_busy_changed(self, busy: bool) -> None:
        for view in self.views:
            view.set_actions_enabled(not busy)

    def _on_token_clicked(self, message_index: int, token_index: int) -> None:
        self.select(message_index, token_index)
        self.token_selected.emit(message_index, token_index)

    def _schedule(self, index: int) -> None:
        self._dirty.add(index)
        if not self._render_timer.isActive():
            wait_s = self._render_s / RENDER_SHARE - (time.perf_counter() - self._rendered_at)
            self._render_timer.start(max(0, int(wait_s * 1000)))

    def _render_dirty(self) -> None:
        dirty, self._dirty = self._dirty, set()
        start = time.perf_counter()
        for index in sorted(dirty):
            if index < len(self.views):
                self.views[index].refresh()
                self.rendered.emit(index)
        self._rendered_at = time.perf_counter()
        self._render_s = self._rendered_at - start

    def _refresh(self, index: int) -> None:
        """Render now (a reply finished or failed)."""
        self._dirty.discard(index)
        if index < len(self.views):
            self.views[index].refresh()
            self.rendered.emit(index)
        self._mark_left_out()

    def _on_prefill(self, done: int, total: int) -> None:
        if self.views:
            self.views[-1].show_prefill(done, total)

    def _on_range_changed(self, _low: int, high: int) -> None:
        if self._anchor is not None:
            QTimer.singleShot(0, self, self._follow_anchor)
        elif self._stick_to_bottom:
            QTimer.singleShot(0, self, lambda: self.verticalScrollBar().setValue(self.verticalScrollBar().maximum()))

    def _on_scrolled(self, value: int) -> None:
        # Follow the reply while the user is at the bottom; stay put once they scroll up to read.
        self._stick_to_bottom = value >= self.verticalScrollBar().maximum() - 24
