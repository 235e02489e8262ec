"""The status bar: model, loading progress, and the numbers of the conversation on screen.

Every number describes the conversation the window shows: a new conversation starts at "context 0",
a reopened one shows its last reply's numbers, and the context window is the one the next request
will get (the Preferences limit when one is set), beside the reply limit.
"""

from __future__ import annotations

import math

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from app.controller import ChatController
from engine.events import TokenEvent
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


def prompt_text(stats: dict) -> str:
    """E.g. "prompt 2,173 tok (2,146 cached · 27 computed)"."""
    total = stats["prompt_tokens"]
    cached = stats.get("cached_tokens", 0)
    return f"prompt {total:,} tok ({cached:,} cached · {total - cached:,} computed)"


class StatusBar(QStatusBar):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.model_label = QLabel("No model")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(140)
        self.progress.setMaximumHeight(12)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.prompt_label = QLabel("")
        self.speed_label = QLabel("")
        self.ttft_label = QLabel("")
        self.context_label = QLabel("")
        self.kv_label = QLabel("")
        self.model_label.setToolTip("The loaded model")
        self.prompt_label.setToolTip(PROMPT_CACHE_TIP)
        self.speed_label.setToolTip("How fast the last reply in this conversation was written")
        self.ttft_label.setToolTip("How long the last reply in this conversation took to start")
        self.kv_label.setToolTip("Memory the model's attention cache (KV cache) held for the last reply")
        self.addWidget(self.model_label)
        self.addWidget(self.progress)
        for label in (self.prompt_label, self.speed_label, self.ttft_label, self.context_label, self.kv_label):
            self.addPermanentWidget(label)
        for label in (self.model_label, self.prompt_label, self.speed_label, self.ttft_label, self.context_label,
                      self.kv_label):  # fmt: skip
            label.setTextFormat(Qt.TextFormat.PlainText)  # a model's name is whatever its file says
        self._model_context = 0  # the model's own context window
        self._context_limit = 0  # Preferences' context length (0: the model's own)
        self._reply_limit = 0  # Preferences' max new tokens
        self._used: int | None = 0  # tokens the conversation on screen fills (None: not measured)
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
            "being answered or waiting. View → Requests lists them."
        )

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
        controller.reply_tokens.connect(
            lambda index, records: records and self.show_live(records[-1], len(controller.message(index).tokens))
        )

    def set_limits(self, context_length: int, max_new_tokens: int) -> None:
        self._context_limit, self._reply_limit = context_length, max_new_tokens
        self._show_context()

    @property
    def context_window(self) -> int:
        """The context window the next request gets: Preferences' limit, at most the model's own."""
        if self._context_limit and self._model_context:
            return min(self._context_limit, self._model_context)
        return self._context_limit or self._model_context

    def _show_context(self) -> None:
        window = self.context_window
        if not window:
            self.context_label.setText("")
            return
        used = "—" if self._used is None else f"{self._used:,}"
        self.context_label.setText(f"context {used} / {window:,}")
        self.context_label.setToolTip(
            "Tokens this conversation fills in the model's context window (its last prompt and reply) / "
            f"the context window: the most the model reads at once ({window:,} tokens"
            f"{', the limit set in Preferences' if self._context_limit else ''}). Older messages that do "
            "not fit are left out and marked in the conversation."
            + (f"\nA reply stops after {self._reply_limit:,} new tokens (Preferences → Max new tokens)."
               if self._reply_limit else "")
            + ("\nNot measured for this conversation yet: its next reply measures it." if self._used is None else "")
        )

    def show_conversation(self, messages: list) -> None:
        """A conversation was opened (or a new one started): its last reply's numbers, or none.

        `messages`: `app.conversation.ChatMessage`s; a stored reply brings back its stats."""
        for label in (self.prompt_label, self.speed_label, self.ttft_label, self.kv_label):
            label.setText("")
        self.prompt_label.setToolTip(PROMPT_CACHE_TIP)
        replies = [m for m in messages if m.role == "assistant"]
        stats = replies[-1].stats if replies else {}
        if "prompt_tokens" in stats:
            self.show_stats(stats)
        else:
            self._used = None if replies else 0
            self._show_context()

    def show_loading(self, progress: float, text: str) -> None:
        self.model_label.setText(text)
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
        self.model_label.setText(f"{info.get('display_name', info.get('name', 'model'))} · {params / 1e6:.0f}M params")
        self.model_label.setToolTip(plain_tooltip(  # a path is whatever the files are called
            f"{info.get('path', '')}\nstored as {info.get('stored_as', '?')}, held as {info.get('held_as', '?')}\n"
            f"loaded in {info.get('load_s', 0):.1f} s"
        ))
        self._show_context()

    def show_model_failed(self, previous: dict | None) -> None:
        self.progress.hide()
        if previous:
            self.show_model(previous)
        else:
            self.model_label.setText("No model loaded")

    def show_prefill(self, done: int, total: int) -> None:
        self.prompt_label.setText(f"prompt {done:,}/{total:,}")

    def show_live(self, token: TokenEvent, generated: int) -> None:
        """Running numbers while a reply streams (from its newest token)."""
        decode_s = token.elapsed_s - token.ttft_s
        self.show_stats({
            "prompt_tokens": token.prompt_tokens,
            "cached_tokens": token.cached_tokens,
            "tokens_per_s": (generated - 1) / decode_s if generated > 1 and decode_s > 0 else math.nan,
            "ttft_s": token.ttft_s,
            "context_used": token.prompt_tokens + generated,
            "kv_bytes": token.kv_bytes,
        })

    def show_stats(self, stats: dict) -> None:
        if "prompt_tokens" not in stats:
            return
        self.prompt_label.setText(prompt_text(stats))
        source = SOURCE_TIP.get(stats.get("cache_source", ""))
        self.prompt_label.setToolTip(PROMPT_CACHE_TIP + (f"\n\n{source}" if source else ""))
        tps = stats.get("tokens_per_s")  # NaN live or None stored when not measurable
        self.speed_label.setText(f"{tps:.1f} tok/s" if isinstance(tps, float) and not math.isnan(tps) else "")
        ttft = stats.get("ttft_s")
        self.ttft_label.setText(f"first token {duration(ttft)}" if isinstance(ttft, (int, float)) else "")
        self._used = int(stats.get("context_used") or 0)
        self._show_context()
        kv = stats.get("kv_bytes")  # not kept with a stored reply: memory is held only while it runs
        self.kv_label.setText(f"KV cache {byte_size(kv)}" if kv else "")
