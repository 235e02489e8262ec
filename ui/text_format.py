"""How token text and numbers are shown: visible whitespace, byte pieces and control tokens in
words, percentages, durations, byte sizes, and the two conversions every view needs (Python string
offsets to Qt positions; model or user text to something Qt will never read as markup)."""

from __future__ import annotations

import html
import math
import re
import unicodedata
from itertools import accumulate

from app.byte_sizes import format_bytes

VISIBLE = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}
BYTE_PIECE = re.compile(r"(?:<0x[0-9A-Fa-f]{2}>)+")
# Tokens that end a reply in the model families Glassbox loads (ChatML, Llama 2/3, Gemma, Phi).
END_OF_REPLY_PIECES = frozenset({
    "<|im_end|>", "<|endoftext|>", "<|end_of_text|>", "<|eot_id|>", "<|end|>", "</s>", "<eos>",
    "<end_of_turn>",
})  # fmt: skip
CONTROL_PIECE = re.compile(r"<\|[^|<>\s]{1,40}\|>|<(?:s|/s|eos|bos|start_of_turn|end_of_turn|unk|pad)>")
END_OF_REPLY = "end of reply"
END_OF_REPLY_COMPACT = "«end»"  # in a narrow row of alternatives ("end of r…" was cut); the row's tooltip says it whole


def utf16_offsets(text: str) -> list[int]:
    """Qt position of each character of a Python string, plus one past the end.

    Qt counts UTF-16 units: a character outside the Basic Multilingual Plane (most emoji) takes two
    positions, one Python character. `utf16_offsets("a😀b") == [0, 1, 3, 4]`. Every place that
    turns a Python offset into a QTextCursor/QTextDocument position goes through this.
    """
    if len(text.encode("utf-16-le", "surrogatepass")) == 2 * len(text):  # no character takes two units
        return list(range(len(text) + 1))
    return [0, *accumulate(2 if ord(ch) > 0xFFFF else 1 for ch in text)]


def piece_bytes(piece: str) -> bytes | None:
    """The bytes of a piece written as "<0xE3><0x81>" (part of a UTF-8 character), else None."""
    if not BYTE_PIECE.fullmatch(piece):
        return None
    return bytes(int(piece[i + 3 : i + 5], 16) for i in range(0, len(piece), 6))


def is_end_of_reply(piece: str) -> bool:
    return piece in END_OF_REPLY_PIECES


def visible_piece(piece: str, character: str = "", compact: bool = False) -> str:
    """A token's exact text as a reader can take it in.

    Whitespace is made visible ("␣the", "↵"); a token holding bytes of a character that needs
    several tokens reads "part of 'こ' (bytes E3 81)" (or "part of a character" when the character
    is not known); an end-of-reply token reads "end of reply"; other control tokens keep their name.
    `compact` (a narrow row of alternatives) puts what tells the rows apart first, the bytes: "E3 81 · part
    of a character" (cut at the right in a narrow panel, the bytes still show),
    and an end-of-reply token reads "«end»".
    """
    if piece == "":
        return "∅"
    if is_end_of_reply(piece):
        return END_OF_REPLY_COMPACT if compact else END_OF_REPLY
    data = piece_bytes(piece)
    if data is not None:
        hexes = " ".join(f"{b:02X}" for b in data)
        try:
            whole = data.decode("utf-8")  # a whole character split into byte tokens by the vocabulary
        except UnicodeDecodeError:
            whole = ""
        shown = whole or character.strip()
        if compact:
            return f"{whole} (bytes {hexes})" if whole else f"{hexes} · part of a character"
        return f"'{shown}' (bytes {hexes})" if whole else f"part of {repr(shown) if shown else 'a character'} (bytes {hexes})"
    return "".join(VISIBLE.get(ch) or _invisible(ch) or ch for ch in piece)


def _invisible(ch: str) -> str | None:
    """A character that would draw nothing (a control, format or separator character other than
    the ones VISIBLE names): its Unicode control picture ("␀", "␛") for the C0 controls, else its
    code point ("⟨U+00A0⟩"); None for a character that shows itself. A logit-lens row or an
    alternative made of one such token was a blank cell (verify 5, N8)."""
    code = ord(ch)
    if code < 0x20:
        return chr(0x2400 + code)
    if code == 0x7F:
        return "␡"
    if unicodedata.category(ch) in ("Cc", "Cf", "Zs", "Zl", "Zp", "Co", "Cs", "Cn"):
        return f"⟨U+{code:04X}⟩"
    return None


TURN_STARTS = frozenset({"<|im_start|>", "<start_of_turn>", "<|start_header_id|>", "<|user|>", "<|assistant|>", "<|system|>"})
END_OF_TURN = {"system": "end of the system prompt", "user": "end of your message", "assistant": END_OF_REPLY}


def prompt_pieces(pieces: list[str]) -> list[str]:
    """The visible pieces of a whole context (prompt and reply), each end-of-turn token named by
    its own text and the turn it closes: "<|im_end|> (end of the system prompt)", "… (end of your
    message)", "… (end of reply)" (only after the assistant's turn), "… (end of turn)" when the
    template does not say whose turn it was.
    The role is read from the pieces after a turn's start marker (ChatML's "<|im_start|>user",
    Gemma's "<start_of_turn>model", Llama 3's header), never guessed from the text inside."""
    out, role, reading = [], None, None
    for p in pieces:
        if p in TURN_STARTS:
            role, reading = None, p.strip("<|>").removeprefix("start_of_turn").removeprefix("start_header_id")
        elif reading is not None and not CONTROL_PIECE.fullmatch(p) and "\n" not in p:
            reading += p.strip().lower()
        if reading is not None and (CONTROL_PIECE.fullmatch(p) and p not in TURN_STARTS or "\n" in p):
            role, reading = _role(reading), None
        if is_end_of_reply(p):  # its own text, then whose turn it ends: one name in every view
            out.append(f"{p} ({END_OF_TURN.get(role, 'end of turn') if role is not None else 'end of turn'})")
            role = None
        else:
            out.append(visible_piece(p))
    return out


def _role(name: str) -> str | None:
    for word, role in (("system", "system"), ("user", "user"), ("assistant", "assistant"), ("model", "assistant")):
        if word in name:
            return role
    return None


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


def duration(seconds: float) -> str:
    """A wait as people read it: "850 ms" under a second, "22.2 s", "3 min 5 s"."""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


byte_size = format_bytes  # the app's one byte-size convention (app/byte_sizes.py: 1 MB = 10^6 bytes)


def plain_tooltip(text: str) -> str:
    """Rich text that shows `text` exactly, line breaks included: for tooltips and message boxes,
    which Qt reads as HTML whenever the text looks like HTML."""
    return f"<p style='white-space:pre-wrap'>{html.escape(text)}</p>" if text else ""


def menu_label(text: str) -> str:
    """Text for a menu item or button: a lone "&" would become a keyboard shortcut and vanish."""
    return text.replace("&", "&&")
