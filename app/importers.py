"""Conversations from other files: ChatGPT's `conversations.json` and Glassbox's own JSON export.

`read_conversations(path)` finds the format, checks it and returns typed `ImportedConversation`s;
nothing is written. `app.import_writer.save_imported` then stores them. A file that is not one of
these formats, or is damaged, raises ImportFileError with a message naming the file and the
problem; one damaged conversation inside a ChatGPT export is skipped and counted, not fatal.

ChatGPT (`conversations.json`): a list of conversations, each with `title`, `create_time` and a
`mapping` of node id -> {message, parent, children}; a message has `author.role`,
`content.content_type` and `content.parts`. The conversation shown in ChatGPT is the path from
`current_node` up to the root; system, tool and hidden messages are skipped, and parts that are not
text (images, files) are left out. Glassbox (docs/export-format.md): every message of every branch,
with the active path; the tree, models, settings, finish reasons, stats and tokens are kept.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app.attachments import Attachment
from app.byte_sizes import MB, format_bytes

MAX_IMPORT_BYTES = 512 * MB
ROLES = ("user", "assistant")


class ImportFileError(ValueError):
    """A file that cannot be imported; the message is for the user."""


@dataclass(frozen=True)
class ImportedMessage:
    """One message; `parent` is the index of its parent in the conversation's `messages` (None:
    a first message). Assistant extras are None/empty when the source had none."""

    role: str  # "user" or "assistant"
    text: str
    parent: int | None = None
    created: float | None = None
    model: str | None = None
    settings: dict[str, Any] | None = None
    finish_reason: str | None = None
    stats: dict[str, Any] | None = None
    tokens: tuple[dict[str, Any], ...] = ()  # as docs/export-format.md writes them
    attachments: tuple[Attachment, ...] = ()  # files attached to a user message (a Glassbox export)


@dataclass(frozen=True)
class ImportedConversation:
    title: str
    messages: tuple[ImportedMessage, ...]
    active_leaf: int | None  # index of the last message of the branch to show
    created: float | None = None
    source: str = ""  # "chatgpt" or "glassbox"
    own_settings: dict[str, Any] = field(default_factory=dict)  # the conversation's own system prompt …


@dataclass
class ImportResult:
    conversations: list[ImportedConversation] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # what was left out and why, one line each


def read_conversations(path: str | Path) -> ImportResult:
    """The conversations in a ChatGPT or Glassbox export file; ImportFileError if there are none."""
    path = Path(path)
    name = path.name
    try:
        if path.stat().st_size > MAX_IMPORT_BYTES:
            raise ImportFileError(f"{name} is larger than {format_bytes(MAX_IMPORT_BYTES)}; it was not imported.")
        raw = path.read_bytes()
    except OSError as e:
        raise ImportFileError(f"{name} could not be read: {e.strerror or e}.") from None
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ImportFileError(f"{name} is not a text file, so it is not a conversation export.") from None
    except json.JSONDecodeError as e:
        raise ImportFileError(f"{name} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}).") from None
    if isinstance(data, dict) and data.get("format") == "glassbox-conversation":
        return ImportResult([read_glassbox(data, name)])
    if isinstance(data, list) or (isinstance(data, dict) and "mapping" in data):
        return read_chatgpt(data if isinstance(data, list) else [data], name)
    raise ImportFileError(
        f"{name} is neither a ChatGPT export (conversations.json) nor a Glassbox JSON export."
    )


# -- ChatGPT ---------------------------------------------------------------------------------


def read_chatgpt(items: list, name: str) -> ImportResult:
    result = ImportResult()
    for number, item in enumerate(items, 1):
        title = item.get("title") if isinstance(item, dict) and isinstance(item.get("title"), str) else ""
        label = f"conversation {number}" + (f" (“{title}”)" if title else "")
        try:
            conversation = _chatgpt_conversation(item)
        except ImportFileError as e:
            result.skipped.append(f"{label}: {e}")
            continue
        if conversation is None:
            result.skipped.append(f"{label}: it has no user or assistant text")
        else:
            result.conversations.append(conversation)
    if not result.conversations:
        why = f" ({result.skipped[0]})" if result.skipped else ""
        raise ImportFileError(f"{name} has no conversation that can be imported{why}.")
    return result


def _chatgpt_conversation(item: Any) -> ImportedConversation | None:
    if not isinstance(item, dict) or not isinstance(item.get("mapping"), dict):
        raise ImportFileError("it has no message tree (mapping)")
    mapping: dict = item["mapping"]
    node_id = item.get("current_node")
    if node_id not in mapping:  # no current node: the last leaf
        leaves = [k for k, n in mapping.items() if isinstance(n, dict) and not n.get("children")]
        if not leaves:
            raise ImportFileError("its message tree has no end")
        node_id = leaves[-1]
    path, seen = [], set()
    while node_id is not None:
        if node_id in seen:
            raise ImportFileError("its message tree has a loop")
        seen.add(node_id)
        node = mapping.get(node_id)
        if not isinstance(node, dict):
            raise ImportFileError(f"message {node_id} is missing")
        path.append(node)
        node_id = node.get("parent")
    messages: list[ImportedMessage] = []
    for node in reversed(path):
        role, text, created = _chatgpt_message(node.get("message"))
        if role is None or not text.strip():
            continue
        if messages and messages[-1].role == role == "assistant":  # one reply split around tool calls
            last = messages[-1]
            messages[-1] = ImportedMessage(role, f"{last.text}\n\n{text}", last.parent, last.created)
            continue
        parent = len(messages) - 1 if messages else None
        messages.append(ImportedMessage(role, text, parent, created))
    if not messages:
        return None
    title = item.get("title") if isinstance(item.get("title"), str) else ""
    return ImportedConversation(title.strip(), tuple(messages), len(messages) - 1, _time(item.get("create_time")), "chatgpt")


def _chatgpt_message(message: Any) -> tuple[str | None, str, float | None]:
    """(role or None to skip, text, created) of one ChatGPT message."""
    if not isinstance(message, dict):
        return None, "", None
    author = message.get("author") if isinstance(message.get("author"), dict) else {}
    role = author.get("role")
    metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
    if role not in ROLES or metadata.get("is_visually_hidden_from_conversation"):
        return None, "", None
    content = message.get("content") if isinstance(message.get("content"), dict) else {}
    if content.get("content_type") not in (None, "text", "multimodal_text"):
        return None, "", None  # code run by a tool, browsing results, reasoning notes …
    parts = content.get("parts") if isinstance(content.get("parts"), list) else []
    text = "\n\n".join(p for p in parts if isinstance(p, str) and p)
    return role, text, _time(message.get("create_time"))


def _time(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


# -- Glassbox --------------------------------------------------------------------------------


def read_glassbox(data: dict, name: str) -> ImportedConversation:
    """A Glassbox JSON export (docs/export-format.md, version 1): every branch, as exported."""
    if data.get("version") != 1:
        raise ImportFileError(f"{name} is a Glassbox export of version {data.get('version')!r}, which this Glassbox cannot read.")
    conversation = data.get("conversation") if isinstance(data.get("conversation"), dict) else {}
    rows = data.get("messages")
    if not isinstance(rows, list) or not rows:
        raise ImportFileError(f"{name} has no messages.")
    index: dict[Any, int] = {}
    messages: list[ImportedMessage] = []
    for number, row in enumerate(rows, 1):
        if not isinstance(row, dict) or row.get("role") not in ROLES or not isinstance(row.get("text"), str):
            raise ImportFileError(f"{name}: message {number} is damaged (it needs a role user/assistant and a text).")
        parent_id = row.get("parent_id")
        if not isinstance(row.get("id"), int | str) or not isinstance(parent_id, int | str | None):
            raise ImportFileError(f"{name}: message {number} is damaged (its id or parent_id is not a number).")
        if parent_id is not None and parent_id not in index:
            raise ImportFileError(f"{name}: message {number} answers a message that is not before it in the file.")
        if row.get("id") in index:
            raise ImportFileError(f"{name}: message id {row.get('id')!r} appears twice.")
        index[row.get("id")] = len(messages)
        tokens = row.get("tokens") if isinstance(row.get("tokens"), list) else []
        try:
            attachments = tuple(Attachment.from_json(a) for a in row.get("attachments") or ())
        except (TypeError, ValueError):
            raise ImportFileError(f"{name}: message {number} has a damaged attachment (it needs a name and a text).") from None
        messages.append(ImportedMessage(
            row["role"], row["text"], None if parent_id is None else index[parent_id], _time(row.get("created")),
            model=row.get("model") if isinstance(row.get("model"), str) else None,
            settings=row.get("settings") if isinstance(row.get("settings"), dict) else None,
            finish_reason=row.get("finish_reason") if isinstance(row.get("finish_reason"), str) else None,
            stats=row.get("stats") if isinstance(row.get("stats"), dict) else None,
            tokens=tuple(t for t in tokens if isinstance(t, dict)),
            attachments=attachments if row["role"] == "user" else (),
        ))
    active = conversation.get("active_path")
    leaf = index.get(active[-1]) if isinstance(active, list) and active and active[-1] in index else len(messages) - 1
    title = conversation.get("title") if isinstance(conversation.get("title"), str) else ""
    own = conversation.get("own_settings") if isinstance(conversation.get("own_settings"), dict) else {}
    return ImportedConversation(title, tuple(messages), leaf, _time(conversation.get("created")), "glassbox", own)
