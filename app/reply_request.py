"""What a reply is asked with: the request the worker gets, and the settings saved beside the reply.

A reply keeps what it was asked with (`settings_used`, saved with it): inspecting it, continuing
it or branching from one of its tokens rebuilds its prompt from those (`settings_as_asked`), never
from today's settings, so what is reopened is exactly what was shown. Only a new reply (send,
regenerate, edit) is asked with the current settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

from app.backend import GenerateRequest
from app.context import MEMORIES_WITH_MESSAGE, memories_in_system
from app.settings import Settings


def settings_used(settings: Settings, memories: list[str], in_system: bool = False) -> dict[str, Any]:
    """The decoding settings and memories a reply is generated with, as the store keeps them, and
    where its memories were put (with the user's message; `in_system`: in the system turn, as a
    reply saved before did, for a branch from such a reply)."""
    app = settings.app
    return {
        "memories_with": "system" if in_system else MEMORIES_WITH_MESSAGE,
        "sampling": asdict(settings.sampling),
        "max_new_tokens": app.max_new_tokens,
        "context_length": app.context_length,
        "memories_used": memories,
        "stop_strings": list(app.stop_strings),
        "system_prompt": app.system_prompt,
        "enable_thinking": app.enable_thinking,
    }


ASKED_APP_FIELDS = ("system_prompt", "max_new_tokens", "context_length", "stop_strings", "enable_thinking")


def settings_as_asked(settings: Settings, used: Mapping[str, Any]) -> Settings:
    """`settings` with a saved reply's own decoding settings, system prompt, token limit, context
    length and stop strings in their place (`used` is what `settings_used` saved). What the reply
    did not keep (a reply saved before Glassbox kept its system prompt) stays as in `settings`;
    the cache settings always do (a cache never changes an answer)."""
    app = {name: used[name] for name in ASKED_APP_FIELDS if name in used}
    return settings.overlaid(used.get("sampling") or {}, app)


COMPLETION = "completion"  # a reply's `asked["mode"]` in the completion view (no chat template)


def is_completion(asked: Mapping[str, Any]) -> bool:
    """Whether a reply was asked in the completion view (what `completion_used` saved)."""
    return asked.get("mode") == COMPLETION


def completion_used(used: dict[str, Any]) -> dict[str, Any]:
    """`settings_used` of a reply in the completion view: no memories, no system prompt, the mode."""
    return {**used, "memories_used": [], "system_prompt": "", "mode": COMPLETION}


def as_asked(request: GenerateRequest, asked: Mapping[str, Any]) -> GenerateRequest:
    """`request` rebuilding a saved reply's prompt (continue, branch, inspect): its memories go
    where they went when it was asked (`asked`: its `settings_used`; in the system turn for a reply
    saved before memories went with the user's message)."""
    return replace(request, memories_in_system=memories_in_system(asked))


def reply_request(
    settings: Settings, user_text: str, history: tuple[dict[str, str], ...], memories: list[str], conversation_id: int,
    completion: bool = False,
) -> GenerateRequest:
    """The worker's request for a reply to `user_text` after `history`, with the current settings.

    completion: the completion view's request: no chat template, no system prompt or memories; the
    prompt is the conversation's texts joined as written (`history`'s contents, then `user_text`),
    so the model continues the document (`GenerateRequest.raw_prompt`: encoded as plain text,
    special-token text never parsed)."""
    app = settings.app
    if completion:
        raw = "".join(turn["content"] for turn in history) + user_text
        return GenerateRequest(
            user_message=user_text, sampling=settings.sampling, max_new_tokens=app.max_new_tokens,
            context_length=app.context_length, top_report=max(app.panel_top_k, 5),
            conversation_id=str(conversation_id), cache=app.cache_config, stop_strings=app.stop_strings,
            raw_prompt=raw,
        )
    return GenerateRequest(
        user_message=user_text,
        sampling=settings.sampling,
        history=history,
        system_prompt=app.system_prompt,
        memories=tuple(memories),
        max_new_tokens=app.max_new_tokens,
        context_length=app.context_length,
        top_report=max(app.panel_top_k, 5),
        conversation_id=str(conversation_id),
        cache=app.cache_config,
        stop_strings=app.stop_strings,
        enable_thinking=app.enable_thinking,
    )
