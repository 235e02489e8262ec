"""What each request sends the model: system prompt + as much history as fits + the new message
with the memories recalled for it.

Memories travel with the user message they were recalled for (a headed list before its text), and
every earlier message is sent again exactly as it was sent then, its own memories included: the
prompt of turn N is the prompt of turn N-1 with its reply and the new message after it, so the
prompt cache serves everything before the new message however the recalled memories change. (A
reply asked before memories moved here had them in the system turn; `memories_in_system` rebuilds
such a prompt exactly as it ran, and its user messages are sent again bare, as they were then.)

A pure function over a tokenizer and values (no Qt, no database), so it is tested with the real
tokenizer and nothing else. Token counts come from rendering the model's chat template and encoding
the result, exactly as generation will, never from an estimate. Memory text is message content:
the template never reads it as syntax (engine/special_text.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.thinking import reasoning_and_answer
from app.wording import counted
from engine.tokenizer import Tokenizer

MEMORIES_HEADING = "Things you know about the user:"
MEMORIES_WITH_MESSAGE = "message"  # a reply's asked["memories_with"]: its memories went with the user's message

TemplateTurn = dict[str, str]  # {"role": ..., "content": ...}, what a chat template takes
# A history turn may also carry "memories" (a user message: the memories sent with it, rendered into
# its content by `with_memories`) and "thinking_opened" (a reply); neither reaches the template.


class ContextTooLong(ValueError):
    """The new message (with the system prompt and memories) cannot fit the context window at all."""

    ADVICE = "Shorten the message or raise the context length."

    def __init__(self, message_tokens: int, fixed_tokens: int, limit: int):
        self.message_tokens, self.fixed_tokens, self.limit = message_tokens, fixed_tokens, limit
        super().__init__(
            f"This message is {counted(message_tokens, 'token')}; together with the system prompt and memories "
            f"the prompt needs {counted(fixed_tokens, 'token')}, but only {limit:,} {'fits' if limit == 1 else 'fit'} (the context window less "
            f"the room kept for the reply). {self.ADVICE}"
        )


@dataclass(frozen=True)
class AssembledContext:
    messages: list[TemplateTurn]  # exactly what goes through the chat template
    prompt_ids: list[int]  # the rendered and encoded prompt, generation prompt included
    dropped_count: int  # earlier history messages left out to make room
    memories_used: list[str]
    limit: int  # context_length - reserve: the most tokens the prompt may have
    fixed_tokens: int  # system prompt + memories + the new message, as rendered
    memory_tokens: int  # of those, what the memories section costs
    history_tokens: int  # what the kept history costs

    @property
    def prompt_tokens(self) -> int:
        return len(self.prompt_ids)


def memories_in_system(asked: Mapping[str, Any]) -> bool:
    """Whether a saved reply (`asked`: what app/reply_request.settings_used kept) was asked with its
    memories in the system turn: one saved before memories went with the user's message."""
    return asked.get("memories_with") != MEMORIES_WITH_MESSAGE


def memories_block(memories: Sequence[str]) -> str:
    """A clearly headed list of memories ("" for none)."""
    return MEMORIES_HEADING + "\n" + "\n".join(f"- {m}" for m in memories) if memories else ""


def system_content(system_prompt: str, memories: Sequence[str] = ()) -> str:
    """The system turn's text: the system prompt, followed by a list of memories only in the layout
    of replies asked before memories went with the user's message (`memories_in_system`)."""
    parts = [system_prompt.strip()] if system_prompt.strip() else []
    if memories:
        parts.append(memories_block(memories))
    return "\n\n".join(parts)


def with_memories(user_text: str, memories: Sequence[str]) -> str:
    """A user message as the model reads it: the memories recalled for it (a headed list), a blank
    line, then the message exactly as written; with no memories, the message unchanged."""
    block = memories_block(_clean(memories))
    return f"{block}\n\n{user_text}" if block else user_text


def request_messages(
    system_prompt: str, memories: Sequence[str], history: Sequence[Any], user_message: str,
    memories_in_system: bool = False,
) -> list[TemplateTurn]:
    """The whole conversation of a request, as the chat template takes it, before any history is
    left out to fit: the system turn, every history turn as it was sent, the new message with its
    memories (or, `memories_in_system`, the memories in the system turn: an older reply's layout)."""
    head, turns, user = _parts(system_prompt, memories, history, user_message, memories_in_system)
    return _join(head, turns, user)


def _parts(
    system_prompt: str, memories: Sequence[str], history: Sequence[Any], user_message: str, memories_in_system: bool
) -> tuple[list[TemplateTurn], list[list[TemplateTurn]], TemplateTurn]:
    memories = _clean(memories)
    system = system_content(system_prompt, memories if memories_in_system else [])
    head = [{"role": "system", "content": system}] if system else []
    content = user_message if memories_in_system else with_memories(user_message, memories)
    return head, _turns([_as_chat(m) for m in history]), {"role": "user", "content": content}


def _clean(memories: Sequence[str]) -> list[str]:
    return [m for m in (s.strip() for s in memories) if m]


