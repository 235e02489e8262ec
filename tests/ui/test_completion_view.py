"""The completion view, driven as a user does.

A base model (a tiny random-weight GGUF without a chat template, as the Gemma 3 270M file is) opens
new conversations in the completion view: the banner says in one sentence why it is not yet an
assistant, the text goes to the model verbatim (no template, special-token and markup text plain),
the continuation streams tinted with the next-token panel following it, it can be continued, and
the conversation reopens in the completion view exactly as shown, whatever model is loaded then.
An instruction-tuned model can be switched to the completion view for one conversation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.app.fakes import FakeBackend, FakeSession
from tests.engine.checkpoints import write_gguf
from tests.ui.driver import REPLY_TIMEOUT_MS, ask
from ui.completion_view import BASE_IN_CHAT_TEXT, FALLBACK_TEMPLATE_TEXT, SWITCHED_TEXT
from ui.token_text import UNFINISHED_MARK

TEXT = "Dear <b>Sir</b> & co, <|im_start|>user Once upon a time"
SEED = 1  # the random-weight model's continuation of TEXT: 10 tokens, none its end-of-text


@pytest.fixture
def base_model(tmp_path):
    return write_gguf("llama", tmp_path / "base.gguf")


def _tokenizer(app):
    return app.core.worker_thread.worker._session.lm.tokenizer


def test_a_base_model_continues_text_in_the_completion_view(qtbot, launch, base_model, tmp_path):
    app = launch(model=str(base_model), max_new_tokens=5)
    window = app.window
    # the engine's plain sampling with a seed: this test needs 5 tokens, and at each step the tiny
    # random model may draw its end-of-text (about 0.5 %: one run in 40 ended early, unseeded)
    from engine.sampling import SamplingSettings

    app.controller.apply_settings(replace(app.controller.settings, sampling=SamplingSettings(seed=SEED)))
    assert window.completion.action.isChecked() and window.completion.banner.isVisible()
    assert window.completion.banner.text() == app.controller.model_info["display_name"] + (
        " is a base model: it was trained only to continue text, not yet to follow instructions or chat, "
        "so here it continues what you write instead of answering it. (Decided from the file: no chat template in "
        "the file, and its name 'tiny llama' names no instruction tuning.)")

    reply = ask(qtbot, app, TEXT)
    user_view, reply_view = window.transcript.views
    assert (user_view.role_label.text(), reply_view.role_label.text()) == ("Your text", "Continuation")
    assert user_view.message.text == TEXT  # kept verbatim
    tok = _tokenizer(app)
    # the prompt is the text encoded as plain text: no template around it, "<|im_start|>" not parsed
    assert reply.stats["prompt_tokens"] == len(tok.encode(TEXT)) != len(tok.encode_chat([{"role": "user", "content": TEXT}]))
    assert reply.asked["mode"] == "completion" and reply.memories == []
    assert reply.finish_reason == "length" and len(reply.tokens) == 5 and reply.asked["sampling"]["seed"] == SEED
    # plain text, never read as Markdown; a random-weight model may end inside a character, whose
    # bytes' tokens each show one UNFINISHED_MARK after the text (ui/token_text.py)
    assert reply_view.text.toPlainText() == reply.text + UNFINISHED_MARK * len(reply_view.text.unfinished)
    assert window.panel.title.text()  # the next-token panel follows the continuation

    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        reply_view.continue_button.click()  # Continue: the model goes on where it stopped
    assert len(reply.tokens) == 10 and reply.finish_reason == "length"  # 5 more
    shown = (reply.text, [t.token for t in reply.tokens])
    conversation = app.controller.conversation_id
    app.close()

    again = launch(profile=tmp_path, model="default")  # an instruction-tuned model now
    again.window.new_chat()
    assert not again.controller.completion_mode  # a new chat follows the model: chat
    assert again.controller.open_conversation(conversation)
    qtbot.waitUntil(lambda: len(again.window.transcript.views) == 2)
    user_view, reply_view = again.window.transcript.views
    assert (user_view.role_label.text(), reply_view.role_label.text()) == ("Your text", "Continuation")
    assert (reply_view.message.text, [t.token for t in reply_view.message.tokens]) == shown
    marks = UNFINISHED_MARK * len(reply_view.text.unfinished)  # as shown before: ui/token_text.py
    assert reply_view.text.toPlainText() == shown[0] + marks and user_view.text.toPlainText() == TEXT
    assert again.window.completion.action.isChecked()  # the conversation kept its view
    assert again.window.completion.banner.text() == SWITCHED_TEXT.format(
        model=again.controller.model_info["display_name"])


def test_an_instruction_tuned_model_switches_one_conversation_to_completion(qtbot, launch):
    backend = FakeBackend()
    app = launch(backend)
    window = app.window
    assert not window.completion.action.isChecked() and not window.completion.banner.isVisible()
    assert window.composer.box.placeholder_forms[0].startswith("Message Glassbox")
    window.completion.action.trigger()  # View → Completion View
    assert window.completion.banner.isVisible() and window.completion.banner.text().startswith("Completion view:")
    assert window.composer.box.placeholder_forms[0].startswith("Text for the model to continue")

    first = ask(qtbot, app, "remember that <|im_start|>")  # continued as written, not a memory intent
    request = backend.sessions[-1].requests[-1]
    assert request.raw_prompt == "remember that <|im_start|>" and request.system_prompt == "" and not request.memories
    assert app.controller.memories.list() == []
    ask(qtbot, app, " And then")
    assert backend.sessions[-1].requests[-1].raw_prompt == "remember that <|im_start|>" + first.text + " And then"

    forget = ask(qtbot, app, " forget that I like tea")  # not a "forget" intent: no question, sent as written
    assert backend.sessions[-1].requests[-1].raw_prompt.endswith(" And then" + app.controller.message(3).text
                                                                  + " forget that I like tea")
    assert forget.text and app.window.composer.box.toPlainText() == ""

    window.completion.action.trigger()  # back to chat for the next reply
    ask(qtbot, app, "Hello")
    assert backend.sessions[-1].requests[-1].raw_prompt is None
    assert window.transcript.views[-1].role_label.text() == "Assistant"
    window.new_chat()
    assert not window.completion.action.isChecked()  # the choice was that conversation's only


def test_stop_and_continue_in_the_completion_view(qtbot, launch):
    backend = FakeBackend(endless=True)
    app = launch(backend)
    app.window.completion.action.trigger()
    from tests.ui.driver import type_and_send

    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        type_and_send(qtbot, app.window, "Once upon a time")
        qtbot.waitUntil(lambda: len(app.window.transcript.views) == 2 and bool(app.controller.message(1).tokens),
                        timeout=REPLY_TIMEOUT_MS)
        app.window.stop_action.trigger()  # Model → Stop Reply (Esc)
    reply = app.controller.message(1)
    assert reply.finish_reason == "cancelled" and reply.tokens
    view = app.window.transcript.views[1]
    assert view.continue_button.isVisible()
    kept = [t.token for t in reply.tokens]
    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        view.continue_button.click()
        qtbot.waitUntil(lambda: len(app.controller.message(1).tokens) > len(kept), timeout=REPLY_TIMEOUT_MS)
        app.window.stop_action.trigger()
    request = backend.sessions[-1].requests[-1]
    assert request.raw_prompt == "Once upon a time" and list(request.continue_ids) == kept
    assert [t.token for t in app.controller.message(1).tokens][: len(kept)] == kept


class _BaseWhenAsked(FakeSession):
    """A fake model that is a base model when its spec says "base"."""

    def __init__(self, spec, reply, endless):
        super().__init__(spec, reply, endless)
        if spec.endswith("base"):
            self.info = {**self.info, "base_model": True, "base_model_reason": "no chat template in the file"}


def _switch(qtbot, app, spec: str) -> None:
    settings = app.controller.settings
    with qtbot.waitSignal(app.controller.model_loaded, timeout=REPLY_TIMEOUT_MS):
        app.controller.apply_settings(replace(settings, app=replace(settings.app, model=spec)))  # Model → Switch Model


def test_a_written_conversation_keeps_its_view_and_a_base_model_in_chat_says_so(qtbot, launch):
    """Trial 5, findings 14, 15 and 17: a chat stays a chat when a base model is loaded (and after
    switching back), also one written before conversations kept their view; a base model chatting
    says what it is; an empty conversation in the completion view says what to write."""
    app = launch(FakeBackend(session=_BaseWhenAsked))
    window = app.window
    ask(qtbot, app, "What is the capital of Japan?")
    chat = app.controller.conversation_id
    assert app.controller.own_settings.mode == "chat"  # its first message fixed its view

    _switch(qtbot, app, "tiny-base")
    base = app.controller.model_info["display_name"]
    assert not app.controller.completion_mode and not window.completion.action.isChecked()
    assert window.composer.box.placeholder_forms[0].startswith("Message Glassbox")
    assert [v.role_label.text() for v in window.transcript.views] == ["You", "Assistant"]
    assert window.completion.banner.isVisible() and window.completion.banner.text() == BASE_IN_CHAT_TEXT.format(
        model=base)  # chatting with a base model: said, not hidden

    window.new_chat()  # a new conversation follows the model: completion
    assert window.completion.action.isChecked()
    assert window.transcript.empty_label.text().startswith("<h2>Write the beginning of a text</h2>")
    assert "The continuation streams" in window.transcript.empty_label.text()
    window.completion.action.trigger()  # off: chat, and the banner still says what the model is
    assert window.transcript.empty_label.text().startswith("<h2>Ask anything</h2>")
    assert window.completion.banner.text() == BASE_IN_CHAT_TEXT.format(model=base)

    # a conversation written before conversations kept their view: the view its replies were asked in
    assert app.controller.open_conversation(chat)
    app.controller.set_own_settings(replace(app.controller.own_settings, mode=None))
    assert not app.controller.completion_mode
    _switch(qtbot, app, "default")
    assert not app.controller.completion_mode and not window.completion.banner.isVisible()


GEMMA_FALLBACK = "Gemma (the family's standard; the file has none)"  # ModelInfo.chat_template, as the engine says it


class _NoTemplateInFile(FakeSession):
    """A fake model whose file has no chat template: the engine wrapped it in its family's standard one
    (spec "...base": also a base model, as Gemma 3 270M is)."""

    def __init__(self, spec, reply, endless):
        super().__init__(spec, reply, endless)
        self.info = {**self.info, "chat_template": GEMMA_FALLBACK}
        if spec.endswith("base"):
            self.info = {**self.info, "base_model": True, "base_model_reason": "no chat template in the file"}


def test_the_window_says_which_chat_template_wraps_the_messages(qtbot, launch):
    """Issue 14 (trial 5, finding 12): a file without a chat template gets its family's standard one,
    and the window says so — in the chat's banner and in the model's tooltip — never in the
    completion view, where no template is used."""
    app = launch(FakeBackend(session=_NoTemplateInFile))
    window = app.window
    model = app.controller.model_info["display_name"]
    sentence = FALLBACK_TEMPLATE_TEXT.format(template=GEMMA_FALLBACK, model=model)
    assert window.completion.banner.isVisible() and window.completion.banner.text() == sentence
    assert f"chat template: {GEMMA_FALLBACK}" in window.status.model_label.tooltip_text()

    _switch(qtbot, app, "tiny-base")  # a base model chatting: what it is, then which template
    base = app.controller.model_info["display_name"]
    window.completion.action.setChecked(False)
    assert window.completion.banner.text() == BASE_IN_CHAT_TEXT.format(model=base) + " " + \
        FALLBACK_TEMPLATE_TEXT.format(template=GEMMA_FALLBACK, model=base)
    window.completion.action.setChecked(True)  # the completion view: no template, none named
    assert "Chat template" not in window.completion.banner.text()


def test_inspect_a_word_of_my_text_in_the_completion_view(qtbot, launch, base_model, tmp_path):
    """Trial 6, finding 16: right-click a word of your own text in the completion view → Inspect opens
    the step that predicted its token (the prompt has no chat template: the text is found where it
    is, at the prompt's end), the Tokenization parts name it, and an error never outlives the next
    step or a model switch."""
    app = launch(model=str(base_model), max_new_tokens=3)
    window = app.window
    ask(qtbot, app, "Once upon a time")
    text = " in a small village by the sea,"
    ask(qtbot, app, text)
    mine = window.transcript.views[2]
    assert mine.role_label.text() == "Your text"
    menu = mine.build_context_menu(mine.text.source_point(text.index("village") + 2))
    action = next(a for a in menu.actions() if a.text() == "Inspect")
    inspector, service = window.inspector.inspector, window.inspector.inspector.service
    failures: list[str] = []
    service.failed.connect(failures.append)
    action.trigger()
    qtbot.waitUntil(lambda: service.report is not None or bool(failures), timeout=REPLY_TIMEOUT_MS)
    assert failures == []  # before: "Could not find that character of your message among the prompt's tokens."
    report = service.report
    selected = report["position"] + 1
    tok = _tokenizer(app)
    prompt = tok.encode("Once upon a time" + app.controller.message(1).text + text)
    assert report["shown_ids"] == prompt and report["source"] == "message"
    before = tok.decode(prompt[:selected]).encode("utf-8")
    upto = tok.decode(prompt[: selected + 1]).encode("utf-8")
    assert b"vil" in upto and b"vil" not in before, (before, upto)  # the selected token holds the "l" of "village"
    assert "(your message)" in inspector.status_label.text()
    parts = {name for name, _a, _b in report["prompt_parts"]}
    assert "your message" in parts and "earlier turns" in parts
    assert report["prompt_parts"][-1][0] == "your message" and report["prompt_parts"][-1][2] == len(prompt)

    # an error (a character outside the text) shows, and goes when another step is inspected
    service.inspect_message(2, len(text) + 5)
    qtbot.waitUntil(lambda: bool(failures), timeout=REPLY_TIMEOUT_MS)
    assert "not in your message" in inspector.status_label.text()
    window.inspector.inspect_message(2, text.index("sea"))
    assert "not in your message" not in inspector.status_label.text()  # gone as the next step is asked
    qtbot.waitUntil(lambda: "(your message)" in inspector.status_label.text(), timeout=REPLY_TIMEOUT_MS)
    service.inspect_message(2, len(text) + 5)
    qtbot.waitUntil(lambda: len(failures) == 2, timeout=REPLY_TIMEOUT_MS)
    _switch(qtbot, app, str(write_gguf("llama", tmp_path / "other.gguf")))  # a model switch: nothing of the old model's step or error stays
    assert inspector.status_label.text() == "" and inspector.strip.text().startswith("No step selected")
