"""A conversation written out for people (Markdown) and for programs (JSON): docs/export-format.md."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.attachments import chip_text
from app.finish_words import finish_text
from app.markdown_text import (
    fenced_as_written,
    markdown_as_written,
    plain_as_markdown,
    plain_line_as_markdown,
)
from app.reply_request import COMPLETION, is_completion
from app.store import conversation_settings
from engine.events import TokenEvent

if TYPE_CHECKING:
    from app.store.conversations import Store
    from app.store.records import Message


def write_export(store: Store, conversation_id: int, path: Path, kind: str) -> None:
    """Write a conversation to `path` as "markdown" or "json" (UTF-8)."""
    if kind == "markdown":
        text = export_markdown(store, conversation_id)
    else:
        text = json.dumps(export_json(store, conversation_id), ensure_ascii=False, indent=1)
    path.write_text(text, encoding="utf-8")


def export_markdown(store: Store, conversation_id: int) -> str:
    """The current branch as Markdown."""
    conv = store.conversation(conversation_id)
    lines = [f"# {plain_line_as_markdown(conv.title or 'Untitled conversation')}", ""]
    path = store.active_path(conversation_id)
    completion = _in_completion_view(store, conversation_id, path)
    if completion:
        lines += [f"*{COMPLETION_NOTE}*", ""]
    for m in path:
        role = (COMPLETION_ROLES if completion else CHAT_ROLES)[m.role]
        heading = plain_line_as_markdown(role + (f" ({m.model})" if m.model else ""))
        # a reply is Markdown, shown as the window shows it (a continuation is plain text, as the
        # completion view shows it); a user message is plain text, shown and read as written
        text = markdown_as_written(m.text) if m.role == "assistant" and not completion else plain_as_markdown(m.text)
        lines += [f"## {heading}", ""] + ([text, ""] if m.text or not m.attachments else [])
        for attachment in m.attachments:  # as the window shows it: a part of its own, named, text verbatim
            lines += [f"**Attached file:** {plain_line_as_markdown(chip_text(attachment))}", "",
                      fenced_as_written(attachment.text), ""]
        if m.role == "assistant" and m.finish_reason not in (None, "eos", "stop"):
            words = finish_text(m.finish_reason, m.stats or {})  # as the reply's header says it
            lines += [f"*[{plain_line_as_markdown(words)}]*", ""]
    return "\n".join(lines)


CHAT_ROLES = {"user": "User", "assistant": "Assistant", "system": "System"}
COMPLETION_ROLES = {"user": "Your text", "assistant": "Continuation", "system": "System"}  # the window's labels
COMPLETION_NOTE = ("A plain continuation: the text went to the model exactly as written, with no chat template, "
                   "and the model continued it.")


def _in_completion_view(store: Store, conversation_id: int, path: list[Message]) -> bool:
    """The view the conversation is shown in: its own choice, else the view its last reply was asked in."""
    mode = conversation_settings.read(store, conversation_id).mode
    if mode is not None:
        return mode == COMPLETION
    replies = [m for m in path if m.role == "assistant"]
    return bool(replies) and is_completion(replies[-1].settings or {})


def export_json(store: Store, conversation_id: int) -> dict[str, Any]:
    """The whole conversation (every branch, every token) as a JSON-ready dict."""
    conv = store.conversation(conversation_id)
    return {
        "format": "glassbox-conversation",
        "version": 1,
        "conversation": {
            "id": conv.id,
            "title": conv.title,
            "created": conv.created,
            "updated": conv.updated,
            "active_path": [m.id for m in store.active_path(conversation_id)],
            "own_settings": conversation_settings.read(store, conversation_id).to_json(),
        },
        "messages": [_message(store, m) for m in store.messages(conversation_id)],
    }


def _message(store: Store, m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"id": m.id, "parent_id": m.parent_id, "role": m.role, "text": m.text, "created": m.created}
    if m.attachments:
        out["attachments"] = [a.to_json() for a in m.attachments]
    if m.role == "assistant":
        out |= {
            "model": m.model,
            "settings": m.settings,
            "finish_reason": m.finish_reason,
            "stats": m.stats,
            "tokens": [_token(t) for t in store.tokens(m.id).tokens],
        }
    return out


def _token(t: TokenEvent) -> dict[str, Any]:
    def logprob(lp: float) -> float | None:
        return round(lp, 5) if math.isfinite(lp) else None

    def prob(lp: float) -> float | None:
        return round(math.exp(lp), 6) if math.isfinite(lp) else None

    return {
        "id": t.token,
        "text": t.piece,  # version 1's meaning: the token's own text
        "shown_text": t.text,
        "logprob": logprob(t.logprob),
        "prob": prob(t.logprob),
        "sampled_logprob": logprob(t.sampled_logprob),
        "sampled_prob": prob(t.sampled_logprob),
        "entropy": t.entropy if math.isfinite(t.entropy) else None,
        "top": [{"id": i, "text": p, "logprob": logprob(lp), "prob": prob(lp)} for i, p, lp in t.top_raw],
        "top_final": [{"id": i, "text": p, "logprob": logprob(lp), "prob": prob(lp)} for i, p, lp in t.top_final],
    }
