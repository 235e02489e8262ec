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
@given(vocabularies())
def test_the_merge_loop_equals_the_librarys_on_made_up_vocabularies(case):
    tokens, merges, words = case
    ours = native.byte_pair_model(tokens, merges)
    theirs = models.BPE({t: i for i, t in enumerate(tokens)}, [tuple(m.split(" ", 1)) for m in merges],
                        ignore_merges=False)
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
        monkeypatch.setattr(native, "byte_pair_model", lambda tokens, merges: None)
    with pytest.raises(TokenizerError, match="byte-level BPE vocabulary is damaged") as e:
        tokenizer_from_gguf(damaged(meta, [*meta["tokenizer.ggml.merges"][:10], merge]))
    if native_path:
        assert named in str(e.value)


def test_without_the_native_module_the_library_tokenizes(meta, monkeypatch):
    monkeypatch.setattr(native, "byte_pair_model", lambda tokens, merges: None)
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
