"""The status bar: model, loading progress, and the numbers of the conversation on screen.

Every number describes the conversation the window shows: a new conversation starts at "context 0"
over the context window its first request will get (the Preferences limit when one is set); a
reply's numbers (live, finished or reopened) are shown over the context window that reply was made
with (kept with it), so a limit changed since never makes an impossible fraction ("328 / 256"): the
tooltip says what the next reply will get instead.

Figures of a reply another model wrote (a conversation from before a model switch) are that model's
tokens and window, not the loaded model's: the row says "last reply by <model>" (its figures in the
tooltip) and the context over the loaded model's window, not measured in its tokens yet.

A transient message ("Copied …", "Stopping: …") takes the room between the model's name and the
figures: the figures give it room in shorter forms (the least important go under "…"); the model's
name stays. A message about a state (`show_until`) goes when that state ends, not after a time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, SignalInstance
from PySide6.QtGui import QCursor
from PySide6.QtWidgets import QLabel, QProgressBar, QSizePolicy, QStatusBar, QToolButton, QToolTip

from app.controller import ChatController
from app.reply_model import written_by
from ui.completion_view import template_line
from ui.fitting import DROP, ELIDE, FittedLabel, fit, hidden_texts, label_padding
from ui.text_format import byte_size, duration, plain_tooltip

PROMPT_CACHE_TIP = (
    "Tokens in the last prompt. The model is stateless: every reply reads the whole conversation again.\n"
    "The prompt cache keeps the attention keys and values (the KV cache) of earlier prompts, so the\n"
    "tokens a prompt shares with one of them are reused (cached) and only the rest are computed.\n"
    "Fewer computed tokens means a shorter wait for the first token."
)
SOURCE_TIP = {
    "memory": "The cached tokens came from memory (an earlier request in this session).",
    "disk": "The cached tokens were loaded from disk (a prompt cache saved in an earlier session).",
    "none": "Nothing was cached for this prompt: every token was computed.",
}


SPACING_PX = 6  # between the status bar's items (QStatusBar's own layout)
MESSAGE_MIN_PX = 160  # a message cut narrower says too little: the context goes under "…" first
MORE_TIP = "Not shown for lack of room (a wider window shows them):"


def prompt_text(stats: dict) -> str:
    """E.g. "prompt 2,173 tok (2,146 cached · 27 computed)"."""
    return prompt_forms(stats)[0]


def prompt_forms(stats: dict) -> list[str]:
    """The prompt's numbers from full to short: "prompt 2,173 tok (2,146 cached · 27 computed)",
    "prompt 2,173 tok (27 computed)", "prompt 2,173 tok"; a reply stopped while its prompt was read
    (cached + computed < prompt) says what was read: "prompt 275 of 1,864 tok read (stopped)"."""
    total = stats["prompt_tokens"]
    cached = stats.get("cached_tokens", 0)
    computed = stats.get("computed_tokens")
    if isinstance(computed, int) and cached + computed < total:  # stopped while the prompt was read
        read = f"prompt {cached + computed:,} of {total:,} tok read"
        return [f"{read} (stopped · {cached:,} cached · {computed:,} computed)", read] if cached else [
            f"{read} (stopped)", read]
    short = f"prompt {total:,} tok"
    full = f"{short} ({cached:,} cached · {total - cached:,} computed)"
    return [full, f"{short} ({total - cached:,} computed)", short] if cached else [full, short]


class MessageLabel(QLabel):
    """The status bar's transient message, in plain text: the longest of its forms (the full text,
    then shorter ones that still say what matters) that fits the room the status bar gives it, the
    shortest cut with "…" when none does; the whole text is its tooltip whenever less shows. It
    never asks for width itself."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

    def padding(self) -> int:
        """Pixels of the label's width that are not text (the style sheet's padding, margins)."""
        return label_padding(self)

    def form_fitting(self, forms: Sequence[str], room: int) -> str | None:
        """The longest of `forms` (full first) whose text fits a label `room` px wide, or None."""
        return next((form for form in forms if self.fontMetrics().horizontalAdvance(form) + self.padding() <= room),
                    None)  # fmt: skip

    def set_message(self, forms: Sequence[str], room: int) -> None:
        """Show the first of `forms` that fits `room` px, else the last one cut with "…"."""
        full = forms[0] if forms else ""
        shown = self.form_fitting(forms, room) if full else ""
        if shown is None:
            shown = self.fontMetrics().elidedText(forms[-1], Qt.TextElideMode.ElideRight, max(0, room - self.padding()))
        tip = plain_tooltip(full) if shown != full else ""
        if self.toolTip() != tip and QToolTip.isVisible() and QToolTip.text() == self.toolTip():
            self._replace_shown_tip(tip)  # the tooltip on screen is this message's: it goes with it
        self.setText(shown)
        self.setToolTip(tip)
        self.setVisible(bool(shown))

    def _replace_shown_tip(self, tip: str) -> None:
        """The tooltip showing the old message shows `tip` instead where it is, or goes ("")."""
        if tip and self.isVisible():
            QToolTip.showText(QCursor.pos(), tip, self)
        else:
            QToolTip.hideText()


