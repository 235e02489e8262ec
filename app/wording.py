"""Words around numbers shown to the user: "1 token", "2 tokens", "1,024 tokens"."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` (with thousands separators) and the noun in the number it takes.

    `plural` is for nouns that do not just add an "s" ("memory" -> "memories").
    """
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"
