"""The status bar: model, loading progress, and the numbers of the conversation on screen.

Every number describes the conversation the window shows: a new conversation starts at "context 0"
over the context window its first request will get (the Preferences limit when one is set); a
reply's numbers (live, finished or reopened) are shown over the context window that reply was made
with (kept with it), so a limit changed since never makes an impossible fraction ("328 / 256"): the
tooltip says what the next reply will get instead.
"""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar, QToolButton, QToolTip

from app.controller import ChatController
from ui.completion_view import template_line
from ui.fitting import ELIDE, FittedLabel, fit, hidden_texts
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
        self.addWidget(self.model_label)
        self.addWidget(self.progress)
        self.labels = (self.model_label, self.prompt_label, self.speed_label, self.ttft_label, self.context_label,
                       self.kv_label)  # fmt: skip
        for label in self.labels[1:]:
            self.addPermanentWidget(label)
        self.addPermanentWidget(self.more_label)
        self._message = ""  # the transient message, whole
        self._shown_message = ""  # as it was put on screen (cut to the room)
        self.messageChanged.connect(self._on_message_changed)
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
        controller.reply_finished.connect(lambda _index, stats: self.show_stats(stats))
        controller.prefill_progress.connect(self.show_prefill)
        controller.reply_tokens.connect(lambda _index, records: records and self.show_stats(controller.live_numbers()))

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
            + ("\nNot measured for this conversation yet: its next reply measures it." if self._used is None else ""),
        )
        self.fit()

    def show_conversation(self, messages: list) -> None:
        """A conversation was opened (or a new one started): its last reply's numbers, or none.

        `messages`: `app.conversation.ChatMessage`s; a stored reply brings back its stats."""
        for label in (self.prompt_label, self.speed_label, self.ttft_label, self.kv_label):
            label.setText("")
        self.prompt_label.set_forms([""], PROMPT_CACHE_TIP)
        self._made_with = 0
        replies = [m for m in messages if m.role == "assistant"]
        stats = replies[-1].stats if replies else {}
        if "prompt_tokens" in stats:
            self.show_stats(stats)
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
            [f"{name} · {params / 1e6:.0f}M params", name, ""],
            f"{info.get('path', '')}\nstored as {info.get('stored_as', '?')}, held as {info.get('held_as', '?')}\n"
            f"{template_line(info)}\nloaded in {info.get('load_s', 0):.1f} s",
        )
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
        for label in (self.speed_label, self.ttft_label, self.kv_label):
            label.setText("")
        self._used = total
        self._show_context()

    def show_stats(self, stats: dict) -> None:
        if "prompt_tokens" not in stats:
            return
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
        self._used = int(stats.get("context_used") or 0)
        self._made_with = int(stats.get("context_length") or 0)  # kept with the reply: what it was made with
        self._show_context()

    # -- room ------------------------------------------------------------------------------

    def fit(self) -> None:
        """Shorter forms, then fewer numbers, until the row fits the window's width; what had no
        room at all is listed in the "…" label's tooltip. A transient message takes the model
        name's place (QStatusBar hides it meanwhile) and up to half the row."""
        m, p, t, k = self.model_label, self.prompt_label, self.ttft_label, self.kv_label
        # the numbers first: the model's name is cut, then left out (under "…"), before any number is
        steps = [(p, 1), (m, 1), (k, 1), (p, 2), (m, ELIDE), (m, 2), (k, 2), (t, 1)]
        grip = 20 if self.isSizeGripEnabled() else 0
        room = self.width() - grip - 2 * SPACING_PX
        if self.progress.isVisible():
            room -= self.progress.width() + SPACING_PX
        server = getattr(self, "server_label", None)  # made after the first fit
        if server is not None and server.isVisibleTo(self):
            room -= server.sizeHint().width() + SPACING_PX
        # still too wide (a large text size, the server's address): whole items go under "…", the
        # context last; never a number cut mid-word
        drop = [k, t, p, self.speed_label, m, self.context_label]
        row = self.labels
        if self._message:
            row = self.labels[1:]
            room -= min(self.fontMetrics().horizontalAdvance(self._message) + 2 * SPACING_PX, room // 2)
        fit(row, steps, room, SPACING_PX, drop)
        hidden = hidden_texts(row)
        if hidden:
            fit(row, steps, room - self.more_label.sizeHint().width() - SPACING_PX, SPACING_PX, drop)
            hidden = hidden_texts(row)
        self.more_label.setToolTip(plain_tooltip("\n".join([MORE_TIP, *hidden])))
        self.more_label.setVisible(bool(hidden))
        if self._message:  # QStatusBar hides the left-hand widgets under a message; keep it so
            # hidden explicitly: a hidden child that is not would be shown again by the layout that
            # QStatusBar rebuilds when its height changes (a zoom), under the message; the next
            # fit without a message shows it (fit() sets every label's visibility)
            self.model_label.hide()

    def _show_left_out(self) -> None:
        button = self.more_label
        QToolTip.showText(button.mapToGlobal(button.rect().topLeft()), button.toolTip(), button)

    def _message_room(self) -> int:
        """Pixels left of the numbers, where a message shows."""
        numbers = [label.shown_width() for label in self.labels[1:] if label.text()]
        if self.more_label.isVisibleTo(self):
            numbers.append(self.more_label.sizeHint().width())
        if self.server_label.isVisibleTo(self):
            numbers.append(self.server_label.sizeHint().width())
        taken = sum(numbers) + SPACING_PX * (len(numbers) + 3) + (20 if self.isSizeGripEnabled() else 0)
        return max(40, self.width() - taken)

    def _on_message_changed(self, text: str) -> None:
        """A message ended, or Qt showed one of its own (a menu item's status tip): follow it."""
        if text and text == self._shown_message:
            return
        self._message = self._shown_message = text
        self.setToolTip("")
        self.fit()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.fit()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() in (QEvent.Type.FontChange, QEvent.Type.StyleChange):  # zoom, theme: new widths
            QTimer.singleShot(0, self, self.fit)

    def showMessage(self, text: str, timeout: int = 0) -> None:  # noqa: N802 (Qt's name)
        """A transient message: the numbers give it room (shorter forms) while it shows; one still
        too long for the window is cut with "…" and shown whole in the status bar's tooltip."""
        self._message = text
        self.fit()
        room = self._message_room()
        shown = self.fontMetrics().elidedText(text, Qt.TextElideMode.ElideRight, room) if text else text
        self.setToolTip(plain_tooltip(text) if shown != text else "")  # the message as written
        self._shown_message = shown
        super().showMessage(shown, timeout)

    def full_message(self) -> str:
        """The message showing now, whole (`currentMessage()` is what fits on screen)."""
        return self._message if self.currentMessage() else ""