class StatusBar(QStatusBar):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.model_label = FittedLabel()
        self.model_label.setText("No model")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(140)
        self.progress.setMaximumHeight(12)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.prompt_label = FittedLabel()
        self.speed_label = FittedLabel()
        self.ttft_label = FittedLabel()
        self.context_label = FittedLabel()
        self.kv_label = FittedLabel()
        self.model_label.set_forms(["No model"], "The loaded model")
        self.prompt_label.set_forms([""], PROMPT_CACHE_TIP)
        self.speed_label.set_forms([""], "How fast the last reply in this conversation was written")
        self.ttft_label.set_forms([""], "How long the last reply in this conversation took to start")
        self.kv_label.set_forms([""], "Memory the model's attention cache (KV cache) held for the last reply")
        self.more_label = QToolButton()  # stands for the numbers a narrow window has no room for
        self.more_label.setText("…")
        self.more_label.setAutoRaise(True)
        self.more_label.setAccessibleName("Numbers left out for lack of room")
        self.more_label.clicked.connect(self._show_left_out)  # a click says it too (no hover on touch)
        self.more_label.hide()
        self.other_label = FittedLabel()  # "last reply by <model>": a reply another model wrote
        self.message_label = MessageLabel()  # the transient message (QStatusBar's own would hide the name)
        self.addWidget(self.model_label)
        self.addWidget(self.progress)
        self.addWidget(self.message_label, 1)
        self.labels = (self.model_label, self.prompt_label, self.speed_label, self.ttft_label, self.context_label,
                       self.kv_label)  # fmt: skip
        self.addPermanentWidget(self.other_label)
        for label in self.labels[1:]:
            self.addPermanentWidget(label)
        self.addPermanentWidget(self.more_label)
        self._row = (self.model_label, self.other_label, *self.labels[1:])  # what `fit` shares the width among
        self._message = ""  # the transient message, whole
        self._shorter: tuple[str, ...] = ()  # shorter forms of it, longest first
        self._message_timer = QTimer(self)
        self._message_timer.setSingleShot(True)
        self._message_timer.timeout.connect(self.clearMessage)
        self._stats: dict = {}  # the numbers of the reply shown ({}: none)
        self._writer: str | None = None  # the model that wrote it (None: not known)
        self._loaded = ""  # the loaded model's name ("": none yet)
        self._other: str | None = None  # the reply shown was written by this other model (None: by this one)
        self._tip = ""  # a menu item's status tip, while it shows
        self._model_context = 0  # the model's own context window
        self._context_limit = 0  # Preferences' context length (0: the model's own)
        self._reply_limit = 0  # Preferences' max new tokens
        self._used: int | None = 0  # tokens the conversation on screen fills (None: not measured)
        self._made_with = 0  # the context window the reply shown was made with (0: none shown, or not known)
        self._show_context()
        self.server_label = QLabel("")  # the API server (Preferences → Server): where, how many requests
        self.server_label.setTextFormat(Qt.TextFormat.PlainText)
        self.server_label.hide()
        self.addPermanentWidget(self.server_label)

    def show_server(self, text: str, problem: bool = False) -> None:
        """Where the API listens and how many requests it is answering ("" hides it)."""
        self.server_label.setText(text)
        self.server_label.setVisible(bool(text))
        self.server_label.setToolTip(
            "The server could not start; change it in Preferences → Server." if problem else
            "The OpenAI-compatible API (Preferences → Server): its address for clients, and the requests "
            "being answered or waiting. View → API Requests lists them."
        )
        self.fit()  # the numbers make room for it

    def follow(self, controller: ChatController) -> None:
        """Keep the numbers on the conversation the window shows, and the limits on the settings."""
        self.set_limits(controller.settings.app.context_length, controller.settings.app.max_new_tokens)
        controller.settings_changed.connect(
            lambda settings: self.set_limits(settings.app.context_length, settings.app.max_new_tokens)
        )
        controller.conversation_opened.connect(lambda _id: self.show_conversation(controller.conversation.messages))
        self.show_conversation(controller.conversation.messages)  # one reopened before the window existed
        controller.reply_finished.connect(lambda index, stats: self.show_stats(stats, written_by(controller.message(index))))
        controller.prefill_progress.connect(self.show_prefill)
        controller.reply_tokens.connect(lambda index, records: records and self.show_stats(
            controller.live_numbers(), written_by(controller.message(index))))

    def set_limits(self, context_length: int, max_new_tokens: int) -> None:
        self._context_limit, self._reply_limit = context_length, max_new_tokens
        self._show_context()

    @property
    def context_window(self) -> int:
        """The context window the next request gets: Preferences' limit, at most the model's own."""
        if self._context_limit and self._model_context:
            return min(self._context_limit, self._model_context)
        return self._context_limit or self._model_context

    @property
    def shown_window(self) -> int:
        """The context window in the label: the one the reply shown was made with, else the next
        request's (a conversation with no measured reply yet)."""
        return self._made_with or self.context_window

    def _show_context(self) -> None:
        window, following = self.shown_window, self.context_window
        if not window:
            self.context_label.setText("")
            self.fit()
            return
        used = "—" if self._used is None else f"{self._used:,}"
        if self._made_with:
            what = f"the context window this reply was made with ({window:,} tokens)"
        else:
            limit = ", the limit set in Preferences" if self._context_limit else ""
            what = f"the context window: the most the model reads at once ({window:,} tokens{limit})"
        changed = following and following != window
        self.context_label.set_forms(
            [f"context {used} / {window:,}"],
            "Tokens this conversation fills in the model's context window (its last prompt and reply) / "
            f"{what}. Older messages that do not fit are left out and marked in the conversation."
            + (f"\nThe next reply gets a context window of {following:,} tokens"
               f"{' (the limit set in Preferences)' if self._context_limit else ''}"
               f"{': earlier messages that do not fit in it will be left out' if following < window else ''}."
               if changed else "")
            + (f"\nA reply stops after {self._reply_limit:,} new tokens (Preferences → Max new tokens)."
               if self._reply_limit else "")
            + ("" if self._used is not None else
               f"\nNot measured in {self._loaded}'s tokens yet: the last reply was written by {self._other} "
               "(its figures are under \"last reply by\"); the next reply measures it." if self._other else
               "\nNot measured for this conversation yet: its next reply measures it."),
        )
        self.fit()

    def show_conversation(self, messages: list) -> None:
        """A conversation was opened (or a new one started): its last reply's numbers, or none.

        `messages`: `app.conversation.ChatMessage`s; a stored reply brings back its stats."""
        for label in (self.prompt_label, self.speed_label, self.ttft_label, self.kv_label, self.other_label):
            label.setText("")
        self.prompt_label.set_forms([""], PROMPT_CACHE_TIP)
        self._made_with = 0
        self._stats, self._writer, self._other = {}, None, None
        replies = [m for m in messages if m.role == "assistant"]
        stats = replies[-1].stats if replies else {}
        if "prompt_tokens" in stats:
            self.show_stats(stats, written_by(replies[-1]))
        else:
            self._used = None if replies else 0
            self._show_context()

    def show_loading(self, progress: float, text: str) -> None:
        self.model_label.setText(text)
        self.fit()
        self.progress.show()
        if progress < 0:
            self.progress.setRange(0, 0)  # busy indicator
        else:
            self.progress.setRange(0, 100)
            self.progress.setValue(int(progress * 100))

    def show_model(self, info: dict) -> None:
        self.progress.hide()
        self._model_context = int(info.get("context_length", 0))
        params = info.get("n_params", 0)
        name = info.get("display_name", info.get("name", "model"))
        self.model_label.set_forms(  # the tooltip shows the path as written (FittedLabel: plain text)
            [f"{name} · {params / 1e6:.0f}M params", name],  # never left out for a figure (fit)
            f"{info.get('path', '')}\nstored as {info.get('stored_as', '?')}, held as {info.get('held_as', '?')}\n"
            f"{template_line(info)}\nloaded in {info.get('load_s', 0):.1f} s",
        )
        self._loaded = str(info.get("display_name") or "")
        if self._stats:  # its figures may be another model's now (or this one's again)
            self._show_reply()
        else:
            self._show_context()

    def show_model_failed(self, previous: dict | None) -> None:
        self.progress.hide()
        if previous:
            self.show_model(previous)
        else:
            self.model_label.setText("No model loaded")
            self.fit()

    def show_prefill(self, done: int, total: int) -> None:
        """A new reply's prompt is being read: its progress, and no number of the reply before it
        (its speed, first-token time and cache memory are not this reply's); the context holds
        the whole prompt."""
        self.prompt_label.set_forms([f"prompt {done:,}/{total:,}"], "Reading the prompt (tokens read / the prompt's tokens)")
        for label in (self.speed_label, self.ttft_label, self.kv_label, self.other_label):
            label.setText("")
        self._used, self._made_with, self._other = total, 0, None
        self._show_context()

    def show_stats(self, stats: dict, writer: str | None = None) -> None:
        """The numbers of the reply on screen (live, finished or reopened); `writer`: the model that
        wrote it (`app.reply_model.written_by`), None when not known."""
        if "prompt_tokens" not in stats:
            return
        self._stats, self._writer = stats, writer
        self._show_reply()

    def _show_reply(self) -> None:
        stats = self._stats
        self._other = other = self._writer if self._writer and self._loaded and self._writer != self._loaded else None
        source = SOURCE_TIP.get(stats.get("cache_source", ""))
        self.prompt_label.set_forms(prompt_forms(stats), PROMPT_CACHE_TIP + (f"\n\n{source}" if source else ""))
        tps = stats.get("tokens_per_s")  # NaN live or None stored when not measurable
        self.speed_label.setText(f"{tps:.1f} tok/s" if isinstance(tps, float) and not math.isnan(tps) else "")
        ttft = stats.get("ttft_s")
        self.ttft_label.set_forms([f"first token {duration(ttft)}", ""] if isinstance(ttft, (int, float)) else [""])
        kv = stats.get("kv_bytes")  # kept with a stored reply, so a reopened one shows what was shown
        tip = "Memory the model's attention cache (KV cache) held at the end of the last reply"
        if kv:
            self.kv_label.set_forms([f"KV cache {byte_size(kv)}", f"KV {byte_size(kv)}", ""], tip)
        elif stats.get("context_used"):  # a reply saved before Glassbox kept this number
            self.kv_label.set_forms(["KV cache —", "KV —", ""], tip + " (not recorded for this reply)")
        else:
            self.kv_label.set_forms([""], tip)
        used = int(stats.get("context_used") or 0)
        made_with = int(stats.get("context_length") or 0)  # kept with the reply: what it was made with
        if other is None:
            self.other_label.setText("")
            self._used, self._made_with = used, made_with
        else:  # its figures are in another model's tokens: named, in the tooltip, not beside this model's name
            figures = [label.full_text() for label in (self.prompt_label, self.speed_label, self.ttft_label)]
            context = f"context {used:,} / {made_with:,}" if made_with else f"context {used:,}"
            figures += [context, self.kv_label.full_text()]
            for label in (self.prompt_label, self.speed_label, self.ttft_label, self.kv_label):
                label.setText("")
            self.other_label.set_forms(
                [f"last reply by {other}", ""],
                f"The reply on screen was written by {other}; {self._loaded} is loaded now and reads text in "
                f"tokens of its own, so these figures are {other}'s, not the next reply's:\n"
                + "\n".join(f for f in figures if f)
                + f"\nThe next reply, by {self._loaded}, measures this conversation in its own tokens.",
            )
            self._used, self._made_with = None, 0  # the context: the loaded model's window, not measured in it yet
        self._show_context()

    # -- the transient message -------------------------------------------------------------

    def showMessage(self, text: str, timeout: int = 0, shorter: Sequence[str] = ()) -> None:  # noqa: N802 (Qt's name)
        """A transient message, for `timeout` ms (0: until cleared), between the model's name and
        the figures: they give it room in shorter forms (the least important go under "…"). Where
        the whole text has no room, the longest of `shorter` (forms that still say what matters,
        longest first) that fits shows; where none fits, the shortest is cut with "…". Whenever
        less than the whole shows, the whole is the message's tooltip."""
        self._message, self._shorter = text, tuple(shorter)
        if timeout > 0 and text:
            self._message_timer.start(timeout)
        else:
            self._message_timer.stop()
        self.fit()

    def show_until(self, text: str, *ended: SignalInstance) -> None:
        """A message about a state ("Stopping: …"): shown until one of `ended` is next emitted (the
        state has ended, however long that takes), then cleared unless another message replaced it."""
        self.showMessage(text)
        connections = []

        def end(*_args) -> None:
            for connection in connections:
                QObject.disconnect(connection)
            if self._message == text:
                self.clearMessage()

        connections.extend(signal.connect(end) for signal in ended)

    def clearMessage(self) -> None:  # noqa: N802 (Qt's name)
        self.showMessage("")

    def currentMessage(self) -> str:  # noqa: N802 (Qt's name)
        """The message as it shows now (cut to its room); `full_message()` is the whole of it."""
        return self.message_label.text()

    def full_message(self) -> str:
        """The message showing now, whole."""
        return self._message

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ParentChange and self.parentWidget() is not None:
            self.parentWidget().installEventFilter(self)  # the window's status tips come here (eventFilter)
        return super().event(event)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt's name)
        """A menu item's status tip, which QMainWindow would show through QStatusBar's own message
        (hiding the model's name): shown as ours, until the menu says it has ended."""
        if event.type() != QEvent.Type.StatusTip:
            return False
        tip = event.tip()
        if tip:
            self._tip = tip
            self.showMessage(tip)
        elif self._tip:
            if self._message == self._tip:
                self.clearMessage()
            self._tip = ""
        return True

    # -- room ------------------------------------------------------------------------------

    def fit(self) -> None:
        """Shorter forms, then fewer numbers, until the row fits the window's width; what had no
        room at all is listed in the "…" label's tooltip. The model's name is the last thing
        left out: the figures are shortened and dropped (the least important first, the context
        last) before it is cut with "…". A transient message gets up to half the row: the
        figures give it room (the least important go under "…"), never the model's name."""
        m, o, p, t, k = self.model_label, self.other_label, self.prompt_label, self.ttft_label, self.kv_label
        c, speed = self.context_label, self.speed_label
        steps = [(p, 1), (m, 1), (k, 1), (p, 2), (k, 2), (t, 1), (o, ELIDE),  # shorter forms; KV, first token out
                 (p, DROP), (speed, DROP), (o, DROP), (m, ELIDE), (c, DROP), (m, ELIDE), (m, DROP)]  # the name last
        grip = 20 if self.isSizeGripEnabled() else 0
        room = self.width() - grip - 2 * SPACING_PX
        if self.progress.isVisible():
            room -= self.progress.width() + SPACING_PX
        server = getattr(self, "server_label", None)  # made after the first fit
        if server is not None and server.isVisibleTo(self):
            room -= server.sizeHint().width() + SPACING_PX
        row, whole, more = self._row, room, self.more_label.sizeHint().width() + SPACING_PX
        if self._message:  # its room first: up to half the row, as far as the name (cut at most) and the
            # context keep theirs, or, in a row too narrow for that, MESSAGE_MIN_PX beside the name alone
            beside_name = room - m.narrowest_width() - more - 2 * SPACING_PX
            beside_both = beside_name - c.form_width(0) - SPACING_PX
            share = max(0, min(room // 2, max(beside_both, min(MESSAGE_MIN_PX, beside_name))))
            form = self.message_label.form_fitting(self._forms(), share - 2 * SPACING_PX)  # a shorter one may fit
            want = self.message_label.fontMetrics().horizontalAdvance(form) + self.message_label.padding() if form else share
            room -= min(want + 2 * SPACING_PX, share)
            steps = [step for step in steps if step != (m, DROP)]
        fit(row, steps, room, SPACING_PX)
        hidden = hidden_texts(row)
        if hidden:
            fit(row, steps, room - more, SPACING_PX)
            hidden = hidden_texts(row)
        self.more_label.setToolTip(plain_tooltip("\n".join([MORE_TIP, *hidden])))
        self.more_label.setVisible(bool(hidden))
        shown = [label.shown_width() for label in row if label.text()]
        used = sum(shown) + SPACING_PX * len(shown) + (more if hidden else 0)
        self.message_label.set_message(self._forms(), whole - used - SPACING_PX)

    def _forms(self) -> list[str]:
        """The transient message's forms, whole first ([] when there is none)."""
        return [self._message, *self._shorter] if self._message else []

    def _show_left_out(self) -> None:
        button = self.more_label
        QToolTip.showText(button.mapToGlobal(button.rect().topLeft()), button.toolTip(), button)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):  # zoom, theme: new widths
            QTimer.singleShot(0, self, self._fit_new_font)

    def _fit_new_font(self) -> None:
        """Fit, then rebuild QStatusBar's own row: it keeps the widths and height from before a zoom
        (verify 7). Only on a font or style change: a rebuild per token batch would be wasted work."""
        self.fit()
        self.reformat()
