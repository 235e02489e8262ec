"""The backend seam: what the worker thread asks of a language model, and the real engine behind it.

The worker only knows `Backend.load(spec, report) -> Session` and `Session.stream(request, ...)`,
which yields plain token records (dicts of ids, strings and floats). Tests inject a fake backend;
the app injects `EngineBackend`. Everything here runs in the worker thread.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from app.context import ContextTooLong, assemble, system_content
from engine import default_model
from engine.cache import make_cache
from engine.generate import GenerationConfig, TokenEvent, generate
from engine.loading import ModelLoadError, load
from engine.prompt_cache import PromptCache
from engine.sampling import SamplingSettings

Report = Callable[[float, str], None]  # (progress 0..1, or -1 when unknown; what is happening)
StopFn = Callable[[], bool]
ProgressFn = Callable[[int, int], None]  # prompt tokens processed, total


class BackendError(Exception):
    """A request could not be served; the message is meant for the user."""


@dataclass(frozen=True)
class GenerateRequest:
    user_message: str
    sampling: SamplingSettings
    history: tuple[dict[str, str], ...] = ()  # earlier turns, oldest first
    system_prompt: str = ""
    memories: tuple[str, ...] = ()
    max_new_tokens: int = 512
    context_length: int = 0  # 0: the model's own
    top_report: int = 10  # alternatives reported per token
    conversation_id: str | None = None  # keys the prompt cache kept for this conversation

    @property
    def messages(self) -> list[dict[str, str]]:
        """The whole conversation before any of it is left out to fit the context window."""
        system = system_content(self.system_prompt, self.memories)
        head = [{"role": "system", "content": system}] if system else []
        return [*head, *self.history, {"role": "user", "content": self.user_message}]


class Session(Protocol):
    info: dict[str, Any]

    def stream(self, request: GenerateRequest, should_stop: StopFn, progress: ProgressFn) -> Iterator[dict]:
        """Token records; the last one carries `finish_reason` and `stats` (its id may be None)."""
        ...


class Backend(Protocol):
    def load(self, spec: str, report: Report) -> Session:
        """Load a model ("default", a GGUF file or a folder); raise BackendError with a clear message."""
        ...


class EngineSession:
    """A loaded engine model with its caches; serves one request at a time (the worker's)."""

    def __init__(self, lm, display_name: str, spec: str):
        self.lm = lm
        n_layers = lm.info.n_layers
        self.cache = PromptCache(lambda: make_cache(n_layers))  # KV reuse across turns
        info = asdict(lm.info)
        info.pop("config", None)
        info.update(display_name=display_name, spec=spec, kv_bytes_per_token=lm.info.kv_bytes_per_token)
        self.info = info

    def stream(self, request: GenerateRequest, should_stop: StopFn, progress: ProgressFn) -> Iterator[dict]:
        tok = self.lm.tokenizer
        context = min(request.context_length or self.lm.info.context_length, self.lm.info.context_length)
        try:
            assembled = assemble(
                tok, request.system_prompt, request.memories, request.history, request.user_message,
                context_length=context, reserve=min(request.max_new_tokens, context // 2),
            )
        except ContextTooLong as e:
            raise BackendError(str(e)) from e
        prompt_ids = assembled.prompt_ids
        caches, reused = self.cache.checkout(prompt_ids)
        config = GenerationConfig(
            max_tokens=request.max_new_tokens, top_report=request.top_report, context_length=context
        )
        generated: list[int] = []
        try:
            events = generate(
                self.lm.model, tok, prompt_ids[reused:], caches, request.sampling, config,
                progress=lambda done, total: progress(reused + done, reused + total),
                should_stop=should_stop,
            )
            for ev in events:
                if ev.token is not None:
                    generated.append(ev.token)
                record = token_record(ev, tok.piece)
                if ev.finish_reason is not None:
                    record["stats"] = finish_stats(ev, len(generated), context)
                    record["stats"]["dropped_messages"] = assembled.dropped_count
                yield record
        finally:
            if caches and caches[0].offset:
                self.cache.checkin((prompt_ids + generated)[: caches[0].offset], caches)


def token_record(ev: TokenEvent, piece: Callable[[int], str]) -> dict[str, Any]:
    """A TokenEvent as plain values, alternatives with their exact text."""
    return {
        "index": ev.index,
        "id": ev.token,
        "text": ev.text,
        "piece": ev.piece,
        "logprob": ev.logprob,
        "sampled_logprob": ev.sampled_logprob,
        "entropy": ev.entropy,
        "top_raw": [[i, piece(i), lp] for i, lp in ev.top_raw],
        "top_final": [[i, piece(i), lp] for i, lp in ev.top_final],
        "finish_reason": ev.finish_reason,
        "prompt_tokens": ev.prompt_tokens,
        "cached_tokens": ev.cached_tokens,
        "ttft_s": ev.ttft_s,
        "elapsed_s": ev.elapsed_s,
        "kv_bytes": ev.kv_bytes,
    }


def finish_stats(ev: TokenEvent, generated: int, context: int) -> dict[str, Any]:
    decode_s = ev.elapsed_s - ev.ttft_s
    return {
        "finish_reason": ev.finish_reason,
        "prompt_tokens": ev.prompt_tokens,
        "cached_tokens": ev.cached_tokens,
        "generated_tokens": generated,
        "ttft_s": ev.ttft_s,
        "elapsed_s": ev.elapsed_s,
        "tokens_per_s": (generated - 1) / decode_s if generated > 1 and decode_s > 0 else math.nan,
        "kv_bytes": ev.kv_bytes,
        "context_used": ev.prompt_tokens + generated,
        "context_length": context,
    }


class EngineBackend:
    """The real engine: loads GGUF files and model folders with engine.loading."""

    def load(self, spec: str, report: Report) -> EngineSession:
        try:
            if spec == "default":
                if not default_model.is_present():
                    report(-1.0, "Downloading the default model…")
                path = default_model.fetch(log=lambda message: report(-1.0, message))
                name = default_model.DISPLAY_NAME
            else:
                path = Path(spec).expanduser()
                name = path.name
            report(0.1, f"Loading {name}…")
            lm = load(path)
        except (ModelLoadError, default_model.FetchError, OSError) as e:
            raise BackendError(str(e)) from e
        report(1.0, f"Loaded {name}")
        return EngineSession(lm, name, spec)
