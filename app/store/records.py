"""Rows <-> typed values: the one place where what is read back from the database is checked.

Every value the store hands out is built here, and a damaged row (a value of the wrong type, JSON
that does not parse, a number out of range) is handled here and nowhere else: it costs that row's
extras at most (a reply's per-token probabilities, its settings or stats), never its text, and the
value says what was lost (`Message.damage`, `ReplyTokens.damaged`) so the app can tell the user.

A reply's tokens are stored as `engine.events.TokenEvent`s, one JSON row per flush (chunk) in the
versioned row format TOKEN_ROW_FORMAT:

    {"v": 2, "tokens": [[id, text, piece, logprob, sampled_logprob, entropy,
                         [[id, piece, logprob], ...],            # top_raw
                         [[id, logprob] | [id, logprob, piece], ...],  # top_final (piece when not in top_raw)
                         finish_reason?], ...]}

Log-probabilities are rounded to 5 decimals; -inf (a token the sampler filtered out) is stored as
null. `text` is the token's own text exactly as it streamed, so a reopened reply gives every
character to the token that showed it. Rows of format 1 (a bare list without `text`, from before
schema version 3) are converted once by `upgrade_token_rows` (see `split_by_bytes`).
"""

from __future__ import annotations

import codecs
import json
import math
import re
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.attachments import Attachment
from engine.events import Alternative, TokenEvent

TOKEN_ROW_FORMAT = 2
ROLES = ("system", "user", "assistant")
# The numbers of a finished reply that are kept (the worker's stats dict has more).
STAT_KEYS = (
    "prompt_tokens", "cached_tokens", "computed_tokens", "generated_tokens", "ttft_s", "tokens_per_s",
    "dropped_messages", "context_used", "context_length", "kv_cache", "finish_reason",
    "kv_bytes",  # the KV cache's memory at the end, as the status bar showed it (reopened the same)
    "error",  # what a failed reply said went wrong (the window showed it; reopening shows it again)
    "stopped_because",  # why a reply stopped that the user did not stop ("you switched conversation")
)  # fmt: skip
TEXT_STATS = frozenset({"kv_cache", "finish_reason", "error", "stopped_because"})  # the others are numbers
MAX_LOGPROB = 1e-3  # a stored log-probability above this is not a probability: the row is damaged


class DamagedRow(ValueError):
    """A stored value that is not what this version of Glassbox wrote."""


# ---------------------------------------------------------------------------------------------
# Values handed out by the store.


@dataclass(frozen=True)
class Conversation:
    """A stored conversation's header (its messages are read separately)."""

    id: int
    title: str
    created: float
    updated: float
    active_leaf_id: int | None
    forked_from_conversation_id: int | None = None
    forked_from_message_id: int | None = None


@dataclass(frozen=True)
class Message:
    """One stored message. `damage` names the parts of its row that could not be read (and were
    left out): "settings", "stats", "attachments", "fields"; empty for a sound row."""

    id: int
    conversation_id: int
    parent_id: int | None
    role: str
    text: str
    created: float
    model: str | None = None
    settings: dict[str, Any] | None = None
    finished: bool = True
    finish_reason: str | None = None
    stats: dict[str, Any] | None = None  # a finished reply's numbers (STAT_KEYS), if it has them
    damage: tuple[str, ...] = ()
    attachments: tuple[Attachment, ...] = ()  # files attached to a user message, beside its typed `text`


@dataclass(frozen=True)
class ReplyTokens:
    """A reply's stored tokens, in generation order; their `text`s concatenate to a prefix of the
    reply's text (all of it unless `damaged`: a damaged chunk and the chunks after it are left out)."""

    tokens: tuple[TokenEvent, ...]
    damaged: bool = False

    def __len__(self) -> int:
        return len(self.tokens)

    def __iter__(self) -> Iterator[TokenEvent]:
        return iter(self.tokens)

    def __getitem__(self, index: int) -> TokenEvent:
        return self.tokens[index]


# ---------------------------------------------------------------------------------------------
# Message and conversation rows.


def conversation_from_row(r: sqlite3.Row) -> Conversation:
    return Conversation(
        id=r["id"],
        title=plain_text(r["title"]),
        created=_number(r["created"]),
        updated=_number(r["updated"]),
        active_leaf_id=_optional_int(r["active_leaf_id"]),
        forked_from_conversation_id=_optional_int(r["forked_from_conversation_id"]),
        forked_from_message_id=_optional_int(r["forked_from_message_id"]),
    )