def assemble(
    tokenizer: Tokenizer,
    system_prompt: str,
    memories: Sequence[str],
    history: Sequence[Any],
    user_message: str,
    context_length: int,
    reserve: int,
    options: Mapping[str, Any] | None = None,
    memories_in_system: bool = False,
) -> AssembledContext:
    """Build the request for `user_message` within `context_length - reserve` tokens.

    `options`: switches for the chat template (e.g. enable_thinking; a template that does not read
    one never gets it). `memories`: those recalled for this message, sent with it
    (`with_memories`); `memories_in_system`: in the system turn instead (rebuilding a reply asked
    in that older layout).

    `history` is the conversation so far, oldest first: dicts with "role" and "content" (a user
    message's "memories": those sent with it then), or stored messages (objects with `.role` and
    `.text`). The system prompt, the new message and its memories always stay; history is dropped
    from the oldest end a whole turn (a user message and its replies) at a time. Raises
    ContextTooLong when even the system prompt and new message with its memories alone do not fit.
    """
    limit = context_length - reserve
    memories = _clean(memories)
    head, turns, user = _parts(system_prompt, memories, history, user_message, memories_in_system)

    def count(kept: Sequence[Sequence[TemplateTurn]], head: Sequence[TemplateTurn] = head,
              user: TemplateTurn = user) -> int:
        return len(tokenizer.encode_chat(_join(head, kept, user), add_generation_prompt=True, options=options))

    fixed = count([])
    if fixed > limit:
        raise ContextTooLong(len(tokenizer.encode(user_message)), fixed, limit)

    # Fewer turns never cost more tokens, so binary-search the first turn to keep.
    lo, hi = 0, len(turns)
    while lo < hi:
        mid = (lo + hi) // 2
        if count(turns[mid:]) <= limit:
            hi = mid
        else:
            lo = mid + 1
    kept = turns[lo:]
    messages = _join(head, kept, user)
    prompt_ids = tokenizer.encode_chat(messages, add_generation_prompt=True, options=options)
    bare_head, _, bare_user = _parts(system_prompt, [], [], user_message, memories_in_system)
    memory_tokens = fixed - count([], bare_head, bare_user) if memories else 0
    return AssembledContext(
        messages=messages,
        prompt_ids=prompt_ids,
        dropped_count=sum(len(t) for t in turns[:lo]),
        memories_used=memories,
        limit=limit,
        fixed_tokens=fixed,
        memory_tokens=memory_tokens,
        history_tokens=len(prompt_ids) - fixed,
    )


class PromptTooLong(ValueError):
    """A raw prompt (no chat template) does not fit the context window with the room kept for the reply."""

    def __init__(self, prompt_tokens: int, limit: int):
        self.prompt_tokens, self.limit = prompt_tokens, limit
        super().__init__(
            f"The prompt is {counted(prompt_tokens, 'token')}, but only {limit:,} {'fits' if limit == 1 else 'fit'} "
            f"(the context window less the room kept for the reply): {prompt_tokens - limit:,} too many. "
            "Shorten the prompt or raise the context length."
        )


def assemble_raw(tokenizer: Tokenizer, prompt: str, context_length: int, reserve: int) -> AssembledContext:
    """A raw prompt as the model reads it, with no chat template (a base model's completion).

    `prompt` is encoded as text (special-token text such as `<|im_start|>` stays plain characters),
    with the model's beginning-of-text token when its tokenizer adds one. Nothing is left out:
    PromptTooLong when it is over `context_length - reserve` tokens; ValueError when it encodes to
    no tokens at all (an empty prompt for a model without a beginning-of-text token).
    """
    ids = tokenizer.encode(prompt)
    if not ids:
        raise ValueError("the prompt is empty, and this model has no beginning-of-text token to start from")
    limit = context_length - reserve
    if len(ids) > limit:
        raise PromptTooLong(len(ids), limit)
    return AssembledContext(
        messages=[], prompt_ids=ids, dropped_count=0, memories_used=[], limit=limit, fixed_tokens=len(ids),
        memory_tokens=0, history_tokens=0,
    )


def _join(
    head: Sequence[TemplateTurn], turns: Sequence[Sequence[TemplateTurn]], user: TemplateTurn
) -> list[TemplateTurn]:
    return [*head, *(m for turn in turns for m in turn), user]


def _as_chat(message: Any) -> TemplateTurn:
    """A history message as a chat template takes it: a user message with the memories sent with
    it (`with_memories`); a reply that starts with a thinking section gives its answer as `content`
    and its reasoning as `reasoning_content` (app/thinking.py), so the template decides what the
    model sees again."""
    if isinstance(message, Mapping):
        role, text, opened = message["role"], message["content"], bool(message.get("thinking_opened"))
        if role == "user" and message.get("memories"):
            return {"role": role, "content": with_memories(text, message["memories"])}
    else:
        role, text, opened = message.role, message.text, bool(getattr(message, "asked", {}).get("opens_thinking"))
    if role == "assistant":
        reasoning, answer = reasoning_and_answer(text, opened)
        if reasoning is not None:
            return {"role": role, "content": answer, "reasoning_content": reasoning}
    return {"role": role, "content": text}


def _turns(history: Sequence[TemplateTurn]) -> list[list[TemplateTurn]]:
    """Group history into turns, each starting at a user message (a leading reply is its own turn)."""
    turns: list[list[TemplateTurn]] = []
    for m in history:
        if m["role"] == "user" or not turns:
            turns.append([m])
        else:
            turns[-1].append(m)
    return turns
