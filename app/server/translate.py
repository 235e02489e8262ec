"""OpenAI chat and plain-completion requests to the app's GenerateRequest, and the engine's TokenEvents back to
OpenAI's response shapes. Pure functions: no HTTP, no threads.

Errors are `APIError`s carrying the HTTP status and OpenAI's error fields, raised here and
answered by `routes`.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from app import stop_strings
from app.backend import GenerateRequest
from app.server.schemas import ChatCompletionRequest, CompletionRequest, SamplingFields
from app.settings import CacheConfig
from engine.events import Alternative, TokenEvent
from engine.sampling import SamplingSettings

DEFAULT_TEMPERATURE = 1.0  # OpenAI's default
# Alternatives the engine reports per token whatever the request asks (the answer carries only
# `top_logprobs` of them): the window's Requests view shows a request's steps like a reply's
REPORTED_ALTERNATIVES = 10
DEFAULT_COMPLETION_TOKENS = 16  # OpenAI's default max_tokens for a plain completion (a chat's: no limit)
LOGPROB_FLOOR = -9999.0  # OpenAI's stand-in for a probability of zero (JSON has no -inf)
# The engine's finish reasons in OpenAI's words ("cancelled": the client left; nobody reads it)
FINISH_REASONS = {"eos": "stop", "stop": "stop", "length": "length", "cancelled": "stop"}


class APIError(Exception):
    """An error answered as {"error": {"message", "type", "param", "code"}} with `status`."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None,
                 type: str = "invalid_request_error", headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = status, message, param, code, type
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass(frozen=True)
class ChatCall:
    """A validated chat or plain-completion request: what the model is asked, and what the answer
    must include. A plain completion has no messages; its `generate.raw_prompt` is the prompt."""

    messages: tuple[dict[str, str], ...]  # as the chat template gets them: system first, user last
    generate: GenerateRequest
    max_tokens: int | None  # None: until the context window is full
    logprobs: bool
    top_logprobs: int
    stream: bool
    include_usage: bool

    @property
    def raw_prompt(self) -> str | None:
        return self.generate.raw_prompt


Call = ChatCall  # the name for either kind


def _stops(body: SamplingFields) -> tuple[str, ...]:
    stops = body.stop_strings()
    if problem := stop_strings.problems(stops):
        raise APIError(400, f"stop: {problem}", "stop")
    return stops


def _sampling(body: SamplingFields) -> SamplingSettings:
    """The engine's sampling settings for the request's fields (OpenAI's defaults where absent)."""
    default = SamplingSettings()
    sampling = SamplingSettings(
        temperature=DEFAULT_TEMPERATURE if body.temperature is None else body.temperature,
        top_k=body.top_k or 0,
        top_p=1.0 if body.top_p is None else body.top_p,
        min_p=body.min_p or 0.0,
        repetition_penalty=body.repetition_penalty or 1.0,
        presence_penalty=body.presence_penalty or 0.0,
        frequency_penalty=body.frequency_penalty or 0.0,
        penalty_context=default.penalty_context,
        seed=body.seed,
    )
    if problems := sampling.validate():  # the schema's bounds should have caught these already
        raise APIError(400, "; ".join(problems))
    return sampling


def _include_usage(body: SamplingFields) -> bool:
    return bool(body.stream_options and body.stream_options.include_usage)


def completion_call(body: CompletionRequest, cache: CacheConfig) -> ChatCall:
    """The GenerateRequest for a plain completion (the prompt as it is, no chat template); APIError(400)
    naming the field at fault, including the features not supported (echo, suffix, several prompts)."""
    prompt = body.prompt_text()
    if prompt is None:
        raise APIError(400, f"prompt: one prompt per request is supported (a string, or a list of one string); "
                            f"got a list of {len(body.prompt)}", "prompt")
    if body.echo:
        raise APIError(400, "echo is not supported: the answer holds the completion only (send echo false)", "echo")
    if body.suffix is not None:
        raise APIError(400, "suffix is not supported (insertion needs a fill-in-the-middle model): send null",
                       "suffix")
    top = body.logprobs or 0
    max_tokens = body.max_tokens or DEFAULT_COMPLETION_TOKENS
    request = GenerateRequest(
        user_message="", sampling=_sampling(body), max_new_tokens=max_tokens, top_report=max(top, REPORTED_ALTERNATIVES),
        cache=cache, stop_strings=_stops(body), raw_prompt=prompt,
    )
    return ChatCall((), request, max_tokens, body.logprobs is not None, top, body.stream, _include_usage(body))


