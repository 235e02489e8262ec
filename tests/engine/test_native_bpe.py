"""Glassbox's native byte-level BPE (engine/_native/bpe.h) against the `tokenizers` BPE it replaces.

- The default model's tokenizer takes the native path (the module is built by `make test`).
- On the default model's real vocabulary, any text gives the ids the `tokenizers` backend gives,
  with and without special-token parsing (Hypothesis, and a corpus of real text).
- On small vocabularies Hypothesis makes up (merges of merges, duplicate tokens and rules, ties,
  characters not in the vocabulary), `encode` equals `models.BPE.tokenize` word for word.
- A damaged vocabulary is refused with a message naming the merge, on both paths.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import models

from engine import gguf, native
from engine.tokenizer import HFTokenizer, NativeBPETokenizer, TokenizerError, tokenizer_from_gguf

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def meta(default_model_path):
    return gguf.read_header(default_model_path).metadata


@pytest.fixture(scope="module")
def tok(meta):
    return tokenizer_from_gguf(meta)


def reference(tok, text: str, special: bool) -> list[int]:
    """What the `tokenizers` backend (the path before the native BPE) encodes `text` to."""
    backend = tok.backend
    backend.encode_special_tokens = not special
    return backend.encode(text, add_special_tokens=False).ids


def test_the_default_model_takes_the_native_path(tok, default_lm):
    assert native.available(), native.advice()
    assert isinstance(tok, NativeBPETokenizer)
    assert isinstance(default_lm.tokenizer, NativeBPETokenizer)
    assert tok.vocab_size == 49152


CORPUS = [
    "Hello world! The quick brown fox jumps over 13 lazy dogs in 2026.",
    "  leading, trailing and   runs of spaces  \n\n\ttabs\r\nand CRLF \u00a0no-break",
    "it's we're they've I'm you'll he'd IT'S",
    "numbers 0 1 12 123 1234 12345 3.14159 -42 1e-9 ٣٤٥ ½ Ⅻ",
    "Café au lait, naïve façade, Ångström, Ødegaard, e\u0301 a\u0308",
    "日本語のテキストと中文字符, 한국어, ภาษาไทย, Ελληνικά, русский, עברית, العربية",
    "emoji 🙂🚀 family 👩\u200d👩\u200d👧 flags 🇫🇷🇯🇵 skin 👍🏽",
    "code: def f(x):\n    return x**2  # square\n\n```python\nprint('hi')\n```",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<|endoftext|>",
    "<|im_start|<|im_end|>>< |im_start| ><|im_start|><|im_start|>",
    "!!!???...,,,;;;:::---___===+++***&&&%%%$$$###@@@",
    "\x00\x01\x07 control characters \x1b[31m and \ufeff BOM \ufffd replacement",
    "a" * 300 + " " + "ab" * 200 + " " + "é" * 150,
]


@pytest.mark.parametrize("special", [False, True])
def test_the_corpus_and_the_docs_tokenize_as_the_backend_does(tok, special):
    texts = CORPUS + [(ROOT / "README.md").read_text(encoding="utf-8"), (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")]
    for text in texts:
        assert tok.encode(text, special=special, add_bos=False) == reference(tok, text, special), text[:60]


PIECES = st.sampled_from(
    ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_start", "|>", " ", "  ", "\n", "\t", "'s", "'LL",
     "Ġ", "ĊĠ", "123", "1", "é", "e\u0301", "🙂", "中文", "\u200d", "\u00a0", "\ufffd", "Hello", " world"]
)
TEXT = st.lists(st.one_of(PIECES, st.text(max_size=12)), max_size=20).map("".join)


@SETTINGS
@given(text=TEXT, special=st.booleans())
def test_any_text_tokenizes_as_the_backend_does(tok, text, special):
    assert tok.encode(text, special=special, add_bos=False) == reference(tok, text, special)


@SETTINGS
@given(text=TEXT)
def test_a_chat_tokenizes_as_before(tok, text):
    """encode_chat cuts the template's markers out and encodes the rest as plain text."""
    messages = [{"role": "system", "content": text}, {"role": "user", "content": text[::-1]}]
    ids = tok.encode_chat(messages)
    if "<|" not in text and "|>" not in text:  # no marker text in a message to defuse
        assert ids == reference(tok, tok.apply_chat_template(messages), special=True)
    else:
        assert ids == encode_chat_with(reference, tok, messages)


