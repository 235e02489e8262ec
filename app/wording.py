"""Words around numbers shown to the user: "1 token", "2 tokens", "1,024 tokens"; "98.4 MB"."""

from __future__ import annotations


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """`n` (with thousands separators) and the noun in the number it takes.

    `plural` is for nouns that do not just add an "s" ("memory" -> "memories").
    """
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def format_bytes(n: int) -> str:
    """A size in decimal units, as file managers (and macOS, LM Studio) show them: 1 MB = 1,000,000
    bytes. The one byte formatter: a model file, a memory estimate and the KV cache all read alike.
    1536 -> "1.5 KB", 98_362_432 -> "98.4 MB"."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} TB"
