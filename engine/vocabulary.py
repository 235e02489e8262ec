"""How a token came to be in the vocabulary, and how the same word splits in different places.

- Byte-level BPE (GPT-2, SmolLM2, Llama 3, Qwen) and other BPE vocabularies (tokenizer.json with
  merges): a token is built from single characters (in byte-level BPE each character stands for
  one byte: "Ġ" is the space) by the tokenizer's merge rules, lowest rank first. `token_origin`
  replays the merges on the token's own spelling and lists each step with its rank.
- Llama 3's byte-level BPE (`ignore_merges`) first takes a pre-tokenized piece that is itself a
  token whole, merging nothing: a token the merges never reach (" Việt" in Llama 3) is made that
  way, not added by hand. `TokenOrigin.whole_piece` says so; the merges still show how far the
  rules alone would get (`TokenOrigin.end`).
- SentencePiece (Gemma, Llama 2; a tokenizer.model or a GGUF "llama" vocabulary): every piece has
  a score (its log-probability in the unigram model the vocabulary came from); the tokenizer joins
  the adjacent pair whose join is a piece with the highest score. `token_origin` replays that and
  gives each step's score and the token's own.
- `word_splits`: the same word at the start of a text, after a space, at the start of a line and
  capitalised, each encoded exactly as the tokenizer encodes it.

`Vocabulary.of(tokenizer)` reads the merges or scores once (hundreds of thousands of entries):
keep it per model. Nothing here is a second tokenizer: the replay explains a token that the real
tokenizer produced, and `word_splits` calls the real tokenizer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.tokenizer import HFTokenizer, NativeBPETokenizer, Tokenizer, byte_decoder


@dataclass(frozen=True)
class Merge:
    """One step of building a token: `left` + `right` -> `result` (the vocabulary's spellings)."""

    left: str
    right: str
    result: str
    rank: int | None = None  # BPE: the merge rule's rank (0 = the first merge learned)
    score: float | None = None  # SentencePiece: the joined piece's score


@dataclass(frozen=True)
class TokenOrigin:
    """A token as the vocabulary spells it and the merges that build it from single characters.

    kind: "byte-level BPE", "BPE", "SentencePiece", "special" (a control token, added whole) or
    "unknown" (a vocabulary without merges or scores). reached: the replay ends in this very token
    (a piece the merges never produce, e.g. one added by hand, is not reached). end: the pieces the
    replay ends with (just the token when reached). whole_piece: not reached, but the tokenizer takes
    a pre-tokenized piece that is itself a token whole (Llama 3's `ignore_merges`): that is how this
    token is produced, from text that is exactly its spelling.
    """

    token: int
    spelling: str
    kind: str
    start: list[str]
    merges: list[Merge]
    reached: bool
    score: float | None
    vocab_size: int
    end: list[str]
    whole_piece: bool = False


@dataclass(frozen=True)
class WordSplit:
    """`text` (the word in one context) as the tokenizer splits it."""

    context: str
    text: str
    ids: list[int]


@dataclass
class Vocabulary:
    """A tokenizer's merge ranks (BPE) or piece scores (SentencePiece), read once. whole_pieces: the
    BPE takes a pre-tokenized piece that is itself a token whole, without merging (Llama 3)."""

    kind: str
    ranks: Mapping[tuple[str, str], int] | None = None
    scores: list[float] | None = None
    ids: dict[str, int] | None = None  # spelling -> id (SentencePiece replay)
    whole_pieces: bool = False

    @classmethod
    def of(cls, tokenizer: Tokenizer) -> Vocabulary:
        scores = tokenizer.piece_scores()
        if scores is not None:
            return cls("SentencePiece", scores=scores, ids={p: i for i, p in enumerate(tokenizer.pieces)})
        if isinstance(tokenizer, NativeBPETokenizer):  # a GGUF's byte-level BPE, ranks in native tables
            return cls("byte-level BPE", ranks=tokenizer.merge_ranks, whole_pieces=tokenizer.whole_pieces)
        if isinstance(tokenizer, HFTokenizer) and tokenizer.bpe_merges is not None:  # a GGUF's byte-level BPE
            return cls("byte-level BPE", ranks=_ranks(tokenizer.bpe_merges), whole_pieces=tokenizer.whole_pieces)
        if isinstance(tokenizer, HFTokenizer):
            data = json.loads(tokenizer.backend.to_str())
            model = data.get("model") or {}
            if model.get("type") == "BPE":
                pairs = [tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m) for m in model.get("merges", [])]
                byte_level = "ByteLevel" in json.dumps([data.get("pre_tokenizer"), data.get("decoder")])
                return cls(
                    "byte-level BPE" if byte_level else "BPE",
                    ranks=_ranks(pairs),  # type: ignore[arg-type]
                    whole_pieces=bool(model.get("ignore_merges", False)),
                )
            if model.get("type") == "Unigram":
                vocab = model.get("vocab", [])
                return cls(
                    "SentencePiece", scores=[float(s) for _p, s in vocab], ids={p: i for i, (p, _s) in enumerate(vocab)}
                )
        return cls("unknown")


