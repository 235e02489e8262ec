"""Text files attached to a message: read them safely and put their text into the message.

A file is attached as text only: it must be small enough (MAX_ATTACHMENT_BYTES), contain no NUL
bytes (binary data) and decode as UTF-8 (a UTF-8 or UTF-16 byte-order mark is honoured). Anything
else raises AttachmentError with a message that names the file and the problem, and nothing is
attached. The text goes into the message as a clearly delimited block:

    [Attached file: notes.txt]
    ```
    …the file's text, exactly…
    ```

with a fence longer than any run of backticks inside the text, so the file's own fences cannot end
the block early. The file name is shown as written (plain text, never markup or a path to open).
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

    @property
    def block(self) -> str:
        """The text as it goes into the message (see the module docstring)."""
        longest = max((len(run) for run in re.findall(r"`+", self.text)), default=0)
        fence = "`" * max(3, longest + 1)
        return f"[Attached file: {self.name}]\n{fence}\n{self.text}\n{fence}"


def title_text(text: str, attached: Sequence[Attachment]) -> str:
    """What a message with attachments is titled by: the text the user typed, that is `text` without
    the blocks of `attached` (each found as the exact block the composer put in, never by reading
    the text for markers), or the files' names when nothing was typed."""
    typed = text
    for attachment in attached:
        typed = typed.replace(attachment.block, " ", 1)
    return typed if typed.strip() or not attached else ", ".join(a.name for a in attached)


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
    return Attachment(name, text)
