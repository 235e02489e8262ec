"""Why a reply ended, in the words the window shows (and the Markdown export writes): one place,
so a reply reads the same on screen and in a file."""

from __future__ import annotations

FINISH_TEXT = {
    "eos": "",
    "stop": "stopped at a stop string",
    "length": "stopped at the token limit",
    "cancelled": "stopped",
    "error": "failed",
    "interrupted": "interrupted (Glassbox closed while it was writing)",
}


CONTEXT_FULL = "stopped: the context window is full"


def finish_text(reason: str | None, stats: dict) -> str:
    """Why a reply ended, in words. A reply that ran out of context window says so: the engine
    reports "length" for both limits, and the numbers tell which one it was."""
    used, window = stats.get("context_used"), stats.get("context_length")
    if reason == "length" and isinstance(used, int) and isinstance(window, int) and 0 < window <= used:
        return CONTEXT_FULL
    why = stats.get("stopped_because")
    if reason == "cancelled" and isinstance(why, str) and why:
        return f"stopped: {why}"
    return FINISH_TEXT.get(reason or "", reason or "")
