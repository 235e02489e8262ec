"""The status bar: model, loading progress, and the last reply's numbers."""

from __future__ import annotations

import math

from PySide6.QtWidgets import QLabel, QProgressBar, QStatusBar

from engine.events import TokenEvent
from ui.text_format import byte_size

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
        self.speed_label.setToolTip("Generation speed of the last reply")
        self.ttft_label.setToolTip("Time to first token of the last reply")
        self.context_label.setToolTip("Context used by the conversation / the context window")
        self.kv_label.setToolTip("Memory held by the KV cache")
        self.addWidget(self.model_label)
        self.addWidget(self.progress)
        for label in (self.prompt_label, self.speed_label, self.ttft_label, self.context_label, self.kv_label):
            self.addPermanentWidget(label)
        self._context_length = 0

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
        self._context_length = int(info.get("context_length", 0))
        params = info.get("n_params", 0)
        self.model_label.setText(f"{info.get('display_name', info.get('name', 'model'))} · {params / 1e6:.0f}M params")
        self.model_label.setToolTip(
            f"{info.get('path', '')}\nstored as {info.get('stored_as', '?')}, held as {info.get('held_as', '?')}\n"
            f"loaded in {info.get('load_s', 0):.1f} s"
        )
        self.context_label.setText(f"context 0 / {self._context_length}")

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
        tps = stats.get("tokens_per_s", math.nan)
        self.speed_label.setText(f"{tps:.1f} tok/s" if not math.isnan(tps) else "")
        self.ttft_label.setText(f"first token {stats.get('ttft_s', 0) * 1000:,.0f} ms")
        context = stats.get("context_length") or self._context_length
        self.context_label.setText(f"context {stats.get('context_used', 0)} / {context}")
        self.kv_label.setText(f"KV cache {byte_size(stats.get('kv_bytes', 0))}")
