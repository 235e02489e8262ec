"""Stop strings as a person reads and types them: one per line, with escapes for what a line
cannot hold (a line break is written `\\n`, a tab `\\t`, a backslash `\\\\`).

A reply ends (finish reason "stop") where it would write one of them; the stop string itself is not
shown. Rules, checked by `problems`: at most MAX_STOP_STRINGS, none empty, none longer than MAX_STOP_STRING_CHARS characters, no duplicates.
"""

from __future__ import annotations

from collections.abc import Sequence

MAX_STOP_STRINGS = 16
MAX_STOP_STRING_CHARS = 100
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}
_SHOWN = {v: "\\" + k for k, v in ESCAPES.items()}


class StopStringError(ValueError):
    """A stop-string line that cannot be read; the message names the line and the problem."""


def show(text: str) -> str:
    """One stop string as one line of text: `"\\n\\nUser:"` for two line breaks and `User:`."""
    return "".join(_SHOWN.get(ch, ch) for ch in text)


def read(line: str, number: int = 1) -> str:
    """The stop string a typed line means; StopStringError for an unknown or unfinished escape."""
    out, i = [], 0
    while i < len(line):
        ch = line[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        if i + 1 == len(line):
            raise StopStringError(f"line {number} ends with a lone \\ (write \\\\ for a backslash)")
        code = line[i + 1]
        if code not in ESCAPES:
            raise StopStringError(
                f"line {number}: \\{code} is not an escape Glassbox knows (\\n line break, \\t tab, \\\\ backslash)"
            )
        out.append(ESCAPES[code])
        i += 2
    return "".join(out)


def show_all(strings: Sequence[str]) -> str:
    """The editor's text for a list of stop strings, one per line."""
    return "\n".join(show(s) for s in strings)


def read_all(text: str) -> tuple[str, ...]:
    """The stop strings typed in an editor (blank lines are skipped); StopStringError if a line
    cannot be read or the list breaks a rule of `problems`."""
    strings = tuple(read(line, n) for n, line in enumerate(text.split("\n"), 1) if line.strip())
    if problem := problems(strings):
        raise StopStringError(problem)
    return strings


def problems(strings: Sequence[str]) -> str | None:
    """What is wrong with a list of stop strings, in words; None when it is usable."""
    if len(strings) > MAX_STOP_STRINGS:
        return f"at most {MAX_STOP_STRINGS} stop strings (there are {len(strings)})"
    seen: set[str] = set()
    for s in strings:
        if not isinstance(s, str) or not s:
            return "a stop string cannot be empty: it would end every reply before it starts"
        if len(s) > MAX_STOP_STRING_CHARS:
            return f"“{show(s)[:20]}…” is longer than {MAX_STOP_STRING_CHARS} characters"
        if s in seen:
            return f"“{show(s)}” is listed twice"
        seen.add(s)
    return None