def chat_call(body: ChatCompletionRequest, cache: CacheConfig) -> ChatCall:
    """The GenerateRequest for an OpenAI chat request; APIError(400) naming the field at fault.

    Leading system/developer messages become the system prompt (joined by a blank line), the last
    message must be the user's, and the turns between are the history, passed to the chat template
    as they are (the text is never read as template syntax).
    """
    msgs = body.messages
    lead = 0
    while lead < len(msgs) and msgs[lead].role in ("system", "developer"):
        lead += 1
    for i, m in enumerate(msgs[lead:], lead):
        if m.role in ("system", "developer"):
            raise APIError(400, f"messages[{i}]: a {m.role} message is only understood at the start of the "
                                "conversation", f"messages[{i}].role")
    if lead == len(msgs) or msgs[-1].role != "user":
        raise APIError(400, "the last message must be the user's (role \"user\"): the model answers it",
                       f"messages[{len(msgs) - 1}].role")
    system = "\n\n".join(m.text() for m in msgs[:lead])
    history = tuple({"role": m.role, "content": m.text()} for m in msgs[lead:-1])
    user = msgs[-1].text()
    stops = _stops(body)
    if body.top_logprobs and not body.logprobs:
        raise APIError(400, "top_logprobs needs logprobs to be true", "top_logprobs")
    if body.max_tokens is not None and body.max_completion_tokens is not None \
            and body.max_tokens != body.max_completion_tokens:
        raise APIError(400, "max_tokens and max_completion_tokens disagree; give one of them", "max_tokens")
    max_tokens = body.max_completion_tokens or body.max_tokens
    sampling = _sampling(body)
    top = body.top_logprobs or 0
    request = GenerateRequest(
        user_message=user, sampling=sampling, history=history, system_prompt=system,
        max_new_tokens=max_tokens or 1, top_report=max(top, REPORTED_ALTERNATIVES), cache=cache, stop_strings=stops,
    )
    messages = ((({"role": "system", "content": system},) if system.strip() else ()) + history
                + ({"role": "user", "content": user},))
    return ChatCall(messages, request, max_tokens, body.logprobs, top, body.stream, _include_usage(body))


def fit_context(call: ChatCall, prompt_tokens: int, context_length: int) -> GenerateRequest:
    """The request with its reply length settled, or APIError(400) saying how far it is over.

    Nothing is left out to make a request fit (unlike the window, which drops old turns): an API
    client sent exactly this conversation. No max_tokens: the reply may fill the rest of the window.
    """
    room = context_length - prompt_tokens
    wanted = call.max_tokens if call.max_tokens is not None else max(room, 1)
    if prompt_tokens + wanted > context_length:
        over = prompt_tokens + wanted - context_length
        what = "messages" if call.raw_prompt is None else "prompt"
        are = "are" if call.raw_prompt is None else "is"
        raise APIError(
            400,
            f"This model's context window is {context_length:,} tokens; the {what} {are} {prompt_tokens:,} "
            f"tokens and the reply may be {wanted:,} (max_tokens), {over:,} tokens too many. Shorten the "
            f"{what} or lower max_tokens.",
            what, "context_length_exceeded",
        )
    return replace(call.generate, max_new_tokens=wanted, context_length=context_length)


def completion_id(prefix: str = "chatcmpl-") -> str:
    return prefix + uuid.uuid4().hex


def now() -> int:
    return int(time.time())


def finish_reason(engine_reason: str | None) -> str | None:
    return None if engine_reason is None else FINISH_REASONS.get(engine_reason, "stop")


def _logprob(value: float) -> float:
    return value if math.isfinite(value) else LOGPROB_FLOOR


def logprob_entry(ev: TokenEvent, top: int, token_bytes) -> dict[str, Any]:
    """OpenAI's per-token logprobs record: token, logprob, bytes, top_logprobs (best first).

    Log-probabilities are the model's raw distribution (what the window shows as a token's
    probability), natural log. `token_bytes(id, piece)` gives a token's exact bytes.
    """
    def one(token_id: int, piece: str, lp: float) -> dict[str, Any]:
        return {"token": piece, "logprob": _logprob(lp), "bytes": list(token_bytes(token_id, piece))}

    alternatives: Sequence[Alternative] = ev.top_raw[:top]
    return one(ev.token, ev.piece, ev.logprob) | {"top_logprobs": [one(*a) for a in alternatives]}


def usage(stats: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's usage block from the engine's numbers.

    `completion_tokens` counts every token the model generated for the reply: the end-of-turn token
    that ended it and the tokens of a stop string cut from it included (the model computed and
    sampled them; it is the window's count of the reply's tokens, and what a reply costs in the
    context window). The logprobs list the content tokens only, so they may be one or a few
    fewer. `cached_tokens`: prompt tokens served from the prompt cache."""
    prompt, generated = int(stats.get("prompt_tokens", 0)), int(stats.get("generated_tokens", 0))
    return {
        "prompt_tokens": prompt, "completion_tokens": generated, "total_tokens": prompt + generated,
        "prompt_tokens_details": {"cached_tokens": int(stats.get("cached_tokens", 0))},
    }


def chunk(cid: str, created: int, model: str, delta: dict, reason: str | None = None,
          logprobs: list | None = None) -> dict[str, Any]:
    """One `chat.completion.chunk` of a stream."""
    choice = {"index": 0, "delta": delta, "logprobs": None if logprobs is None else {"content": logprobs},
              "finish_reason": reason}
    return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": None, "choices": [choice]}


def completion(cid: str, created: int, model: str, text: str, reason: str | None,
               logprobs: list | None, stats: dict[str, Any]) -> dict[str, Any]:
    """A whole `chat.completion`."""
    choice = {"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
              "logprobs": None if logprobs is None else {"content": logprobs}, "finish_reason": reason}
    return {"id": cid, "object": "chat.completion", "created": created, "model": model,
            "system_fingerprint": None, "choices": [choice], "usage": usage(stats)}
