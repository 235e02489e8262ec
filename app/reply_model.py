"""Which model wrote a reply, and whether its tokens can be used with the model loaded now.

A reply's token ids mean text only in the vocabulary of the model that wrote them: continuing it,
branching from one of its tokens or inspecting one of its steps with another model would feed one
model's ids to another and show that model's numbers as the reply's (trial 5, findings 16 and 23).
A reply keeps its model's name (`ChatMessage.asked["model"]`, the name the window shows for it);
`refusal` says, in words, why such an action waits for that model. Regenerating or editing starts
from the text, so any model may do those.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.conversation import ChatMessage

MODEL = "model"  # the key of a reply's `asked` that names the model that wrote it


def written_by(reply: ChatMessage) -> str | None:
    """The name of the model that wrote `reply` (None when it is not known: an imported reply)."""
    name = reply.asked.get(MODEL)
    return name if isinstance(name, str) and name else None


def refusal(reply: ChatMessage, loaded: Mapping[str, Any] | None, action: str) -> str | None:
    """Why `action` ("continue it", "inspect this step"…) cannot use `reply`'s tokens with the
    model `loaded` (the worker's model info), or None when the model that wrote it is loaded."""
    writer = written_by(reply)
    name = (loaded or {}).get("display_name")
    if writer is None or not name or writer == name:
        return None
    return (f"This reply was written by {writer}, and {name} is loaded now: its tokens mean other text to "
            f"{name}. Switch back to {writer} (Model → Switch Model) to {action}.")