@dataclass(frozen=True)
class Memory:
    """A fact about the user that requests can carry (`app.memory.MemoryStore`)."""

    id: int
    text: str
    pinned: bool
    created: float
    updated: float
    source_message_id: int | None


def memory_from_row(r: sqlite3.Row) -> Memory:
    """A Memory from its row: a text of the wrong type is read as text, a pin that is not 0/1 as
    not pinned, a time that is not a number as 0."""
    pinned = r["pinned"]
    return Memory(r["id"], plain_text(r["text"]), isinstance(pinned, int) and pinned == 1, _number(r["created"]),
                  _number(r["updated"]), _optional_int(r["source_message_id"]))


def message_from_row(r: sqlite3.Row) -> Message:
    """A Message from its row; what cannot be read is left out and named in `damage`."""
    damage = []
    settings = _json_object(r["settings"])
    if settings is None and r["settings"] is not None:
        damage.append("settings")
    stats = _json_object(r["stats"])
    if stats is None and r["stats"] is not None:
        damage.append("stats")
    stats = clean_stats(stats)
    attachments = attachments_from_json(r["attachments"])
    if attachments is None:
        damage.append("attachments")
    finish_reason = r["finish_reason"] if isinstance(r["finish_reason"], str | None) else None
    model = r["model"] if isinstance(r["model"], str | None) else None
    if (finish_reason, model) != (r["finish_reason"], r["model"]) or not isinstance(r["text"], str):
        damage.append("fields")
    return Message(
        id=r["id"],
        conversation_id=r["conversation_id"],
        parent_id=_optional_int(r["parent_id"]),
        role=r["role"] if r["role"] in ROLES else "assistant",
        text=plain_text(r["text"]),
        created=_number(r["created"]),
        model=model,
        settings=settings,
        finished=bool(r["finished"]),
        finish_reason=finish_reason,
        stats=stats,
        damage=tuple(damage),
        attachments=attachments or (),
    )


def attachments_json(attachments: Sequence[Attachment]) -> str | None:
    """A message's attachments column: JSON list, or NULL for none."""
    return json.dumps([a.to_json() for a in attachments], ensure_ascii=False) if attachments else None


def attachments_from_json(value: Any) -> tuple[Attachment, ...] | None:
    """The attachments column read back; None when it is damaged (not a list of attachments)."""
    if value is None:
        return ()
    try:
        parsed = json.loads(value) if isinstance(value, str | bytes) else None
        if not isinstance(parsed, list):
            return None
        return tuple(Attachment.from_json(a) for a in parsed)
    except (ValueError, RecursionError):
        return None


def clean_stats(stats: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The STAT_KEYS of a reply's stats, each of its kind: text for TEXT_STATS, a number (int or
    float, NaN and infinities as None) for the others; a value of the wrong kind is left out.
    None when nothing is left."""
    stats = stats or {}
    out: dict[str, Any] = {}
    for key in STAT_KEYS:
        value = stats.get(key)
        if key in TEXT_STATS:
            if isinstance(value, str):
                out[key] = value
        elif isinstance(value, float) and not math.isfinite(value):
            out[key] = None
        elif key in stats and (value is None or (isinstance(value, int | float) and not isinstance(value, bool))):
            out[key] = value
    return out or None


def stats_json(stats: Mapping[str, Any] | None) -> str | None:
    stats = clean_stats(stats)
    return None if stats is None else json.dumps(stats, allow_nan=False)


def settings_json(settings: Mapping[str, Any] | None) -> str | None:
    return None if settings is None else json.dumps(settings)


def plain_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else 0.0


def _optional_int(value: Any) -> int | None:
    return value if isinstance(value, int) else None


def _json_object(value: Any) -> dict[str, Any] | None:
    """A JSON object column; None for NULL and for anything that is not a JSON object."""
    if not isinstance(value, str | bytes):
        return None
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


# ---------------------------------------------------------------------------------------------
# Token rows.


def tokens_to_row(tokens: Sequence[TokenEvent]) -> str:
    """One chunk of a reply's tokens in TOKEN_ROW_FORMAT (JSON text)."""
    return json.dumps({"v": TOKEN_ROW_FORMAT, "tokens": [_token_to_list(t) for t in tokens]}, ensure_ascii=False)


