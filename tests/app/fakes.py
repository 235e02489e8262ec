"""A fake backend for fast app and UI tests: scripted replies, failing loads, endless replies.

It speaks the same protocol as app.backend.EngineBackend (plain token records), so the worker,
controller and window cannot tell it from the engine.
"""

from __future__ import annotations

import math
import time

from app.backend import BackendError, GenerateRequest

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


def record(index: int, text: str, logprob: float = -0.5, finish: str | None = None) -> dict:
    token_id = 1000 + index
    alternatives = [[token_id, text, logprob], [7, " the", -1.5], [8, ",", -2.0], [9, "\n", -2.5],
                    [10, " a", -3.0], [11, " of", -3.5], [12, " and", -4.0]]
    alternatives.sort(key=lambda a: -a[2])
    return {
        "index": index, "id": token_id, "text": text, "piece": text, "logprob": logprob,
        "sampled_logprob": logprob / 2, "entropy": 1.25, "top_raw": alternatives,
        "top_final": alternatives[:3], "finish_reason": finish,
    }


class FakeSession:
    def __init__(self, spec: str, reply: str, endless: bool):
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
        words = split_tokens(self.reply)
        limit = 10**9 if self.endless else min(len(words), request.max_new_tokens)  # endless: until stopped
        for i in range(limit):
            if self.endless:
                time.sleep(0.002)  # pace an endless reply like a fast model (~500 tokens/s)
            reason = None
            if should_stop():
                reason = "cancelled"
            elif i + 1 == limit:
                reason = "length" if self.endless or limit < len(words) else "eos"
            rec = record(i, words[i % len(words)], logprob=-0.1 - 0.3 * (i % 5), finish=reason)
            if reason:
                rec["stats"] = {"finish_reason": reason, "prompt_tokens": 10, "cached_tokens": 0,
                                "generated_tokens": i + 1, "ttft_s": 0.01, "elapsed_s": 0.1,
                                "tokens_per_s": math.nan, "kv_bytes": 4096, "context_used": 11 + i,
                                "context_length": 2048}
                yield rec
                return
            yield rec

    def housekeeping(self) -> None:
        self.housekeeping_calls += 1

    def forget_conversation(self, conversation_id: str) -> None:
        self.forgotten.append(conversation_id)


class FakeBackend:
    """Loads instantly; BROKEN (or any spec ending in it) fails like a corrupt file. `session`: the
    FakeSession subclass its loads return (a test's scripted variant)."""

    def __init__(self, reply: str = REPLY, endless: bool = False, session: type[FakeSession] = FakeSession):
        self.reply, self.endless, self.session_class = reply, endless, session
        self.sessions: list[FakeSession] = []

    def load(self, spec: str, report) -> FakeSession:
        report(0.5, f"Loading {spec}…")
        if spec.endswith(BROKEN):
            raise BackendError(f"{spec}: the GGUF file is corrupt or truncated")
        session = self.session_class(spec, self.reply, self.endless)
        self.sessions.append(session)
        return session
