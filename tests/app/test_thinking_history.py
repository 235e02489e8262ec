"""A reasoning model's history, rendered with Qwen 3's own chat template (tests/fixtures/templates/
qwen3.jinja: the released template without its tool-calling branches) on a tiny Qwen 3 checkpoint
that carries it: the reasoning of earlier turns is dropped because the template says so (it reads
`reasoning_content`, which the history gives it apart from the answer); enable_thinking reaches a
template that reads it and no other."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.context import assemble
from app.thinking import ThinkingPart, reasoning_and_answer, thinking_part
from engine.loading import WeightPolicy, load
from engine.tokenizer import CHATML_TEMPLATE, ChatTemplate
from tests.engine.checkpoints import write_gguf

QWEN3 = (Path(__file__).resolve().parents[1] / "fixtures" / "templates" / "qwen3.jinja").read_text()
HISTORY = [
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "<think>\nThe user adds two and two: 4.\n</think>\n\nIt is 4."},
]


@pytest.fixture(scope="module")
def qwen3(tmp_path_factory):
    path = write_gguf("qwen3", tmp_path_factory.mktemp("q") / "qwen3.gguf", strings={"tokenizer.chat_template": QWEN3})
    return load(path, WeightPolicy("float32")).tokenizer


def prompt_text(tok, options=None, history=HISTORY, message="And 3+3?") -> str:
    assembled = assemble(tok, "", [], history, message, context_length=4096, reserve=16, options=options)
    return tok.decode(assembled.prompt_ids)


def test_earlier_reasoning_is_left_out_as_the_template_says(qwen3):
    text = prompt_text(qwen3)
    assert text == ("<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\nIt is 4.<|im_end|>\n"
                    "<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n")
    assert "two and two" not in text


def test_the_template_keeps_reasoning_after_the_last_user_message(qwen3):
    """Qwen 3 keeps a turn's reasoning when it comes after the last user message (its own rule,
    not ours): rendered without a generation prompt, the final assistant turn keeps its thinking."""
    history = [HISTORY[0]]
    rendered = qwen3.chat_template.render(
        [*history, {"role": "assistant", "content": "It is 4.", "reasoning_content": "Two and two."}],
        add_generation_prompt=False)
    assert rendered.endswith("<|im_start|>assistant\n<think>\nTwo and two.\n</think>\n\nIt is 4.<|im_end|>\n")


def test_enable_thinking_reaches_a_template_that_reads_it(qwen3):
    assert qwen3.chat_template.options == {"enable_thinking"}
    assert prompt_text(qwen3, {"enable_thinking": False}).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert prompt_text(qwen3, {"enable_thinking": True}) == prompt_text(qwen3)
    chatml = ChatTemplate(CHATML_TEMPLATE)
    assert chatml.options == frozenset()
    messages = [{"role": "user", "content": "hi"}]
    assert chatml.render(messages, options={"enable_thinking": False}) == chatml.render(messages)


def test_special_text_in_the_reasoning_stays_text(qwen3):
    history = [HISTORY[0], {"role": "assistant", "content": "<think><|im_end|> tricky</think>It is 4."}]
    assert "tricky" not in prompt_text(qwen3, history=history)


@pytest.mark.parametrize("texts,part", [
    (["<think>", "\nhm", "\n</think>", "\n\nIt", " is 4."], ThinkingPart(3, True)),
    (["  <thi", "nk>wait"], ThinkingPart(2, False)),
    (["<think>a</th", "ink>b", "c"], ThinkingPart(2, True)),  # the token holding the tag's end
    (["It is", " <think>x</think>"], None),  # not at the start: not a thinking section
    ([], None),
])
def test_where_thinking_ends(texts, part):
    assert thinking_part(texts) == part


def test_reasoning_and_answer():
    assert reasoning_and_answer(HISTORY[1]["content"]) == ("The user adds two and two: 4.", "It is 4.")
    assert reasoning_and_answer("<think>still going") == ("still going", "")
    assert reasoning_and_answer("No thinking </think> here") == (None, "No thinking </think> here")


R1_STYLE = ("{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|><think>\n{% endif %}")


def test_a_template_that_opens_the_thinking_is_recognised(qwen3):
    assert ChatTemplate(R1_STYLE).opens_thinking and not qwen3.chat_template.opens_thinking
    assert not ChatTemplate(CHATML_TEMPLATE).opens_thinking


def test_a_reply_that_starts_inside_its_thinking(qwen3):
    """After such a prompt the reply holds only the closing tag: its reasoning is still told apart,
    in the window and in the history (`thinking_opened`, from the reply's own record)."""
    assert thinking_part(["Hm,", " 4.", "</think>", "\n\nIt is 4."], opened=True) == ThinkingPart(3, True)
    assert thinking_part(["Hm"], opened=True) == ThinkingPart(1, False)
    assert thinking_part(["It is 4."], opened=False) is None
    assert reasoning_and_answer("Hm, 4.\n</think>\n\nIt is 4.", opened=True) == ("Hm, 4.", "It is 4.")
    history = [HISTORY[0], {"role": "assistant", "content": "Adding two and two.\n</think>\n\nIt is 4.",
                            "thinking_opened": True}]
    text = prompt_text(qwen3, history=history)
    assert "Adding" not in text and "<|im_start|>assistant\nIt is 4.<|im_end|>" in text
    assert "thinking_opened" not in text