def _ranks(pairs: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Each merge's rank: its place in the list (lower merges first); a rule named twice has its
    later place, the rank the `tokenizers` BPE (and the native one) merges by."""
    return {pair: rank for rank, pair in enumerate(pairs)}


def _bpe_replay(symbols: list[str], ranks: Mapping[tuple[str, str], int]) -> list[Merge]:
    """The merges that join `symbols` (changed in place to the pieces they end with)."""
    merges = []
    while len(symbols) > 1:
        best = min(range(len(symbols) - 1), key=lambda i: ranks.get((symbols[i], symbols[i + 1]), math.inf))
        pair = (symbols[best], symbols[best + 1])
        if pair not in ranks:
            break
        symbols[best : best + 2] = [pair[0] + pair[1]]
        merges.append(Merge(pair[0], pair[1], symbols[best], rank=ranks[pair]))
    return merges


def _spm_replay(symbols: list[str], ids: dict[str, int], scores: list[float]) -> list[Merge]:
    """The joins of `symbols` (changed in place to the pieces they end with)."""
    merges = []
    while len(symbols) > 1:
        joins = [i for i in range(len(symbols) - 1) if symbols[i] + symbols[i + 1] in ids]
        if not joins:
            break
        best = max(joins, key=lambda i: (scores[ids[symbols[i] + symbols[i + 1]]], -i))  # ties: the leftmost
        a, b = symbols[best], symbols[best + 1]
        symbols[best : best + 2] = [a + b]
        merges.append(Merge(a, b, a + b, score=scores[ids[a + b]]))
    return merges


def token_origin(vocabulary: Vocabulary, tokenizer: Tokenizer, token: int) -> TokenOrigin:
    """How `token` is built (see the module docstring). ValueError for an id outside the vocabulary."""
    if not 0 <= token < tokenizer.vocab_size:
        raise ValueError(f"token id must be between 0 and {tokenizer.vocab_size - 1} (got {token})")
    spelling = tokenizer.pieces[token]
    score = vocabulary.scores[token] if vocabulary.scores is not None and token < len(vocabulary.scores) else None
    start = list(spelling)
    if token in tokenizer.special_ids or not spelling:
        return TokenOrigin(token, spelling, "special", start, [], False, score, tokenizer.vocab_size, [spelling])
    end = list(start)
    if vocabulary.ranks is not None:
        merges = _bpe_replay(end, vocabulary.ranks)
    elif vocabulary.scores is not None and vocabulary.ids is not None:
        merges = _spm_replay(end, vocabulary.ids, vocabulary.scores)
    else:
        merges = []
    reached = end == [spelling]
    whole_piece = not reached and vocabulary.ranks is not None and vocabulary.whole_pieces
    return TokenOrigin(
        token, spelling, vocabulary.kind, start, merges, reached, score, tokenizer.vocab_size, end, whole_piece
    )


def readable(spelling: str, kind: str) -> str:
    """A vocabulary spelling as text: byte-level characters back to their bytes ("Ġ" -> " "), ▁ as a
    space; bytes that are not a whole character as <0xNN>."""
    if kind == "byte-level BPE":
        table = byte_decoder()
        if all(ch in table for ch in spelling):
            data = bytes(table[ch] for ch in spelling)
            try:
                return data.decode("utf-8")
            except UnicodeDecodeError:
                return "".join(f"<0x{b:02X}>" for b in data)
    return spelling.replace("\u2581", " ")


def word_splits(tokenizer: Tokenizer, word: str) -> list[WordSplit]:
    """`word` at the start of a text, after a space, at the start of a line, capitalised and in
    capitals after a space, each as the tokenizer splits it (no BOS, special-token text stays text)."""
    word = word.strip() or word
    variants = [
        ("start of the text", word),
        ("after a space", " " + word),
        ("start of a line", "\n" + word),
        ("capitalised, after a space", " " + word[:1].upper() + word[1:]),
        ("in capitals, after a space", " " + word.upper()),
    ]
    seen, out = set(), []
    for context, text in variants:
        if text in seen:
            continue
        seen.add(text)
        out.append(WordSplit(context, text, tokenizer.encode(text, add_bos=False)))
    return out
