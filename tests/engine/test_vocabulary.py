"""engine.vocabulary: the merges that build a token, replayed, against the real tokenizers."""

from __future__ import annotations

import pytest

from engine.spm import NORMAL, sentencepiece_from_gguf
from engine.vocabulary import Vocabulary, readable, token_origin, word_splits

SAMPLE = "The capital of France is Paris. Unbelievable: naïve café, 12345 tokens!\n  indented"


def _spm(tokens_scores):
    tokens = [t for t, _ in tokens_scores]
    return sentencepiece_from_gguf(
        {"tokenizer.ggml.tokens": tokens, "tokenizer.ggml.scores": [s for _, s in tokens_scores],
         "tokenizer.ggml.token_type": [2] + [NORMAL] * (len(tokens) - 1), "tokenizer.ggml.add_space_prefix": True,
         "tokenizer.ggml.add_bos_token": False},
        lambda bos, eos: None,
    )  # fmt: skip


@pytest.mark.slow
def test_byte_level_bpe_merges_rebuild_every_token_the_tokenizer_produced(default_lm):
    tok = default_lm.tokenizer
    vocabulary = Vocabulary.of(tok)
    assert vocabulary.kind == "byte-level BPE" and len(vocabulary.ranks) > 40000
    for token in tok.encode(SAMPLE, add_bos=False):
        origin = token_origin(vocabulary, tok, token)
        assert origin.reached and origin.vocab_size == tok.vocab_size == 49152
        text = readable(origin.spelling, origin.kind)
        assert text.encode() == tok.token_bytes[token]  # Ġ read back as the space
        if origin.merges:
            assert origin.merges[-1].result == origin.spelling
            assert "".join(origin.start) == origin.spelling and len(origin.merges) == len(origin.start) - 1
            ranks = [m.rank for m in origin.merges]
            assert ranks == sorted(ranks)  # a merge can only use pieces made by earlier ones
        else:
            assert len(origin.start) == 1
    paris = tok.encode(" Paris", add_bos=False)
    (origin,) = [token_origin(vocabulary, tok, t) for t in paris]
    assert [(readable(m.left, origin.kind), readable(m.right, origin.kind)) for m in origin.merges][-1] == (" Par", "is")


@pytest.mark.slow
def test_a_special_token_is_not_built_by_merges_and_word_splits_use_the_real_tokenizer(default_lm):
    tok = default_lm.tokenizer
    vocabulary = Vocabulary.of(tok)
    special = min(tok.special_ids)
    origin = token_origin(vocabulary, tok, special)
    assert origin.kind == "special" and not origin.merges
    splits = word_splits(tok, " Paris")
    assert [s.context for s in splits][:3] == ["start of the text", "after a space", "start of a line"]
    for s in splits:
        assert s.ids == tok.encode(s.text, add_bos=False)
    assert splits[1].ids == tok.encode(" Paris", add_bos=False) and len(splits[1].ids) == 1
    with pytest.raises(ValueError, match="token id"):
        token_origin(vocabulary, tok, tok.vocab_size)


def test_sentencepiece_replay_joins_the_best_scoring_pair_and_reports_scores():
    tok = _spm([("<unk>", 0.0), ("▁", -1.0), ("a", -2.0), ("b", -2.0), ("c", -2.0), ("ab", -5.0), ("bc", -3.0),
                ("abc", -4.0), ("▁abc", -6.0)])  # fmt: skip
    vocabulary = Vocabulary.of(tok)
    assert vocabulary.kind == "SentencePiece"
    (token,) = tok.encode("abc", add_bos=False)  # the space prefix makes it ▁abc
    origin = token_origin(vocabulary, tok, token)
    assert origin.spelling == "▁abc" and origin.reached and origin.score == -6.0
    # b+c (-3) beats a+b (-5); then a+bc = abc (-4); then ▁+abc (-6)
    assert [(m.left, m.right, m.score) for m in origin.merges] == [("b", "c", -3.0), ("a", "bc", -4.0), ("▁", "abc", -6.0)]
    assert readable(origin.spelling, origin.kind) == " abc"


def test_a_tokenizer_json_bpe_vocabulary_is_read_from_its_merges(tmp_path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    from engine.tokenizer import byte_decoder, tokenizer_from_folder

    alphabet = sorted(byte_decoder(), key=lambda ch: byte_decoder()[ch])  # the 256 byte characters
    vocab = {ch: i for i, ch in enumerate(alphabet)} | {"ab": 256, "abc": 257, "Ġabc": 258}
    merges = [("a", "b"), ("ab", "c"), ("Ġ", "abc")]
    backend = Tokenizer(models.BPE(vocab, merges))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.save(str(tmp_path / "tokenizer.json"))
    tok = tokenizer_from_folder(tmp_path, {})
    vocabulary = Vocabulary.of(tok)
    assert vocabulary.kind == "byte-level BPE" and vocabulary.ranks == {m: r for r, m in enumerate(merges)}
    (token,) = tok.encode(" abc", add_bos=False)
    origin = token_origin(vocabulary, tok, token)
    assert [(m.left, m.right, m.rank) for m in origin.merges] == [("a", "b", 0), ("ab", "c", 1), ("Ġ", "abc", 2)]
    assert origin.reached and readable(origin.spelling, origin.kind) == " abc"


def test_a_gguf_bpe_vocabulary_read_from_the_files_merges_equals_the_backends_own(default_lm):
    """The merges kept from the GGUF (read without serialising the backend, which held the
    interpreter ~0.3 s and stalled the window) rank every pair as the backend's JSON does."""
    tok = default_lm.tokenizer
    kept = Vocabulary.of(tok)
    merges, tok.bpe_merges = tok.bpe_merges, None
    try:
        serialised = Vocabulary.of(tok)
    finally:
        tok.bpe_merges = merges
    assert merges and kept.kind == serialised.kind == "byte-level BPE"
    assert kept.ranks == serialised.ranks and len(kept.ranks) == len(merges)
