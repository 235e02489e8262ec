"""Which of a reply's tokens are its content: the tokens OpenAI's `logprobs` list, in step with the text.

OpenAI's logprobs describe the tokens of the returned content only. Two kinds of generated token are
not content: the end-of-turn token that ended the reply (`<|im_end|>`, finish reason "eos": it adds
no text, it ends the turn), and the tokens of a stop string cut from the reply (finish reason
"stop"). A token is content when its own text starts before the end of the answer's text; a token
cut by a stop string starts at or after it. A token that adds no text of its own (a control token)
in the middle of the reply is content, and so is one at the very end unless a stop string ended
the reply there.

A token's text can reach the answer later than the token itself: the engine holds back text that
may be the start of a stop string until it knows it is not, and the bytes of a character split
across tokens until the character is whole. So a content token is released with the event whose
text reaches it — a stream sends each token's logprobs in the chunk that carries (the start of) its
text, and the tokens a stop string cut are never released.

Offsets are in characters (Python str positions) of the reply's text, the same numbers as
`text_offset` in the completions shape.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from engine.events import TokenEvent

# (token id, piece) -> the characters that became whole with this token (a streaming detokenizer)
TokenDecoder = Callable[[int, str], str]


class ContentTokens:
    """Feed a reply's TokenEvents in order; `add` returns the content tokens their text has reached.

    `decode` is a fresh streaming detokenizer for this reply (the same one the engine decoded the
    reply with), used to know where each token's own text starts.
    """

    def __init__(self, decode: TokenDecoder):
        self._decode = decode
        self._decoded = 0  # characters the tokens so far decode to (before stop strings are cut)
        self._sent = 0  # characters of the answer's text so far
        self._waiting: deque[tuple[int, TokenEvent]] = deque()  # (where its text starts, token)

    def add(self, ev: TokenEvent) -> list[tuple[int, TokenEvent]]:
        """(offset where the token's text starts, event) for each content token released by `ev`,
        in order; [] when `ev` brings no text yet (its tokens wait) or is not content."""
        if ev.token is not None and ev.finish_reason != "eos":  # the end-of-turn token is not content
            self._waiting.append((self._decoded, ev))
            self._decoded += len(self._decode(ev.token, ev.piece))
        self._sent += len(ev.text)
        released = []
        while self._waiting and self._waiting[0][0] < self._sent:
            released.append(self._waiting.popleft())
        if ev.finish_reason is not None:
            if ev.finish_reason != "stop":  # tokens adding no text at the end are content all the same
                released.extend(self._waiting)
            self._waiting.clear()  # else: what a stop string cut
        return released