def encode_chat_with(encode, tok, messages) -> list[int]:
    """encode_chat as it was, with the backend's encode of the plain parts."""
    from engine import special_text

    return special_text.encode_chat(
        messages, lambda defused: tok.apply_chat_template(defused), tok.special_tokens,
        lambda text: encode(tok, text, False),
    )


def test_threads_encoding_at_once_get_what_one_gets(tok):
    texts = [CORPUS[i % len(CORPUS)] * (1 + i % 3) for i in range(16)]
    expected = [tok.encode(t) for t in texts]
    got: list[list[int] | None] = [None] * len(texts)

    def run(i):
        for _ in range(5):
            got[i] = tok.encode(texts[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == expected


def test_the_merges_and_the_backend_are_there_for_the_inspector_and_export(tok, meta):
    assert tok.bpe_merges[:3] == [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"][:3]]
    assert len(tok.bpe_merges) == len(meta["tokenizer.ggml.merges"])
    assert tok.backend.get_vocab_size() == tok.vocab_size


# ---------------------------------------------------------------------------------------------
# made-up vocabularies: the merge loop itself, word by word


@st.composite
def vocabularies(draw):
    """A byte-level-like alphabet, merges of merges (some rules twice, some tokens twice), and words
    over the alphabet plus a character the vocabulary lacks."""
    alphabet = draw(st.lists(st.sampled_from(list("abcdĠĊé中")), min_size=2, max_size=6, unique=True))
    tokens = list(alphabet)
    merges: list[str] = []
    for _ in range(draw(st.integers(0, 25))):
        left, right = draw(st.sampled_from(tokens)), draw(st.sampled_from(tokens))
        if len(left + right) > 12:
            continue
        if left + right not in tokens or draw(st.booleans()):  # sometimes the same token again
            tokens.append(left + right)
        merges.append(f"{left} {right}")
        if merges and draw(st.integers(0, 5)) == 0:  # a rule repeated later (the later rank wins)
            merges.append(draw(st.sampled_from(merges)))
    words = draw(st.lists(st.text(alphabet=alphabet + ["x"], max_size=16), min_size=1, max_size=8))
    return tokens, merges, words


@SETTINGS
@given(vocabularies(), st.booleans())
def test_the_merge_loop_equals_the_librarys_on_made_up_vocabularies(case, ignore_merges):
    """ignore_merges (Llama 3's vocabularies): a word that is itself a token is taken whole."""
    tokens, merges, words = case
    ours = native.byte_pair_model(tokens, merges, ignore_merges)
    theirs = models.BPE({t: i for i, t in enumerate(tokens)}, [tuple(m.split(" ", 1)) for m in merges],
                        ignore_merges=ignore_merges)
    for word in words:
        assert ours.encode([word]) == [t.id for t in theirs.tokenize(word)], word
    assert ours.encode(words) == [i for w in words for i in ours.encode([w])]


# ---------------------------------------------------------------------------------------------
# damaged vocabularies: a clear message, on the native path and without it


def damaged(meta, merges):
    return {**meta, "tokenizer.ggml.merges": merges}


@pytest.mark.parametrize("native_path", [True, False])
@pytest.mark.parametrize(
    "merge, named",
    [("Ġ zzzunknownzzz", "zzzunknownzzz"), ("nospace", "nospace"), ("a Ġthe", "aĠthe")],
)
def test_a_damaged_merge_list_is_refused_with_a_message(meta, monkeypatch, native_path, merge, named):
    if not native_path:
        monkeypatch.setattr(native, "byte_pair_model", lambda *args: None)
    with pytest.raises(TokenizerError, match="byte-level BPE vocabulary is damaged") as e:
        tokenizer_from_gguf(damaged(meta, [*meta["tokenizer.ggml.merges"][:10], merge]))
    if native_path:
        assert named in str(e.value)


def test_without_the_native_module_the_library_tokenizes(meta, monkeypatch):
    monkeypatch.setattr(native, "byte_pair_model", lambda *args: None)
    tok = tokenizer_from_gguf(meta)
    assert type(tok) is HFTokenizer
    assert tok.encode(CORPUS[0]) == reference(tok, CORPUS[0], False)


def test_the_inspector_reads_merge_ranks_from_the_native_tables(tok):
    """Vocabulary.of takes the native ranks (no 49k-pair dict after each load) and replays a token
    as the library's rules build it."""
    from engine.vocabulary import Vocabulary, _ranks, token_origin

    vocabulary = Vocabulary.of(tok)
    assert vocabulary.kind == "byte-level BPE"
    assert vocabulary.ranks is tok.merge_ranks
    written_out = _ranks(tok.bpe_merges)
    for pair in list(written_out)[:: len(written_out) // 200]:
        assert vocabulary.ranks[pair] == written_out[pair]
    assert ("Ġ", "zzzunknown") not in vocabulary.ranks and vocabulary.ranks.get(("a", "b"), -1) == written_out.get(("a", "b"), -1)
    for key in [("Ġ",), (1, 2), ("\udcff", "t"), "Ġ t", None]:  # not a rule's pair: missing, as in the dict
        assert key not in vocabulary.ranks and vocabulary.ranks.get(key) is None and written_out.get(key) is None
    assert len(vocabulary.ranks) == len(written_out)
    for token in tok.encode(CORPUS[0] + CORPUS[4]):
        origin = token_origin(vocabulary, tok, token)
        assert origin.reached and origin.merges == token_origin(Vocabulary("byte-level BPE", ranks=written_out), tok, token).merges


@SETTINGS
@given(vocabularies())
def test_ranks_are_the_rules_the_merging_uses(case):
    tokens, merges, _words = case
    model = native.byte_pair_model(tokens, merges)
    later = {tuple(m.split(" ", 1)): rank for rank, m in enumerate(merges)}  # the later rank wins
    for (left, right), rank in later.items():
        assert model.rank(left, right) == rank
    assert model.rank(tokens[0], "not a token") is None
    for left in tokens:  # two tokens that no rule joins: no rank (was 4294967295, an unsigned -1)
        for right in tokens:
            if (left, right) not in later:
                assert model.rank(left, right) is None, (left, right)


# ---------------------------------------------------------------------------------------------
# small GGUF vocabularies, on the native path and without it (verify 8)


def small_meta(tokens: list[str], merges: list, types: list[int]) -> dict:
    """GGUF byte-level BPE metadata: the 256 byte characters, then `tokens`; `types` for those."""
    from engine.tokenizer import byte_decoder

    alphabet = list(byte_decoder())
    return {
        "tokenizer.ggml.model": "gpt2", "tokenizer.ggml.pre": "gpt2",
        "tokenizer.ggml.tokens": alphabet + tokens, "tokenizer.ggml.merges": merges,
        "tokenizer.ggml.token_type": np.array([1] * len(alphabet) + types, dtype=np.int32),
    }


def library_only(monkeypatch):
    monkeypatch.setattr(native, "byte_pair_model", lambda *args: None)


@pytest.mark.parametrize("native_path", [True, False])
def test_two_control_tokens_spelled_alike_parse_to_the_later_id_as_the_library(monkeypatch, native_path):
    """ids 259 and 264 are both "<|x|>": special parsing gives the later, as the library does, not
    whichever the set of control ids happens to iterate first (here 264 first: 264 % 8 < 259 % 8)."""
    meta = small_meta(["p0", "p1", "p2", "<|x|>", "<|y|>", "p5", "p6", "p7", "<|x|>"], [], [1, 1, 1, 3, 3, 1, 1, 1, 3])
    if not native_path:
        library_only(monkeypatch)
    tok = tokenizer_from_gguf(meta)
    assert list(tok.special_ids) == [264, 259, 260]  # the order that made the earlier id win
    assert tok.encode("a<|x|><|y|>", special=True) == [ord("a"), 264, 260] == reference(tok, "a<|x|><|y|>", True)


@pytest.mark.parametrize("native_path", [True, False])
@pytest.mark.parametrize("key, value, named", [
    ("tokenizer.ggml.tokens", [1, 2, 3], "tokens[0] is int"),
    ("tokenizer.ggml.merges", ["a b", 7], "merges[1] is int"),
    ("tokenizer.ggml.merges", [None], "merges[0] is NoneType"),
])
def test_a_vocabulary_entry_that_is_not_a_string_is_refused_with_a_message(monkeypatch, native_path, key, value, named):
    meta = {**small_meta(["ab"], ["a b"], [1]), key: value}
    if key == "tokenizer.ggml.tokens":
        meta["tokenizer.ggml.token_type"] = np.ones(len(value), dtype=np.int32)
    if not native_path:
        library_only(monkeypatch)
    with pytest.raises(TokenizerError, match="byte-level BPE vocabulary is damaged") as e:
        tokenizer_from_gguf(meta)
    if native_path:
        assert named in str(e.value)


@pytest.mark.parametrize("native_path", [True, False])
@pytest.mark.parametrize("extra", [-1, 1])
def test_token_types_not_one_per_token_are_refused_with_a_message(monkeypatch, native_path, extra):
    """A type past the vocabulary named no token (special parsing then failed on every chat); one
    missing left a control token plain text."""
    meta = small_meta(["ab", "<|x|>"], ["a b"], [1, 3])
    types = meta["tokenizer.ggml.token_type"]
    meta["tokenizer.ggml.token_type"] = types[:-1] if extra < 0 else np.append(types, [3])
    if not native_path:
        library_only(monkeypatch)
    with pytest.raises(TokenizerError, match=f"token_type has {len(types) + extra} entries for {len(types)} tokens"):
        tokenizer_from_gguf(meta)


@pytest.mark.parametrize("native_path", [True, False])
def test_a_rule_named_twice_replays_at_the_rank_the_tokenizer_merges_by(monkeypatch, native_path):
    """"b c" is rule 0 and again rule 4: the tokenizer (the library's BPE, and the native one)
    merges by the later rank, so "abc" is a+b then ab+c; the Inspector's replay must show that, on
    either path, not b+c then a+bc."""
    from engine.vocabulary import Vocabulary, token_origin

    meta = small_meta(["ab", "bc", "abc"], ["b c", "a b", "ab c", "a bc", "b c"], [1, 1, 1])
    if not native_path:
        library_only(monkeypatch)
    tok = tokenizer_from_gguf(meta)
    assert tok.encode("abc") == [258] == reference(tok, "abc", False)
    assert tok.encode("bc") == [257]
    origin = token_origin(Vocabulary.of(tok), tok, 258)
    assert [(m.left, m.right, m.rank) for m in origin.merges] == [("a", "b", 1), ("ab", "c", 2)]
    assert origin.reached


@pytest.mark.parametrize("native_path", [True, False])
@pytest.mark.parametrize("pre, whole", [("llama-bpe", True), ("llama3", True), ("smollm", False), ("gpt2", False)])
def test_a_llama3_vocabulary_takes_a_piece_that_is_a_token_whole(monkeypatch, native_path, pre, whole):
    """llama.cpp (and Llama 3's tokenizer.json, `ignore_merges`) take a pre-tokenized piece that is in
    the vocabulary as that one token: in llama.cpp's own test vocabulary ggml-vocab-llama-bpe.gguf,
    " Việt" is 101798 where the merges alone give three tokens. Here the merges make "abc" a + bc;
    "abc" is a token of its own."""
    meta = {**small_meta(["bc", "abc"], ["b c"], [1, 1]), "tokenizer.ggml.pre": pre}
    if not native_path:
        library_only(monkeypatch)
    tok = tokenizer_from_gguf(meta)
    expected = [257] if whole else [ord("a"), 256]
    assert tok.encode("abc") == expected == reference(tok, "abc", False)
    assert tok.encode("abcbc") == [ord("a"), 256, 256]  # not a token: merged as before
