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


# " Việt" as Llama 3 spells it (byte-level: Ġ the space, á»ĩ the three bytes of "ệ"). The merges are
# the ones llama.cpp's test vocabulary ggml-vocab-llama-bpe.gguf holds for it: they stop at three
# pieces, ĠVi │ á»ĩ │ t, and the whole word is a token of its own (101798 there).
VIET = "ĠViá»ĩt"
VIET_MERGES = ["Ġ V", "á »", "ĠV i", "á» ĩ"]


def _llama3_gguf(path, pre: str):
    """A vocabulary-only GGUF as llama.cpp's converter writes one (the 256 byte characters, the merges'
    tokens, the word), read back as the app reads a model's tokenizer."""
    import gguf as writer

    from engine import gguf
    from engine.tokenizer import byte_decoder, tokenizer_from_gguf

    tokens = list(byte_decoder()) + ["ĠV", "á»", "ĠVi", "á»ĩ", VIET]
    w = writer.GGUFWriter(str(path), "llama")
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(pre)
    w.add_token_list(tokens)
    w.add_token_types([1] * len(tokens))
    w.add_token_merges(VIET_MERGES)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return tokenizer_from_gguf(gguf.read_header(path).metadata), tokens.index(VIET)


@pytest.mark.parametrize("native_path", [True, False])
@pytest.mark.parametrize("pre, whole", [("llama-bpe", True), ("llama3", True), ("gpt2", False)])
def test_a_llama3_token_the_merges_do_not_reach_is_taken_whole_not_added_by_hand(tmp_path, monkeypatch, native_path, pre, whole):
    """Llama 3's BPE takes a piece that is itself a token whole: " Việt" is one token though its merges
    stop at three pieces. The Vocabulary knows the tokenizer does that, and the origin says so (the
    merges shown are the ones the rules alone make, with their ranks); a BPE that only merges never
    makes " Việt" one token, and its origin does not claim it."""
    from engine import native

    if not native_path:
        monkeypatch.setattr(native, "byte_pair_model", lambda *args: None)
    tok, viet = _llama3_gguf(tmp_path / "vocab.gguf", pre)
    vocabulary = Vocabulary.of(tok)
    assert vocabulary.kind == "byte-level BPE" and vocabulary.whole_pieces is whole
    assert (tok.encode(" Việt", add_bos=False) == [viet]) is whole  # what the tokenizer really does
    origin = token_origin(vocabulary, tok, viet)
    assert not origin.reached and origin.whole_piece is whole
    assert [(m.left, m.right, m.rank) for m in origin.merges] == [("Ġ", "V", 0), ("á", "»", 1), ("ĠV", "i", 2), ("á»", "ĩ", 3)]
    assert origin.end == ["ĠVi", "á»ĩ", "t"]  # no rule joins these: the merges alone stop here
    assert [readable(p, origin.kind) for p in origin.end] == [" Vi", "ệ", "t"]
    reached = token_origin(vocabulary, tok, tok.pieces.index("ĠVi"))  # one the merges do make: not "whole"
    assert reached.reached and not reached.whole_piece and reached.end == ["ĠVi"]


@pytest.mark.parametrize("ignore_merges", [True, False])
def test_a_tokenizer_json_with_ignore_merges_takes_whole_pieces(tmp_path, ignore_merges):
    """Llama 3's tokenizer.json says `"ignore_merges": true` in its BPE model: the Vocabulary reads it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    from engine.tokenizer import byte_decoder, tokenizer_from_folder

    alphabet = sorted(byte_decoder(), key=lambda ch: byte_decoder()[ch])
    vocab = {ch: i for i, ch in enumerate(alphabet)} | {"ĠV": 256, "á»": 257, "ĠVi": 258, "á»ĩ": 259, VIET: 260}
    backend = Tokenizer(models.BPE(vocab, [tuple(m.split(" ")) for m in VIET_MERGES], ignore_merges=ignore_merges))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    backend.save(str(tmp_path / "tokenizer.json"))
    tok = tokenizer_from_folder(tmp_path, {})
    vocabulary = Vocabulary.of(tok)
    assert vocabulary.whole_pieces is ignore_merges is tok.whole_pieces
    assert (tok.encode(" Việt", add_bos=False) == [260]) is ignore_merges
    origin = token_origin(vocabulary, tok, 260)
    assert origin.whole_piece is ignore_merges and origin.end == ["ĠVi", "á»ĩ", "t"]