def _token_to_list(t: TokenEvent) -> list:
    names = {i for i, _p, _lp in t.top_raw}
    row = [
        t.token, t.text, t.piece, _round(t.logprob), _round(t.sampled_logprob), _round(t.entropy),
        [[i, p, _round(lp)] for i, p, lp in t.top_raw],
        [[i, _round(lp)] if i in names else [i, _round(lp), p] for i, p, lp in t.top_final],
    ]  # fmt: skip
    return row + [t.finish_reason] if t.finish_reason is not None else row


def _round(x: float) -> float | None:
    """Round for storage; -inf (a token the sampler filtered out) and NaN are stored as null."""
    return round(x, 5) if math.isfinite(x) else None


def reply_tokens(chunks: Iterable[Any], text: str) -> ReplyTokens:
    """A reply's tokens from its chunk rows (oldest first) and its stored `text`.

    A chunk that cannot be read (not JSON, not TOKEN_ROW_FORMAT, a value of the wrong type or out of
    range), or whose tokens' text does not continue the reply's text, ends the list there: the
    tokens before it are kept, and `damaged` is set.
    """
    tokens: list[TokenEvent] = []
    offset = 0
    for data in chunks:
        try:
            chunk = _tokens_from_row(data, len(tokens))
        except DamagedRow:
            return ReplyTokens(tuple(tokens), damaged=True)
        added = "".join(t.text for t in chunk)
        if not text.startswith(added, offset):
            return ReplyTokens(tuple(tokens), damaged=True)
        tokens += chunk
        offset += len(added)
    return ReplyTokens(tuple(tokens), damaged=offset != len(text) and bool(tokens))


def _tokens_from_row(data: Any, first_index: int) -> list[TokenEvent]:
    try:
        parsed = json.loads(data) if isinstance(data, str | bytes) else None
    except (ValueError, RecursionError) as e:
        raise DamagedRow("token data is not JSON") from e
    if not isinstance(parsed, dict) or parsed.get("v") != TOKEN_ROW_FORMAT or not isinstance(parsed.get("tokens"), list):
        raise DamagedRow(f"token data is not in row format {TOKEN_ROW_FORMAT}")
    return [_token_from_list(item, first_index + n) for n, item in enumerate(parsed["tokens"])]


def _token_from_list(item: Any, index: int) -> TokenEvent:
    if not isinstance(item, list) or len(item) not in (8, 9):
        raise DamagedRow("a token is not a list of 8 or 9 values")
    token, text, piece, lp, slp, entropy, top_raw, top_final = item[:8]
    finish = item[8] if len(item) == 9 else None
    if not (_is_int(token) and isinstance(text, str) and isinstance(piece, str) and isinstance(finish, str | None)):
        raise DamagedRow("a token's id, text or piece has the wrong type")
    if not isinstance(top_raw, list) or not isinstance(top_final, list):
        raise DamagedRow("a token's alternatives are not lists")
    raw = tuple(_alternative(a) for a in top_raw)
    names = {i: p for i, p, _lp in raw}
    return TokenEvent(
        index=index, token=token, text=text, piece=piece,
        logprob=_logprob(lp), sampled_logprob=_logprob(slp), entropy=_entropy(entropy),
        top_raw=raw, top_final=tuple(_final_alternative(a, names) for a in top_final), finish_reason=finish,
    )  # fmt: skip


def _alternative(a: Any) -> Alternative:
    if not (isinstance(a, list) and len(a) == 3 and _is_int(a[0]) and isinstance(a[1], str)):
        raise DamagedRow("an alternative is not [id, piece, logprob]")
    return (a[0], a[1], _logprob(a[2]))


def _final_alternative(a: Any, names: Mapping[int, str]) -> Alternative:
    if not (isinstance(a, list) and len(a) in (2, 3) and _is_int(a[0])):
        raise DamagedRow("an alternative is not [id, logprob(, piece)]")
    piece = a[2] if len(a) == 3 else names.get(a[0], "")
    if not isinstance(piece, str):
        raise DamagedRow("an alternative's piece is not text")
    return (a[0], piece, _logprob(a[1]))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _logprob(value: Any) -> float:
    if value is None:
        return -math.inf
    if isinstance(value, bool) or not isinstance(value, int | float) or not value <= MAX_LOGPROB:
        raise DamagedRow(f"{value!r} is not a log-probability")
    return min(float(value), 0.0)


