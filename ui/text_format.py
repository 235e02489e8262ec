"""How token text and numbers are shown: visible whitespace, percentages, byte sizes."""

from __future__ import annotations

import html
import math

VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}


def visible_piece(piece: str) -> str:
    """A token's exact text with whitespace made visible ("␣the", "↵")."""
    if piece == "":
        return "∅"
    return "".join(VISIBLE.get(ch, ch) for ch in piece)


def percent(logprob: float) -> str:
    """A probability as a short percentage ("42%", "0.3%", "<0.01%")."""
    p = math.exp(logprob) * 100 if logprob > -1e30 else 0.0
    if p >= 9.95:
        return f"{p:.0f}%"
    if p >= 0.995:
        return f"{p:.1f}%"
    if p >= 0.01:
        return f"{p:.2f}%"
    return "<0.01%" if p > 0 else "0%"


def percent_html(logprob: float) -> str:
    """`percent` for rich text ("<0.01%" would otherwise open a tag)."""
    return html.escape(percent(logprob))


def byte_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
