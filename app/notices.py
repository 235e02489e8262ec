"""What the window tells the user in its notice bar, with how serious it is: `info` (something
happened that the user should know, nothing is wrong: a reply stopped because they switched
conversation), `warning` (something was lost, refused or degraded and the user may act: a damaged
row left out, a message that does not fit, a slow CPU) and `error` (what was asked failed: a model
that did not load, a reply that failed, an export that could not be written). Only errors are
drawn as errors (red)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class Notice:
    """One notice: plain text (never markup) and its level."""

    text: str
    level: Level

    @classmethod
    def info(cls, text: str) -> Notice:
        return cls(text, Level.INFO)

    @classmethod
    def warning(cls, text: str) -> Notice:
        return cls(text, Level.WARNING)

    @classmethod
    def error(cls, text: str) -> Notice:
        return cls(text, Level.ERROR)