def _entropy(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value < 1e6:
        raise DamagedRow(f"{value!r} is not an entropy")
    return float(value)


# ---------------------------------------------------------------------------------------------
# Rows of format 1 (schema versions 1 and 2): the token's text was not kept.

BYTE_PIECE = re.compile(r"(?:<0x[0-9A-F]{2}>)+")


def piece_bytes(piece: str) -> bytes:
    """The bytes a stored piece stands for: `Tokenizer.piece` shows bytes that are not whole
    characters as <0xNN>. (A token whose real text is literally "<0x41>" is read as byte 0x41:
    the format-1 row cannot tell them apart.)"""
    if BYTE_PIECE.fullmatch(piece):
        return bytes(int(piece[i + 3 : i + 5], 16) for i in range(0, len(piece), 6))
    return piece.encode("utf-8")


def split_by_bytes(text: str, pieces: Sequence[str]) -> list[str]:
    """Best-effort per-token text of a format-1 reply, by the streaming detokenizer's own method.

    The pieces' exact bytes go through the incremental UTF-8 decoder one token at a time, so a
    character split over several tokens belongs to the token that completed it, as it did when it
    streamed. The result is then fitted to the stored `text`, which always wins (the tokenizer is
    not available here): a leading space the tokenizer strips is dropped from the first token, text
    cut off by a stop string is cut from the last tokens, and where the decoded tokens stop agreeing
    with the text, the rest of the text goes to the token at that point (later ones get "").
    The texts returned always concatenate to `text`.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    deltas = [decoder.decode(piece_bytes(p)) for p in pieces]
    if deltas:
        deltas[-1] += decoder.decode(b"", final=True)
    joined = "".join(deltas)
    if joined != text and joined.startswith(" ") and not text.startswith(" "):
        first = next(i for i, d in enumerate(deltas) if d)
        deltas[first] = deltas[first][1:]
    out, offset = [], 0
    for n, delta in enumerate(deltas):
        if text.startswith(delta, offset):
            out.append(delta)
            offset += len(delta)
            continue
        out.append(text[offset:])  # disagreement (or the end of the kept text): the rest goes here
        out += [""] * (len(deltas) - n - 1)
        return out
    if out and offset < len(text):
        out[-1] += text[offset:]
    return out


def upgrade_token_rows(db: sqlite3.Connection) -> None:
    """Migration to schema version 3: rewrite every reply's format-1 token rows in TOKEN_ROW_FORMAT,
    with each token's text computed once by `split_by_bytes`. Replies whose rows do not parse are
    left as they are (reading them later keeps what is readable, see `reply_tokens`)."""
    replies = db.execute(
        "SELECT m.id, m.text FROM messages m WHERE EXISTS (SELECT 1 FROM message_tokens t WHERE t.message_id = m.id)"
    ).fetchall()
    for message_id, text in replies:
        rows = db.execute(
            "SELECT seq, data FROM message_tokens WHERE message_id = ? ORDER BY seq", (message_id,)
        ).fetchall()
        try:
            chunks = [(seq, [_old_token(t) for t in json.loads(data)]) for seq, data in rows]
        except (ValueError, TypeError, DamagedRow, RecursionError):
            continue
        pieces = [t[1] for _seq, chunk in chunks for t in chunk]
        texts = iter(split_by_bytes(plain_text(text), pieces))
        for seq, chunk in chunks:
            tokens = [[t[0], next(texts), *t[1:]] for t in chunk]
            data = json.dumps({"v": TOKEN_ROW_FORMAT, "tokens": tokens}, ensure_ascii=False)
            db.execute("UPDATE message_tokens SET data = ? WHERE message_id = ? AND seq = ?", (data, message_id, seq))


def _old_token(t: Any) -> list:
    """A format-1 token [id, piece, logprob, sampled_logprob, entropy, top, top_final] (checked)."""
    if not (isinstance(t, list) and len(t) == 7 and isinstance(t[1], str)):
        raise DamagedRow("not a format-1 token")
    return t
