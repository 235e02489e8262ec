"""Where special-token text is a control token and where it is only text.

A chat template's own markers (`<|im_start|>`, `<start_of_turn>`, the bos token it prints) are
control tokens. Everything a person or a model wrote — message contents, the system prompt and
the memories in it, an earlier reply, any other string inside a message — is plain text, even
when it spells a marker. `encode_chat` keeps the two apart for any template and tokenizer family:

1. every string inside the messages is searched for special-token text; each occurrence, and a
   piece of one at the string's edges (so it cannot join the template's text, or a neighbouring
   message string, into a marker), is swapped for a placeholder unique to this call (private-use
   characters around a random number: no whitespace, no letters, so strip/trim/upper leave it be);
2. the template renders the messages so defused: whatever it does to the text (strip, trim,
   split, prepend the system prompt to the first user message) it does to the same characters,
   and every control-token text left in the rendered string is the template's own;
3. the rendered string is cut at those markers (exactly where a special-parsing encode cuts it),
   the placeholders in each piece are put back, and each piece is encoded with special parsing off.

For messages without special-token text this gives the ids that encoding the rendered template
with special parsing on gives (the cuts are the same, and tokenizers encode each piece on its
own). A template that cuts through a placeholder (slicing a message) or rewrites one (`tojson`
with ensure_ascii) is refused with `PlaceholderCut` rather than sending the fragment: the
placeholder characters themselves are hidden too wherever a message has them, so any left over
after rendering, or the call's random number outside a whole placeholder, is such a fragment.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

OPEN, CLOSE = "\ue000", "\ue001"  # private-use characters around each placeholder


class PlaceholderCut(ValueError):
    """The chat template cut or rewrote text that stood in for special-token text in a message."""


@dataclass(frozen=True)
class SpecialTokens:
    """A tokenizer's control tokens in text form (text -> id), and how to find them in text.

    `lstrip` / `rstrip` name the tokens that take the whitespace on that side with them when
    matched (Hugging Face AddedToken flags), so a cut here equals the library's own.
    """

    ids: Mapping[str, int]
    lstrip: frozenset[str] = field(default_factory=frozenset)
    rstrip: frozenset[str] = field(default_factory=frozenset)

    @cached_property
    def _by_length(self) -> list[str]:
        return sorted((t for t in self.ids if t), key=len, reverse=True)  # longest first, as the libraries match

    @cached_property
    def _splitter(self) -> re.Pattern | None:
        if not self._by_length:
            return None
        alternatives = [
            (r"\s*" if t in self.lstrip else "") + re.escape(t) + (r"\s*" if t in self.rstrip else "")
            for t in self._by_length
        ]
        return re.compile("|".join(alternatives))

    @cached_property
    def _finder(self) -> re.Pattern | None:
        return re.compile("|".join(map(re.escape, self._by_length))) if self._by_length else None

    @cached_property
    def _prefixes(self) -> frozenset[str]:
        return frozenset(t[:n] for t in self._by_length for n in range(1, len(t)))

    @cached_property
    def _suffixes(self) -> frozenset[str]:
        return frozenset(t[n:] for t in self._by_length for n in range(1, len(t)))

    def split(self, text: str) -> list[str | int]:
        """`text` cut at every special-token text: plain pieces (str, never empty) and token ids."""
        if self._splitter is None:
            return [text] if text else []
        out: list[str | int] = []
        at = 0
        for m in self._splitter.finditer(text):
            if m.start() > at:
                out.append(text[at : m.start()])
            out.append(self._id_of(m.group()))
            at = m.end()
        if at < len(text):
            out.append(text[at:])
        return out

    def _id_of(self, matched: str) -> int:
        for candidate in (matched, matched.lstrip(), matched.rstrip(), matched.strip()):
            if candidate in self.ids:
                return self.ids[candidate]
        raise AssertionError(f"no special token in {matched!r}")  # the pattern only matches them

    def hide(self, value: str, stand_in: Callable[[str], str]) -> str:
        """`value` with each special-token text in it, and any start or end of one at its edges
        (inside surrounding whitespace), replaced by `stand_in(that text)`."""
        if self._finder is None:
            return value
        value = self._finder.sub(lambda m: stand_in(m.group()), value)
        longest = len(self._by_length[0])
        start = len(value) - len(value.lstrip())
        for n in range(min(longest - 1, len(value) - start), 0, -1):
            if value[start : start + n] in self._suffixes:
                value = value[:start] + stand_in(value[start : start + n]) + value[start + n :]
                break
        end = len(value.rstrip())
        for n in range(min(longest - 1, end), 0, -1):
            if value[end - n : end] in self._prefixes:
                value = value[: end - n] + stand_in(value[end - n : end]) + value[end:]
                break
        return value


class Placeholders:
    """Stand-ins for hidden text, unique to one render: `OPEN<nonce>.<n>CLOSE`."""

    def __init__(self):
        self.nonce = f"{secrets.randbelow(10**16):016d}"
        self._hidden: list[str] = []
        self._pattern = re.compile(f"{OPEN}{self.nonce}\\.(\\d+){CLOSE}")

    def stand_in(self, text: str) -> str:
        self._hidden.append(text)
        return f"{OPEN}{self.nonce}.{len(self._hidden) - 1}{CLOSE}"

    def hide_own_characters(self, value: str) -> str:
        """Hide OPEN and CLOSE wherever a message has them, so that any left after rendering
        can only be part of a placeholder the template damaged."""
        return _OWN.sub(lambda m: self.stand_in(m.group()), value)

    def restore(self, text: str) -> str:
        """Put the hidden text back; PlaceholderCut if a placeholder was damaged."""
        if not self._hidden:
            return text
        rest = self._pattern.sub("", text)
        if _OWN.search(rest) or self.nonce in rest:  # cut, or rewritten (e.g. escaped by tojson)
            raise PlaceholderCut("it cut or rewrote special-token text inside a message")
        return self._pattern.sub(lambda m: self._hidden[int(m.group(1))], text)


_OWN = re.compile(f"[{OPEN}{CLOSE}]")


def defuse(value: Any, special: SpecialTokens, placeholders: Placeholders) -> Any:
    """A copy of a message (or any JSON-like value in it) with special-token text in its strings hidden."""
    if isinstance(value, str):
        return special.hide(placeholders.hide_own_characters(value), placeholders.stand_in)
    if isinstance(value, Mapping):
        return {k: defuse(v, special, placeholders) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [defuse(v, special, placeholders) for v in value]
    return value


def encode_chat(
    messages: Sequence[Mapping[str, Any]],
    render: Callable[[list[Any]], str],
    special: SpecialTokens,
    encode_plain: Callable[[str], list[int]],
) -> list[int]:
    """Token ids of `render(messages)` where only the template's own markers are control tokens.

    `render` is the chat template (messages -> text); `encode_plain` encodes text with special
    parsing off. Raises PlaceholderCut (see the module docstring) and whatever `render` raises.
    """
    placeholders = Placeholders()
    rendered = render([defuse(m, special, placeholders) for m in messages])
    ids: list[int] = []
    for piece in special.split(rendered):
        if isinstance(piece, int):
            ids.append(piece)
        else:
            ids.extend(encode_plain(placeholders.restore(piece)))
    return ids
