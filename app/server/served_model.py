"""The loaded model as the API server sees it (`ServedModel`), apart from the web framework.

Kept out of `app.server.routes` so that the window can hold one without importing FastAPI and
pydantic (about 1.5 s of CPU at start-up, measured by packaging/startup_bench.py) before the user
starts the server.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass, field

from app.backend import Session
from app.server.content_tokens import TokenDecoder
from app.settings import CacheConfig

BYTE_PIECE = re.compile(r"(?:<0x[0-9A-F]{2}>)+")  # how a piece writes bytes that are not whole characters


@dataclass
class ServedModel:
    """The loaded session as the server sees it: its name, window and token arithmetic.

    `prompt_tokens(messages)` counts the prompt exactly as the chat template renders it (with the
    assistant turn's opening); `token_bytes(id, piece)` is a token's exact bytes. Both use the
    engine's tokenizer when the session has one (`session.lm.tokenizer`); a test session without
    one counts `count_tokens` per message and takes the piece's UTF-8.
    """

    session: Session
    name: str
    cache: CacheConfig = field(default_factory=CacheConfig)

    @property
    def context_length(self) -> int:
        return int(self.session.info["context_length"])

    def prompt_tokens(self, messages) -> int:
        lm = getattr(self.session, "lm", None)
        if lm is not None:
            return len(lm.tokenizer.encode_chat(list(messages), add_generation_prompt=True))
        return sum(self.session.count_tokens(m["content"]) for m in messages)

    def raw_prompt_tokens(self, prompt: str) -> int:
        """How many tokens a raw prompt is as the model reads it (beginning-of-text token included)."""
        lm = getattr(self.session, "lm", None)
        if lm is not None:
            return len(lm.tokenizer.encode(prompt))
        return self.session.count_tokens(prompt)

    def token_bytes(self, token_id: int, piece: str) -> bytes:
        lm = getattr(self.session, "lm", None)
        if lm is not None:
            return bytes(lm.tokenizer.token_bytes[token_id])
        if BYTE_PIECE.fullmatch(piece):  # part of a character, written "<0xE3><0x81>"
            return bytes(int(piece[i + 3: i + 5], 16) for i in range(0, len(piece), 6))
        return piece.encode("utf-8")

    def token_decoder(self) -> TokenDecoder:
        """A fresh streaming detokenizer for one reply: (token id, piece) -> the characters that
        became whole with the token, as the engine decoded the reply (the session's own
        detokenizer; without one, the tokens' bytes through an incremental UTF-8 decoder)."""
        lm = getattr(self.session, "lm", None)
        if lm is not None:
            detokenizer = lm.tokenizer.detokenizer()
            return lambda token_id, _piece: detokenizer.add(token_id)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        return lambda token_id, piece: decoder.decode(self.token_bytes(token_id, piece))
