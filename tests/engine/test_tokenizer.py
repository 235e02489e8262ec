"""The tokenizer of the real default model: special tokens, the chat template, streaming decode; and
the chat-template sandbox."""

from __future__ import annotations

import pytest

from engine.tokenizer import CHATML_TEMPLATE, ChatTemplate, TokenizerError
from tests.engine.tiny import ByteTokenizer

IM_START, IM_END = 1, 2
MIXED = [
    "Café au lait, naïve façade, Ångström, Ødegaard",
    "日本語のテキストと中文字符",
    "emoji 🙂🚀 and a family 👩‍👩‍👧 and flags 🇫🇷🇯🇵",
    "Ελληνικά, русский, עברית, العربية",
    "combining e\u0301 and a\u0308, zero-width\u200bspace",
]


@pytest.fixture(scope="module")
def tok(default_lm):
    return default_lm.tokenizer


# ---------------------------------------------------------------------------------------------
# special tokens


def test_special_true_parses_chat_markers_as_single_tokens(tok):
    ids = tok.encode("<|im_start|>user\nHi<|im_end|>", special=True)
    assert ids[0] == IM_START and ids[-1] == IM_END
    assert tok.piece(IM_START) == "<|im_start|>"


def test_special_false_treats_chat_markers_as_plain_text(tok):
    ids = tok.encode("<|im_start|>user", special=False)
    assert IM_START not in ids and len(ids) > 2
    assert tok.decode(ids) == "<|im_start|>user"


def test_decode_can_skip_special_tokens(tok):
    ids = tok.encode("<|im_start|>user\nHi<|im_end|>", special=True)
    assert tok.decode(ids) == "<|im_start|>user\nHi<|im_end|>"
    assert tok.decode(ids, skip_special=True) == "user\nHi"


def test_eos_and_bos(tok):
    assert IM_END in tok.eos_ids
    assert not tok.add_bos and tok.encode("Hi") == tok.encode("Hi", add_bos=False)
    with_bos = tok.encode("Hi", add_bos=True)
    assert with_bos[0] == tok.bos_id and with_bos[1:] == tok.encode("Hi")
    assert tok.encode(tok.pieces[tok.bos_id], special=True, add_bos=True) == [tok.bos_id]  # not twice


# ---------------------------------------------------------------------------------------------
# chat template


def test_chat_template_renders_chatml_for_system_and_user(tok):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert tok.apply_chat_template(messages) == (
        "<|im_start|>system\nBe brief.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert tok.apply_chat_template(messages, add_generation_prompt=False).endswith("Hi<|im_end|>\n")


def test_chat_template_adds_the_model_default_system_prompt(tok):
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}])
    assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert text.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")


def test_encode_chat_turns_markers_into_special_tokens(tok):
    ids = tok.encode_chat([{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}])
    assert ids.count(IM_START) == 3 and ids.count(IM_END) == 2
    assert tok.decode(ids) == tok.apply_chat_template(
        [{"role": "system", "content": "S"}, {"role": "user", "content": "Hi"}]
    )


def test_a_model_without_template_falls_back_to_chatml():
    tok = ByteTokenizer()
    assert not tok.has_chat_template
    text = tok.apply_chat_template([{"role": "user", "content": "Hi"}])
    assert text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert ChatTemplate(CHATML_TEMPLATE).render([{"role": "user", "content": "Hi"}]) == text


# ---------------------------------------------------------------------------------------------
# streaming detokenizer


@pytest.mark.parametrize("text", MIXED)
def test_streaming_detokenizer_emits_only_whole_characters(tok, text):
    ids = tok.encode(text)
    detok = tok.detokenizer()
    deltas = [detok.add(i) for i in ids]
    deltas.append(detok.flush())
    assert all("\ufffd" not in d for d in deltas)  # no half character ever came out
    assert "".join(deltas) == tok.decode(ids) == text == detok.text
    # the test means something: some tokens really are partial characters here or there
    if any(ord(c) > 0x7FF for c in text):
        assert "" in deltas[:-1]


