"""SentencePiece vocabularies stored in GGUF metadata (`tokenizer.ggml.model` "llama"), tokenized
the way llama.cpp does it, so that ids agree with llama.cpp's on the same file.

The metadata holds tokens, scores and types (1 normal, 2 unknown, 3 control, 4 user-defined,
6 byte), no merges. The algorithm (llama.cpp's `llm_tokenizer_spm`):
1. Split the text on special tokens, longest first: user-defined tokens always (runs of spaces or
   newlines in Gemma's vocabulary), control tokens (<start_of_turn>) only when `special` is on.
2. In each plain fragment, spaces become U+2581 ("▁"), with one prepended when the vocabulary asks
   (`add_space_prefix`) at the start and after a special token.
3. Start from single characters; repeatedly merge the adjacent pair whose concatenation is a token
   with the highest score (ties: the leftmost pair).
4. A symbol that is not a token is split back along the merges that built it; a character that is
   not a token at all becomes its UTF-8 bytes, as the <0xNN> byte tokens.
"""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np

from engine.tokenizer import LazyTokenBytes, Tokenizer, TokenizerError, sentencepiece_bytes

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
SPACE = "\u2581"


class GGUFSentencePiece(Tokenizer):
    """Encodes like llama.cpp; `token_bytes` decodes (▁ -> space, <0xNN> -> that byte)."""

    def __init__(self, tokens: list[str], scores: list[float], types: list[int], add_space_prefix: bool, **kwargs):
        if len(types) != len(tokens):
            raise ValueError(f"{len(tokens)} tokens but {len(types)} token types")

        def piece_bytes(i: int) -> bytes:
            t, kind = tokens[i], types[i]
            if kind == BYTE:
                return sentencepiece_bytes(t)
            if kind == NORMAL:
                return t.replace(SPACE, " ").encode("utf-8")
            return t.encode("utf-8")  # control, user-defined, unknown, unused: their text

        token_bytes = LazyTokenBytes(len(tokens), piece_bytes)
        super().__init__(token_bytes=token_bytes, pieces=tokens, strip_leading_space=add_space_prefix, **kwargs)
        self._ids = dict(zip(tokens, range(len(tokens)), strict=True))  # a later duplicate wins, as in llama.cpp
        self._scores = scores
        self._add_space_prefix = add_space_prefix
        # longest first (ties in vocabulary order); only the few non-normal pieces are sorted
        kinds = np.asarray(types)
        specials = [i for i in np.flatnonzero(np.isin(kinds, (CONTROL, USER_DEFINED, UNKNOWN))).tolist() if tokens[i]]
        by_length = sorted(specials, key=lambda i: -len(tokens[i]))
        self._user_defined = [tokens[i] for i in by_length if types[i] == USER_DEFINED]
        self._specials = [tokens[i] for i in by_length]
        self._byte_ids = [self._ids.get(f"<0x{b:02X}>", self._ids.get(chr(b))) for b in range(256)]

    def piece_scores(self) -> list[float]:
        return list(self._scores)

    def _encode(self, text: str, special: bool) -> list[int]:
        ids: list[int] = []
        previous_special = True
        for fragment, is_token in self._partition(text, self._specials if special else self._user_defined):
            if is_token:
                ids.append(self._ids[fragment])
                previous_special = True
                continue
            if self._add_space_prefix and previous_special:
                fragment = " " + fragment
            self._tokenize(fragment.replace(" ", SPACE), ids)
            previous_special = False
        return ids

    @staticmethod
    def _partition(text: str, specials: list[str]) -> list[tuple[str, bool]]:
        """Split `text` on each special token in turn, longest first (llama.cpp's order)."""
        fragments = [(text, False)]
        for token in specials:
            if not any(token in f for f, is_token in fragments if not is_token):
                continue
            out = []
            for fragment, is_token in fragments:
                if is_token or token not in fragment:
                    out.append((fragment, is_token))
                    continue
                parts = fragment.split(token)
                for j, part in enumerate(parts):
                    if j:
                        out.append((token, True))
                    if part:
                        out.append((part, False))
            fragments = out
        return fragments

    def _tokenize(self, text: str, out: list[int]) -> None:
        """Steps 3 and 4 on one escaped fragment; appends ids to `out`."""
        if not text:
            return
        symbols = list(text)  # one symbol per character; merged symbols grow, merged-away become ""
        prev = list(range(-1, len(symbols) - 1))
        nxt = [*range(1, len(symbols)), -1]
        heap: list[tuple[float, int, int, int]] = []  # (-score, left, right, merged length)
        built_from: dict[str, tuple[str, str]] = {}

        def add_pair(left: int, right: int) -> None:
            if left < 0 or right < 0:
                return
            merged = symbols[left] + symbols[right]
            token = self._ids.get(merged)
            if token is None:
                return
            heapq.heappush(heap, (-self._scores[token], left, right, len(merged)))
            built_from[merged] = (symbols[left], symbols[right])

        for i in range(1, len(symbols)):
            add_pair(i - 1, i)
        while heap:
            _, left, right, length = heapq.heappop(heap)
            if not symbols[left] or not symbols[right] or len(symbols[left]) + len(symbols[right]) != length:
                continue  # one side was merged elsewhere since this pair was queued
            symbols[left] += symbols[right]
            symbols[right] = ""
            nxt[left] = nxt[right]
            if nxt[right] >= 0:
                prev[nxt[right]] = left
            add_pair(prev[left], left)
            add_pair(left, nxt[left])
        i = 0
        while i >= 0:
            self._resegment(symbols[i], built_from, out)
            i = nxt[i]

    def _resegment(self, symbol: str, built_from: dict[str, tuple[str, str]], out: list[int]) -> None:
        token = self._ids.get(symbol)
        if token is not None:
            out.append(token)
            return
        parts = built_from.get(symbol)
        if parts is None:  # not in the vocabulary: its bytes
            for b in symbol.encode("utf-8"):
                if self._byte_ids[b] is not None:
                    out.append(self._byte_ids[b])
            return
        for part in parts:
            self._resegment(part, built_from, out)


