"""What a reply is asked with: the request the worker gets, and the settings saved beside the reply."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from app.backend import GenerateRequest
from app.settings import Settings


def settings_used(settings: Settings, memories: list[str]) -> dict[str, Any]:
    """The decoding settings and memories a reply is generated with, as the store keeps them."""
    app = settings.app
    return {
        "sampling": asdict(settings.sampling),
        "max_new_tokens": app.max_new_tokens,
        "context_length": app.context_length,
        "memories_used": memories,
        "stop_strings": list(app.stop_strings),
    }


def reply_request(
    settings: Settings, user_text: str, history: tuple[dict[str, str], ...], memories: list[str], conversation_id: int
) -> GenerateRequest:
    """The worker's request for a reply to `user_text` after `history`, with the current settings."""
    app = settings.app
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
    )
