"""Byte sizes in one unit convention for the whole app: decimal, as macOS, file managers and LM
Studio show them (1 KB = 1,000 bytes, 1 MB = 10^6 bytes, 1 GB = 10^9). Every size the window shows
(a model's file, the KV cache, an attachment that is too large) and every size a setting is given
in (Cache memory (MB)) goes through here, so "MB" means one thing everywhere."""

from __future__ import annotations

KB = 1000
MB = KB * KB  # the bytes of the "MB" a setting is given in
UNITS = ("B", "KB", "MB", "GB", "TB")


def format_bytes(n: int | float) -> str:
    """A size as people read it: 512 -> "512 B", 1_536 -> "1.5 KB", 98_362_432 -> "98.4 MB"."""
    size = float(n)
    for unit in UNITS[:-1]:
        if abs(size) < KB:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= KB
    return f"{size:.1f} {UNITS[-1]}"
