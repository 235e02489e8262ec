"""Words shown to the user: numbers with their noun ("1 token", "2 tokens"), and a clause made a
sentence before another follows it."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` (with thousands separators) and the noun in the number it takes.

    `plural` is for nouns that do not just add an "s" ("memory" -> "memories").
    """
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def sentence(text: str) -> str:
    """`text` ending as a sentence: a full stop added unless it already ends in . ! ? or … (an
    error from the engine is often a clause, "…: not a GGUF file (bad magic bytes)", and the window
    may follow it with another sentence)."""
    text = text.rstrip()
    core = text.rstrip("\"'”’)]")
    return text if not text or core.endswith((".", "!", "?", "…")) else text + "."