def sentencepiece_from_gguf(meta: dict[str, Any], template_source) -> GGUFSentencePiece:
    """The tokenizer of a GGUF whose `tokenizer.ggml.model` is "llama"."""
    tokens = list(meta["tokenizer.ggml.tokens"])
    n = len(tokens)
    scores = _floats(meta.get("tokenizer.ggml.scores"), n, 0.0)
    # an int array, not a list: a vocabulary has 262k entries, read with numpy (~10x faster to scan)
    types = np.asarray(_floats(meta.get("tokenizer.ggml.token_type"), n, NORMAL), dtype=np.int64)
    if len(scores) != n or len(types) != n:
        raise TokenizerError(
            f"the GGUF vocabulary has {n} tokens but {len(scores)} scores and {len(types)} token types"
        )
    bos, eos, eot = (_int(meta.get(f"tokenizer.ggml.{k}_token_id")) for k in ("bos", "eos", "eot"))
    for name, value in (("bos", bos), ("eos", eos), ("eot", eot)):
        if value is not None and not 0 <= value < n:
            raise TokenizerError(f"tokenizer.ggml.{name}_token_id {value} is outside the {n}-token vocabulary")
    end_of_turn = _positions(tokens, "<end_of_turn>")  # Gemma's turn end
    return GGUFSentencePiece(
        tokens, scores, types,
        add_space_prefix=bool(_int(meta.get("tokenizer.ggml.add_space_prefix", True))),
        special_ids=set(np.flatnonzero(np.isin(types, (CONTROL, UNKNOWN))).tolist()),
        eos_ids={i for i in (eos, eot) if i is not None} | end_of_turn,
        bos_id=bos,
        add_bos=bool(_int(meta.get("tokenizer.ggml.add_bos_token", True))),
        chat_template=template_source(tokens[bos] if bos is not None else "", tokens[eos] if eos is not None else ""),
    )


def _positions(items: list[str], wanted: str) -> set[int]:
    """Every index of `wanted` in `items` (list.index runs in C: a vocabulary has 262k entries)."""
    found: set[int] = set()
    at = 0
    while True:
        try:
            at = items.index(wanted, at)
        except ValueError:
            return found
        found.add(at)
        at += 1


def _floats(value, n: int, default) -> list:
    if value is None:
        return [default] * n
    return value.tolist() if hasattr(value, "tolist") else list(value)


def _int(value):
    if value is None:
        return None
    return int(value.item() if hasattr(value, "item") else value)
