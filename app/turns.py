"""Asking for replies in the open conversation: a new message, a regenerated reply, a reply
continued where it stopped, an edited message asked again, a branch from an alternative token.

Each builds the request from the open conversation (`Conversations`), its effective settings (the
app's with the conversation's own in their place) and the memories relevant to the user's message
(`Memories.relevant`), saves what must be saved before the request leaves, and hands the request to
`Replies` to stream. A message that can never fit the context window is taken back out
(`message_too_long` gives its text and attached files back to the composer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from PySide6.QtCore import QObject, Signal

from app.attachments import Attachment, title_text
from app.context import memories_in_system
from app.conversation import ChatMessage
from app.conversations import Conversations
from app.memories import Memories
from app.memory import NothingNamed, RememberIntent, detect_intent
from app.replies import CONTINUABLE, Replies
from app.reply_model import MODEL, refusal
from app.reply_request import (
    COMPLETION,
    as_asked,
    completion_used,
    is_completion,
    reply_request,
    settings_as_asked,
    settings_used,
)
from app.session_settings import SessionSettings
from app.settings import Settings


class Turns(QObject):
    message_too_long = Signal(str, str, object)  # the user's text, the explanation, its attachments (a tuple)
    refused = Signal(str)  # why a reply's tokens cannot be used with the loaded model (app/reply_model.py)

    def __init__(
        self, conversations: Conversations, replies: Replies, memories: Memories, session: SessionSettings,
        parent: QObject | None = None,
    ):
        super().__init__(parent)
        self._conversations, self._replies, self._memories, self._session = conversations, replies, memories, session
        replies.unanswered.connect(self._take_back)

    @property
    def effective_settings(self) -> Settings:
        """The settings the open conversation's next reply is asked with: the app's, with the
        conversation's own system prompt and stop strings in their place where it has them."""
        return self._conversations.own.applied_to(self._session.settings)

    @property
    def completion_mode(self) -> bool:
        """Whether the open conversation is in the completion view: its own choice (kept from its
        first message), else the view its replies were asked in, else (a new conversation) the
        loaded model's kind (a base model continues text; an instruction-tuned one chats). Loading
        another model never changes the view of a conversation already written."""
        mode = self._conversations.own.mode
        if mode is not None:
            return mode == COMPLETION
        replies = [m for m in self._messages if m.role == "assistant"]
        if replies:  # written before a conversation kept its view: the view its replies were asked in
            return is_completion(replies[-1].asked)
        return bool((self._session.model_info or {}).get("base_model"))

    def set_completion_mode(self, on: bool) -> None:
        """Choose the view for the open conversation (kept with it)."""
        self._conversations.set_own(replace(self._conversations.own, mode=COMPLETION if on else "chat"))

    def _keep_mode(self) -> None:
        """A conversation's first message fixes the view it was written in, so it reopens the same
        whatever model is loaded then."""
        if self._conversations.own.mode is None:
            self.set_completion_mode(self.completion_mode)

    @property
    def _messages(self) -> list[ChatMessage]:
        return self._conversations.transcript.messages

    def _history(self, before: int | None = None) -> tuple[dict[str, str], ...]:
        return tuple(self._conversations.transcript.history(before))

    def can_regenerate(self) -> bool:
        """Whether `regenerate` can act: nothing is being written, and there is a reply to write
        again or a saved message of the user's at the end waiting for its reply."""
        return not self._replies.busy and (self.replies_to_user() or any(m.role == "assistant" for m in self._messages))

    def replies_to_user(self) -> bool:
        """Whether the conversation ends with a saved user message that has no reply (an imported
        chat ending with the user's turn): `regenerate` then answers it."""
        messages = self._messages
        return bool(messages) and messages[-1].role == "user" and messages[-1].id is not None

    def can_continue(self) -> bool:
        """Whether the last reply can be continued: it stopped early (Stop, the token limit, Glassbox
        closing) and its tokens are known, and nothing is being written now."""
        messages = self._messages
        if self._replies.busy or not messages:
            return False
        last = messages[-1]
        return (last.role == "assistant" and last.id is not None and last.finish_reason in CONTINUABLE
                and last.error is None and any(t.token is not None for t in last.tokens))

    def send(self, text: str, attached: Sequence[Attachment] = ()) -> bool:
        """Send a user message: the typed `text` and the files `attached` to it (a part of the
        message of their own; the model reads them after the text, `ChatMessage.content`). False
        (and nothing sent) if both are empty, the text names nothing to remember or forget
        (`NothingNamed`), or a reply is streaming.

        "remember that …" also saves the fact as a memory (the message is still sent, so the reply
        already knows it). The message is saved before the request leaves.
        """
        if not (text.strip() or attached) or self._replies.busy:
            return False
        if not self.completion_mode:  # in the completion view the text is continued as written: never a memory intent
            intent = detect_intent(text)
            if isinstance(intent, NothingNamed):  # "remember that" alone: nothing saved or sent (the view says why)
                return False
            if isinstance(intent, RememberIntent):
                self._memories.remember(intent.fact)
        self._keep_mode()  # the view this conversation is written in, whatever model is loaded later
        history = self._history()
        index = self._conversations.add_user_message(text, title_text(text, attached) if attached else None,
                                                     tuple(attached))
        self._start_reply(self._messages[index].content, history)
        self._conversations.conversations_changed.emit()
        return True

    def regenerate(self) -> bool:
        """A new reply to the last user message; the old reply stays as an alternative branch. A
        conversation ending with the user's own message gets that message answered (never a new
        version of the reply before it, which would hide the message)."""
        if not self.can_regenerate():
            return False
        messages = self._messages
        if self.replies_to_user():
            last = len(messages) - 1
            self._start_reply(messages[last].content, self._history(before=last))
            return True
        reply = max(i for i, m in enumerate(messages) if m.role == "assistant")
        user = max(i for i in range(reply) if messages[i].role == "user")
        self._start_reply(messages[user].content, self._history(before=user), regenerate=True)
        return True

    def continue_with(self, index: int, token_index: int, token_id: int) -> bool:
        """Branch from an alternative: a new version of the last reply (at `index`) that keeps its
        first `token_index` tokens, puts `token_id` at that step and lets the model go on from there
        (the prompt cache serves everything before the step). The old version is kept (‹ 1/2 ›)."""
        if not self.can_regenerate():
            return False
        messages = self._messages
        last = max(i for i, m in enumerate(messages) if m.role == "assistant")
        if index != last or not 0 <= token_index <= len(messages[index].tokens) or token_id < 0:
            return False
        if self._refused(messages[index], "continue it with another token"):
            return False
        kept = tuple(messages[index].tokens[:token_index])
        user = max(i for i in range(index) if messages[i].role == "user")
        history = self._history(before=user)
        self._start_reply(messages[user].content, history, regenerate=True, kept=kept, force=token_id, like=messages[index])
        return True

    def continue_reply(self) -> bool:
        """Let the model go on writing the last reply where it stopped; the new tokens append to
        the same stored message. The prompt is the conversation with that reply as an unfinished
        assistant turn (`GenerateRequest.continue_ids`), asked as that reply was; it writes at most
        today's Max new tokens more."""
        if not self.can_continue():
            return False
        index = len(self._messages) - 1
        reply = self._messages[index]
        if self._refused(reply, "continue it"):
            return False
        user = max(i for i in range(index) if self._messages[i].role == "user")
        history = self._history(before=user)
        asked = settings_as_asked(self.effective_settings, reply.asked)  # its own prompt, not today's settings
        # how many more tokens it may write is today's limit (it is no part of the prompt: the cache still serves it)
        asked = replace(asked, app=replace(asked.app, max_new_tokens=self.effective_settings.app.max_new_tokens))
        request = reply_request(asked, self._messages[user].content, history, reply.memories, self._conversations.id,
                                completion=is_completion(reply.asked))
        request = as_asked(request, reply.asked)  # its memories where they went then
        self._replies.stream(index, reply, replace(request, continue_ids=tuple(t.token for t in reply.tokens
                                                                               if t.token is not None)))
        self._replies.reply_tokens.emit(index, [])  # the view shows it streaming again
        return True

    def edit_and_resend(self, index: int, text: str) -> bool:
        """Replace an earlier user message with `text` and ask again; the old branch is kept. False
        (nothing changed) if `index` is not a shown user message or `text` is blank."""
        if not 0 <= index < len(self._messages) or self._replies.busy:
            return False
        message = self._messages[index]
        if not (text.strip() or message.attachments):
            return False
        if message.role != "user" or message.id is None:
            return False
        history = self._history(before=index)
        self._conversations.edit_user_message(index, text)
        self._start_reply(self._messages[index].content, history)  # the files attached stay attached
        self._conversations.conversations_changed.emit()
        return True

    def _start_reply(
        self, user_text: str, history: tuple, regenerate: bool = False, kept: tuple = (), force: int | None = None,
        like: ChatMessage | None = None,
    ) -> None:
        """Save an empty reply after the active branch's leaf (or beside the last reply) and ask for it.

        kept / force (Branch from an alternative): the new reply starts with these TokenEvents of the
        old one (`like`), then the token `force`, then the model's own continuation; it is asked
        with what `like` was asked with (the kept tokens were written in that context), not today's
        settings.
        """
        completion = is_completion(like.asked) if like is not None else self.completion_mode
        if like is not None:
            memories, settings = like.memories, settings_as_asked(self.effective_settings, like.asked)
        elif completion:  # the text is the whole prompt: no memories are looked up or added
            memories, settings = [], self.effective_settings
        else:
            memories, settings = [m.text for m in self._memories.relevant(user_text)], self.effective_settings
        model = (self._session.model_info or {}).get("display_name") or settings.app.model
        used = settings_used(settings, memories, in_system=like is not None and memories_in_system(like.asked))
        used[MODEL] = model  # the model whose token ids the reply holds (app/reply_model.py)
        if like is not None and like.asked.get("opens_thinking"):
            used["opens_thinking"] = True  # the same prompt as the reply it branches from
        elif like is None and not completion and (self._session.model_info or {}).get("opens_thinking"):
            used["opens_thinking"] = True  # the prompt opens the reply's <think> (app/thinking.py)
        index = self._conversations.add_reply(model, completion_used(used) if completion else used, memories,
                                              regenerate, kept)
        request = reply_request(settings, user_text, history, memories, self._conversations.id, completion=completion)
        if like is not None:
            request = as_asked(request, like.asked)  # its memories where they went then
        if force is not None:
            request = replace(request, continue_ids=tuple(t.token for t in kept), force_token=force)
        self._replies.stream(index, self._messages[index], request, unsaved=kept)

    def _refused(self, reply: ChatMessage, action: str) -> bool:
        """Whether `reply`'s tokens belong to a model other than the loaded one (then `refused` says why)."""
        why = refusal(reply, self._session.model_info, action)
        if why is not None:
            self.refused.emit(why)
        return why is not None

    def _take_back(self, index: int, explanation: str) -> None:
        """A message that cannot fit the context window was never answered: take the turn back
        out, and give its text back to the composer."""
        user = self._messages[index - 1]
        self._conversations.take_back(index - 1)
        self.message_too_long.emit(user.text, explanation, user.attachments)