def test_flush_turns_an_unfinished_character_into_a_replacement(tok):
    ids = tok.encode("日")
    detok = tok.detokenizer()
    partial = "".join(detok.add(i) for i in ids[:-1])
    assert partial == "" and detok.flush() == "\ufffd"


def test_pieces_show_partial_bytes_readably(tok):
    ids = tok.encode(" 日本")
    pieces = [tok.piece(i) for i in ids]
    assert any(p.startswith("<0x") for p in pieces)
    assert tok.piece(tok.encode(" world")[0]) == " world"


def test_streaming_strips_the_sentencepiece_leading_space_once():
    tok = ByteTokenizer()
    tok.strip_leading_space = True
    detok = tok.detokenizer()
    out = "".join(detok.add(i) for i in tok.encode(" a b"))
    assert out == "a b" == tok.decode(tok.encode(" a b"))


# The decode(encode(s)) == s property over arbitrary text lives in test_golden.py (it also
# checks the bytes this vocabulary cannot represent against llama.cpp).


# ---------------------------------------------------------------------------------------------
# the chat-template sandbox

MSGS = [{"role": "user", "content": "x"}]


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.format.__globals__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ messages.__class__.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{% set _ = messages.append(1) %}",
        "{{ self.__init__.__globals__.__builtins__ }}",
    ],
)
def test_sandbox_refuses_attribute_tricks(source):
    try:
        rendered = ChatTemplate(source).render(MSGS)
    except TokenizerError:
        return
    assert rendered == ""  # refused silently: nothing from Python's internals came out


def test_raise_exception_becomes_a_tokenizer_error():
    template = ChatTemplate("{% if messages[0]['role'] != 'system' %}{{ raise_exception('system first') }}{% endif %}")
    with pytest.raises(TokenizerError, match="system first"):
        template.render(MSGS)


@pytest.mark.parametrize("source", ["{{ 1 / 0 }}", "{{ range(10**9) | list | length }}", "{{ messages + 1 }}"])
def test_any_template_failure_becomes_a_tokenizer_error(source):
    with pytest.raises(TokenizerError, match="chat template"):
        ChatTemplate(source).render(MSGS)


def test_a_template_that_does_not_parse_is_refused_at_once():
    with pytest.raises(TokenizerError, match="does not parse"):
        ChatTemplate("{% for m in messages %}")


def test_tojson_takes_the_keywords_templates_pass():
    t = ChatTemplate("{{ {'b': 'é', 'a': 1} | tojson(ensure_ascii=True, sort_keys=True, separators=(',', ':')) }}")
    assert t.render(MSGS) == '{"a":1,"b":"\\u00e9"}'
    assert ChatTemplate("{{ 'é' | tojson }}").render(MSGS) == '"é"'


def test_template_helpers_are_available():
    t = ChatTemplate("{{ bos_token }}{{ messages | tojson }}{{ strftime_now('%Y')|length }}", bos_token="<s>")
    assert t.render(MSGS) == '<s>[{"role": "user", "content": "x"}]4'


def _byte_level_reference(piece: str) -> bytes:
    """The definition: a piece made only of GPT-2 stand-ins is their bytes, anything else its UTF-8."""
    from engine.tokenizer import byte_decoder

    table = byte_decoder()
    if all(ch in table for ch in piece):
        return bytes(table[ch] for ch in piece)
    return piece.encode("utf-8")


def test_byte_level_bytes_follow_the_definition_for_every_character_and_mixes():
    import random

    from engine.tokenizer import byte_decoder, byte_level_bytes

    alphabet = list(byte_decoder()) + [chr(c) for c in range(0x200)] + ["é", "中", "\U0001f600", "\uffff", "\u0100"]
    for ch in alphabet:
        assert byte_level_bytes(ch) == _byte_level_reference(ch), repr(ch)
    rng = random.Random(0)
    for _ in range(20_000):
        piece = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        assert byte_level_bytes(piece) == _byte_level_reference(piece), repr(piece)
