"""Text files attached to a message: read them safely, and the text the model reads for them.

A file is attached as text only: it must be small enough (MAX_ATTACHMENT_BYTES), contain no NUL
bytes (binary data) and decode as UTF-8 (a UTF-8 or UTF-16 byte-order mark is honoured). Anything
else raises AttachmentError with a message that names the file and the problem, and nothing is
attached.

An attachment is a part of a user message of its own (`ChatMessage.attachments`, stored beside the
typed text, shown as a chip): it is never mixed into what the user typed. The model reads the
message as `message_content(typed, attachments)`: the typed text, then each file as a clearly
delimited block

    [Attached file: notes.txt]
    ```
    …the file's text, exactly…
    ```

with a fence longer than any run of backticks inside the text, so the file's own fences cannot end
the block early (the same text the message box held when files went into it, so prompts and the
prompt cache are unchanged). The file name is shown as written (plain text, never markup or a path
to open); the file's text is data, never parsed as syntax.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from app.byte_sizes import MB, format_bytes

MAX_ATTACHMENT_BYTES = 2 * MB
SNIFF_BYTES = 8192


class AttachmentError(ValueError):
    """A file that cannot be attached; the message is for the user."""


@dataclass(frozen=True)
class Attachment:
    name: str  # the file's name, without its folder
    text: str  # its whole text, line breaks as "\n"
    size: int = 0  # the file's size in bytes, as read (0: not known)
    tokens: int | None = None  # how many tokens `block` is for the model it was counted with (None: not counted)

    def to_json(self) -> dict:
        """The attachment as a JSON object (stored and exported as such)."""
        return {"name": self.name, "text": self.text, "size": self.size, "tokens": self.tokens}

    @classmethod
    def from_json(cls, value: object) -> Attachment:
        """An Attachment from `to_json`'s object; ValueError if it is not one."""
        if not isinstance(value, dict) or not isinstance(value.get("name"), str) or not isinstance(value.get("text"), str):
            raise ValueError("an attachment needs a name and a text")
        size, tokens = value.get("size", 0), value.get("tokens")
        size = size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else 0
        tokens = tokens if isinstance(tokens, int) and not isinstance(tokens, bool) and tokens >= 0 else None
        return cls(value["name"], value["text"], size, tokens)

    @property
    def block(self) -> str:
        """The text as it goes into the message (see the module docstring)."""
        longest = max((len(run) for run in re.findall(r"`+", self.text)), default=0)
        fence = "`" * max(3, longest + 1)
        return f"[Attached file: {self.name}]\n{fence}\n{self.text}\n{fence}"


def message_content(typed: str, attached: Sequence[Attachment]) -> str:
    """What the model reads for a user message: the typed text, then each attachment's block, each
    after a blank line and followed by a line break (as the message box held them)."""
    text = typed
    for attachment in attached:
        separator = "" if not text or text.endswith("\n\n") else "\n" if text.endswith("\n") else "\n\n"
        text += separator + attachment.block + "\n"
    return text


def title_text(typed: str, attached: Sequence[Attachment]) -> str:
    """What a message titles its conversation by: the typed text, or the files' names when nothing
    was typed."""
    return typed if typed.strip() or not attached else ", ".join(a.name for a in attached)


def chip_text(attachment: Attachment) -> str:
    """An attachment in a few words: "notes.txt · 1.2 KB · 312 tokens" (tokens when counted)."""
    parts = [attachment.name]
    if attachment.size:
        parts.append(format_bytes(attachment.size))
    if attachment.tokens is not None:
        parts.append(f"{attachment.tokens:,} token{'s' if attachment.tokens != 1 else ''}")
    return " · ".join(parts)


def decode(name: str, data: bytes) -> str:
    """The text of a file's bytes, or AttachmentError saying why it is not text."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise AttachmentError(f"{name} starts like UTF-16 text but is not valid UTF-16, so it was not attached.") from None
    if b"\x00" in data[:SNIFF_BYTES] or b"\x00" in data:
        raise AttachmentError(f"{name} is not a text file (it contains binary data), so it was not attached.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise AttachmentError(
            f"{name} is not UTF-8 text (byte 0x{data[e.start]:02x} at position {e.start:,} cannot be read), "
            "so it was not attached. Save it as UTF-8 and attach it again."
        ) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def read_attachment(path: str | Path, max_bytes: int = MAX_ATTACHMENT_BYTES) -> Attachment:
    """Read a text file to attach; AttachmentError (naming the file) if it cannot be."""
    path = Path(path)
    name = path.name
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise AttachmentError(f"{name} is a folder; attach the text files inside it instead.")
        if size > max_bytes:
            raise AttachmentError(
                f"{name} is {format_bytes(size)}; text files up to {format_bytes(max_bytes)} can be attached."
            )
        data = path.read_bytes()
    except OSError as e:
        raise AttachmentError(f"{name} could not be read: {e.strerror or e}.") from None
    text = decode(name, data)
    if not text.strip():
        raise AttachmentError(f"{name} is empty, so there is nothing to attach.")
    return Attachment(name, text, size)
