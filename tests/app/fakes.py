"""A fake backend for fast app and UI tests: scripted replies, failing loads, endless replies.

It speaks the same protocol as app.backend.EngineBackend (TokenEvents, then a ReplyDone), so the
worker, controller and window cannot tell it from the engine. A reply can be scripted as a list of
(token text as it streams, piece) pairs to split characters across tokens as a byte-level BPE does.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

from app.backend import BackendError, GenerateRequest, ReplyDone
from engine.events import TokenEvent
from engine.generate import ReplyText

BROKEN = "broken-model.gguf"
REPLY = "Hello **world**, this is a *fake* reply."


def split_tokens(text: str) -> list[str]:
    """Words with their leading space, like a byte-level BPE would cut them."""
    out, word = [], ""
    for ch in text:
        if ch == " " and word:
            out.append(word)
            word = ""
        word += ch
    return out + ([word] if word else [])


EOS_ID, EOS_PIECE = 2, "<|im_end|>"  # the end-of-turn token a fake reply ends on, as the engine yields it


def record(
    index: int, text: str, logprob: float = -0.5, finish: str | None = None, piece: str | None = None,
    token_id: int | None = None,
) -> TokenEvent:
    token_id = 1000 + index if token_id is None else token_id
    piece = text if piece is None else piece
    alternatives = [(token_id, piece, logprob), (7, " the", -1.5), (8, ",", -2.0), (9, "\n", -2.5),
                    (10, " a", -3.0), (11, " of", -3.5), (12, " and", -4.0)]
    alternatives.sort(key=lambda a: -a[2])
    return TokenEvent(
        index=index, token=token_id, text=text, piece=piece, logprob=logprob,
        sampled_logprob=logprob / 2, entropy=1.25, top_raw=tuple(alternatives),
        top_final=tuple(alternatives[:3]), prompt_tokens=10, ttft_s=0.01, elapsed_s=0.01 * (index + 1),
        kv_bytes=4096, finish_reason=finish,
    )


def byte_pieces(text: str | bytes, cut: Sequence[int] = ()) -> list[tuple[str, str]]:
    """(text as it streams, piece) per token of `text` split at the byte offsets `cut` (as a
    byte-level BPE splits characters): a token that ends inside a character shows nothing, and the
    token that completes it shows the whole character, like engine.tokenizer.StreamingDetokenizer
    (invalid bytes, and a character left unfinished at the end, become U+FFFD)."""
    import codecs

    data = text.encode("utf-8") if isinstance(text, str) else text  # bytes: may be invalid UTF-8
    bounds = sorted({c for c in cut if 0 < c < len(data)} | {0, len(data)})
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    out = []
    for a, b in zip(bounds, bounds[1:], strict=False):
        chunk = data[a:b]
        try:
            piece = chunk.decode("utf-8")
        except UnicodeDecodeError:
            piece = "".join(f"<0x{x:02X}>" for x in chunk)
        out.append((decoder.decode(chunk, final=b == len(data)), piece))
    return out


class _ScriptedDetokenizer:
    """The fake's tokens' texts, as engine.generate.ReplyText asks a tokenizer's detokenizer for them."""

    def __init__(self):
        self.texts: dict[int, str] = {}

    def detokenizer(self) -> _ScriptedDetokenizer:
        return self

    def add(self, token_id: int) -> str:
        return self.texts[token_id]

    def flush(self) -> str:
        return ""


class FakeSession:
    def __init__(self, spec: str, reply: str | list[tuple[str, str]], endless: bool):
        self.info = {"display_name": f"Fake {spec}", "name": "fake", "spec": spec, "path": spec,
                     "context_length": 2048, "n_params": 1_000_000, "stored_as": "fake", "held_as": "fake",
                     "load_s": 0.0, "kv_bytes_per_token": 1024}
        self.reply, self.endless = reply, endless
        self.requests: list[GenerateRequest] = []
        self.housekeeping_calls = 0
        self.forgotten: list[str] = []

    def stream(self, request: GenerateRequest, should_stop, progress):
        self.requests.append(request)
        if request.user_message == "explode":
            raise RuntimeError("the fake model exploded")
        progress(10, 10)
        words = split_tokens(self.reply) if isinstance(self.reply, str) else self.reply
        done = len(getattr(request, "continue_ids", ()))  # a continued reply goes on where it stopped
        words = words[done % len(words):] + words[: done % len(words)] if self.endless else words[done:]
        limit = 10**9 if self.endless else min(len(words), request.max_new_tokens)  # endless: until stopped
        # As the engine does: the reply's text goes through ReplyText (stop strings cut it, text
        # that may begin one is held back), and a reply that ends by itself ends on an end-of-turn
        # token, yielded as its own event (no text of its own, finish reason "eos")
        ends_by_itself = not self.endless and limit == len(words) < request.max_new_tokens
        script = _ScriptedDetokenizer()
        reply = ReplyText(script, request.stop_strings)
        for i in range(limit):
            if self.endless:
                time.sleep(0.002)  # pace an endless reply like a fast model (~500 tokens/s)
            word = words[i % len(words)]
            text, piece = (word, word) if isinstance(word, str) else word
            script.texts[1000 + i] = text
            final = i + 1 == limit and not ends_by_itself
            shown, hit = reply.add(1000 + i, final=final)
            reason = "stop" if hit else "length" if final else None
            if reason is None and should_stop():
                reason, shown = "cancelled", shown + reply.release()
            yield record(i, shown, logprob=-0.1 - 0.3 * (i % 5), finish=reason, piece=piece)
            if reason:
                yield ReplyDone(self.stats(reason, i + 1))
                return
        shown, hit = reply.add(None, final=True)
        reason = "stop" if hit else "eos"
        yield record(limit, shown, logprob=-0.05, finish=reason, piece=EOS_PIECE, token_id=EOS_ID)
        yield ReplyDone(self.stats(reason, limit + 1))

    def stats(self, reason: str, generated: int) -> dict:
        """The reply's numbers (tests change them by overriding this)."""
        return {"finish_reason": reason, "prompt_tokens": 10, "cached_tokens": 0, "generated_tokens": generated,
                "ttft_s": 0.01, "elapsed_s": 0.1, "tokens_per_s": math.nan, "kv_bytes": 4096,
                "context_used": 10 + generated, "context_length": 2048}

    def housekeeping(self) -> None:
        self.housekeeping_calls += 1

    def count_tokens(self, text: str) -> int:
        return len(split_tokens(text))

    def inspect(self, request, progress=None, should_stop=None) -> dict:
        """The fake has no model to look inside."""
        raise BackendError("the fake backend cannot be inspected")

    def forget_conversation(self, conversation_id: str) -> None:
        self.forgotten.append(conversation_id)


class FakeBackend:
    """Loads instantly; BROKEN (or any spec ending in it) fails like a corrupt file. `session`: the
    FakeSession subclass its loads return (a test's scripted variant)."""

    def __init__(self, reply: str | list[tuple[str, str]] = REPLY, endless: bool = False,
                 session: type[FakeSession] = FakeSession):  # fmt: skip
        self.reply, self.endless, self.session_class = reply, endless, session
        self.sessions: list[FakeSession] = []

    def load(self, spec: str, report) -> FakeSession:
        report(0.5, f"Loading {spec}…")
        if spec.endswith(BROKEN):
            raise BackendError(f"{spec}: the GGUF file is corrupt or truncated")
        session = self.session_class(spec, self.reply, self.endless)
        self.sessions.append(session)
        return session
