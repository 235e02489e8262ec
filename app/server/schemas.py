"""The OpenAI request shapes the server accepts, as pydantic models (their bounds become 400s).

Unknown fields are ignored (`extra="ignore"`), as OpenAI-compatible local servers do; a field of
the wrong type or out of range is a validation error that `routes` answers with an OpenAI-shaped
400 naming the field. Bounds follow engine.sampling.SamplingSettings.validate and OpenAI's
documented ranges (top_logprobs 0-20, penalties -2..2).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.stop_strings import MAX_STOP_STRING_CHARS, MAX_STOP_STRINGS
from engine.sampling import MAX_REPETITION_PENALTY, MAX_TEMPERATURE, MIN_REPETITION_PENALTY

MAX_MESSAGES = 10_000
MAX_TOP_LOGPROBS = 20


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(_Lenient):
    """One part of a message's content given as a list (only text parts are understood)."""

    type: Literal["text"]
    text: str


class ChatMessage(_Lenient):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart] | None = None

    def text(self) -> str:
        """The message's text: a string as it is, text parts joined without separators."""
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(_Lenient):
    include_usage: bool = False


StopField = str | list[str] | None


class SamplingFields(_Lenient):
    """Decoding fields shared by chat and plain completions (None: the server's default)."""

    model: str | None = None
    temperature: float | None = Field(None, ge=0.0, le=MAX_TEMPERATURE)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(None, ge=1)
    stop: StopField = Field(None, max_length=MAX_STOP_STRINGS)
    seed: int | None = Field(None, ge=0, lt=2**63)
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    n: int | None = Field(None, ge=1, le=1, description="only 1 is supported")
    stream: bool = False
    stream_options: StreamOptions | None = None
    # extras local servers accept
    top_k: int | None = Field(None, ge=0)
    min_p: float | None = Field(None, ge=0.0, lt=1.0)
    repetition_penalty: float | None = Field(None, ge=MIN_REPETITION_PENALTY, le=MAX_REPETITION_PENALTY)

    def stop_strings(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)


class CompletionRequest(SamplingFields):
    """A plain (legacy) completion: the prompt is the model's whole input, with no chat template.

    Only one prompt (a string, or a list holding one string) and no echo, suffix or best_of > 1:
    those are refused with a 400 naming the field rather than answered half-way."""

    prompt: str | list[str] = Field(description="the text to continue (one prompt)")
    logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS,
                                 description="log-probabilities of the sampled tokens and this many alternatives")
    echo: bool = Field(False, description="not supported: only false")
    suffix: str | None = Field(None, description="not supported: only null")
    best_of: int | None = Field(None, ge=1, le=1, description="only 1 is supported")

    def prompt_text(self) -> str | None:
        """The one prompt, or None when a list of other than one prompt was sent."""
        if isinstance(self.prompt, str):
            return self.prompt
        return self.prompt[0] if len(self.prompt) == 1 else None


__all__ = ["MAX_STOP_STRING_CHARS", "ChatCompletionRequest", "ChatMessage", "CompletionRequest", "StreamOptions"]
