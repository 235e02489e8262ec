"""A reasoning model's thinking: the `<think>…</think>` section a reply starts with.

Recognised only where the model puts it, at the very start of a reply (after any whitespace), so a
reply that merely mentions the tags elsewhere is left alone. Its text is never altered: the window
shows the section's tokens as written, folded under "Thinking"; the history sent back gives a chat
template the reasoning apart (`reasoning_content`, the field Qwen 3's and others' templates read)
and the answer as `content`, and the template decides what of it the model sees again (Qwen 3's
drops the reasoning of turns before the last user message).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

OPEN, CLOSE = "<think>", "</think>"


@dataclass(frozen=True)
class ThinkingPart:
    """The first `tokens` of a reply hold its thinking (tags included); `closed`: `</think>` came."""

    tokens: int
    closed: bool


def _inside_start(text: str, opened: bool) -> int | None:
    """Where the thinking inside a reply's text begins: after a leading `<think>` (whitespace
    before it allowed), at 0 when the prompt opened the section, None when the reply has none."""
    lead = len(text) - len(text.lstrip())
    if text.startswith(OPEN, lead):
        return lead + len(OPEN)
    return 0 if opened and text else None


def thinking_part(token_texts: Sequence[str], opened: bool = False) -> ThinkingPart | None:
    """Where a reply's thinking ends, in whole tokens (the token holding the end of `</think>` is
    the last one); None when the reply does not start with `<think>`. `opened`: the prompt already
    opened the section (`ChatTemplate.opens_thinking`), so the reply starts inside it."""
    joined = "".join(token_texts)
    start = _inside_start(joined, opened)
    if start is None:
        return None
    close = joined.find(CLOSE, start)
    if close < 0:
        return ThinkingPart(len(token_texts), False)
    stop, seen = close + len(CLOSE), 0
    for i, text in enumerate(token_texts):
        seen += len(text)
        if seen >= stop:
            return ThinkingPart(i + 1, True)
    return ThinkingPart(len(token_texts), True)  # unreachable: the texts hold `stop` characters


def reasoning_and_answer(text: str, opened: bool = False) -> tuple[str | None, str]:
    """(the reasoning inside the tags, the answer after them) — (None, text) without a section.
    Newlines next to the tags are dropped, as the templates that read `reasoning_content` do.
    `opened`: as for `thinking_part`."""
    inner_start = _inside_start(text, opened)
    if inner_start is None:
        return None, text
    close = text.find(CLOSE, inner_start)
    if close < 0:
        return text[inner_start:].strip("\n"), ""
    return text[inner_start:close].strip("\n"), text[close + len(CLOSE):].lstrip("\n")
