"""View → API Requests: the recent API requests (Preferences → Server), and each one opened like a
conversation: what the client sent, the reply with its tokens tinted by probability, and the
next-token panel on the token clicked.

The list is newest first: time, the model name the client asked for, endpoint, tokens in/out, time
to first token, tokens per second and why it finished (or the error it got). It follows the
server live (`ApiService.request_seen`). Nothing here reaches the conversation store: a request
is shown as it was served, not saved as a conversation.
"""

from __future__ import annotations

import math
import time

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFrame,
    QLabel,
    QScrollArea,
    QSplitter,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.api_service import ApiService
from app.server.request_log import ServedRequest
from ui.probability_panel import ProbabilityPanel
from ui.tables import read_only_table
from ui.text_format import duration
from ui.token_text import TokenText

COLUMNS = ("Time", "Model asked for", "Endpoint", "Tokens in", "Tokens out", "First token", "Tok/s", "Finish")
ENDPOINTS = {"chat": "chat", "completions": "completion"}
PLACEHOLDER = "Requests to the API show here (Preferences → Server turns it on). Click one to open it."


def row_values(request: ServedRequest) -> tuple[str, ...]:
    """The row of one request, as the table shows it."""
    ttft, tps = request.ttft_s, request.tokens_per_s
    if not request.done:
        finish = "running"
    else:
        finish = request.error or request.finish_reason or "—"
    return (
        time.strftime("%H:%M:%S", time.localtime(request.started)),
        request.client_model or "—",
        ENDPOINTS.get(request.endpoint, request.endpoint),
        f"{request.tokens_in:,}" if request.stats else "—",
        f"{request.tokens_out:,}",
        duration(ttft) if not math.isnan(ttft) else "—",
        f"{tps:.1f}" if not math.isnan(tps) else "—",
        finish,
    )


def header_text(request: ServedRequest) -> str:
    """One line about a request: "07:15:51 · my-editor · chat · 28 tokens in · 40 out · first token
    1.4 s · 12.5 tok/s · length"."""
    when, model, endpoint, tokens_in, tokens_out, ttft, tps, finish = row_values(request)
    parts = [when, model, endpoint, f"{tokens_in} tokens in" if tokens_in != "—" else "",
             f"{tokens_out} out", f"first token {ttft}" if ttft != "—" else "",
             f"{tps} tok/s" if tps != "—" else "", finish]
    return " · ".join(p for p in parts if p)


def _plain(text: str, name: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setTextFormat(Qt.TextFormat.PlainText)  # what a client sent is text, never markup
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    return label


def _role(text: str) -> QLabel:
    """Who wrote a part of the request ("user", "reply"), as a bold heading above it."""
    label = _plain(text, "requestRole")
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


class RequestView(QWidget):
    """One request as a conversation: the prompt's messages (or the raw prompt), then the reply."""

    def __init__(self, panel: ProbabilityPanel, parent=None):
        super().__init__(parent)
        self.panel = panel
        self.request: ServedRequest | None = None
        self.selected: int | None = None  # the reply token clicked (the panel shows its step)
        self._events: list = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(12, 12, 12, 12)
        self.reply = TokenText()
        self.reply.setAccessibleName("Reply")
        self.reply.token_clicked.connect(self._on_token)
        self.header = _plain(PLACEHOLDER, "requestHeader")
        self._prompt: list[QLabel] = []
        self.reply_label = _role("")
        self._layout.addWidget(self.header)
        self._layout.addWidget(self.reply_label)
        self._layout.addWidget(self.reply)
        self._layout.addStretch(1)
        self.reply.hide()

    def show_request(self, request: ServedRequest, tint: bool = True) -> None:
        self.request = request
        for label in self._prompt:
            self._layout.removeWidget(label)
            label.deleteLater()
        self._prompt = []
        self.header.setText(header_text(request))
        if request.prompt is not None:
            turns = [("prompt (raw text, no chat template)", request.prompt)]
        else:
            turns = [(m["role"], m["content"]) for m in request.messages]
        at = 1
        for role, text in turns:
            for widget in (_role(role), _plain(text, "requestText")):
                self._layout.insertWidget(at, widget)
                self._prompt.append(widget)
                at += 1
        self.reply_label.setText("reply" if request.done else "reply (still being written)")
        events = list(request.events)  # a snapshot: a running request's list grows on the server's thread
        self.reply.set_content("".join(ev.text for ev in events), events, tint)
        self._events = events
        self.selected = None
        self.reply.show()
        self.panel.clear()

    def _on_token(self, index: int) -> None:
        if self.request is not None and 0 <= index < len(self._events):
            self.reply.select_token(index)
            self.selected = index
            self.panel.show_selected(self._events[index], index)


class RequestsWindow(QDialog):
    """The list of recent API requests over the opened one and its next-token panel; the panel's
    "Inspect this step…" opens the Inspector on the clicked token's step (`inspect_requested`)."""

    inspect_requested = Signal(object, int)  # the ServedRequest, its reply token's index

    def __init__(self, api: ApiService, tint: bool = True, top_k: int = 10, parent=None):
        super().__init__(parent)
        self.setWindowTitle("API Requests")
        self.resize(1200, 760)
        self.api, self.tint = api, tint
        self.table = read_only_table(COLUMNS, "API requests")
        self.table.horizontalHeader().setStretchLastSection(True)
        self.panel = ProbabilityPanel(top_k, tint=tint)
        self.panel.offers_alternatives = False  # a request is not a reply to continue with another token
        self.panel.inspect_requested.connect(self._inspect)
        self.view = RequestView(self.panel)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(self.view)
        lower = QSplitter(Qt.Orientation.Horizontal)
        lower.addWidget(scroll)
        lower.addWidget(self.panel)
        lower.setSizes([800, 400])
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(lower)
        split.setSizes([260, 500])
        layout = QVBoxLayout(self)
        layout.addWidget(split)
        self._rows: list[ServedRequest] = []
        self.table.itemSelectionChanged.connect(self._open_selected)
        api.request_seen.connect(self._on_seen)
        self.refresh()

    def set_tint(self, on: bool) -> None:
        """The probability tint was turned on or off: the opened reply and the legend follow."""
        self.tint = on
        self.view.reply.set_tint(on)
        self.panel.set_tint(on)

    def refresh(self) -> None:
        """Rebuild the list from the server's recent requests, newest first (the selection kept)."""
        opened = self.view.request
        self._rows = list(reversed(self.api.requests.recent()))
        self.table.blockSignals(True)
        self.table.setRowCount(len(self._rows))
        for row, request in enumerate(self._rows):
            for column, value in enumerate(row_values(request)):
                item = QTableWidgetItem(value)
                if column in (3, 4, 5, 6):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                self.table.setItem(row, column, item)
            if request is opened:
                self.table.selectRow(row)
        self.table.blockSignals(False)

    def _inspect(self) -> None:
        view = self.view
        if view.request is not None and view.selected is not None:
            self.inspect_requested.emit(view.request, view.selected)

    def open_row(self, row: int) -> None:
        self.table.selectRow(row)  # opens it (itemSelectionChanged)

    def _open_selected(self) -> None:
        rows = {index.row() for index in self.table.selectedIndexes()}
        if len(rows) == 1 and (row := rows.pop()) < len(self._rows):
            self.view.show_request(self._rows[row], self.tint)

    def _on_seen(self, request: ServedRequest) -> None:
        self.refresh()
        if request is self.view.request and request.done:
            self.view.show_request(request, self.tint)  # it finished while open: its whole reply
