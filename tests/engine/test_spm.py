"""engine/spm.py (llama.cpp's SentencePiece algorithm on a GGUF vocabulary) against Google's
`sentencepiece`, the library Gemma's vocabulary was made with, on the real Gemma 3 270M file.

The GGUF holds no sentencepiece model, so the test writes one (a ModelProto, by hand: no protobuf
package) from the same tokens, scores and types: BPE, byte fallback, no dummy prefix. One known
difference is left out of the strings: Gemma's user-defined whitespace-run tokens ("  ", "\\n\\n")
are matched in the raw text by llama.cpp (and so by us), never by sentencepiece.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from engine import model_catalog
from engine.gguf import read_header
from engine.tokenizer import tokenizer_from_gguf

PATH = model_catalog.path_of(model_catalog.GEMMA3_270M)
pytestmark = pytest.mark.skipif(not PATH.is_file(), reason="run `python -m engine fetch gemma3-270m`")

STRINGS = [
    "Hello, world!", "The quick brown fox jumps over the lazy dog.", "I'm sure they'll say we've done it",
    "def fibonacci(n: int) -> list[int]:\n\treturn [0, 1][:n]", "SELECT id, name FROM users WHERE age >= 18;",
    "12345 3.14159 -42e-7 0x1F", "٣ ½ ² Ⅻ ①", "x² + y³ = z⁴", "😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷🇯🇵", "你好，世界！",
    "日本語のテキストです。", "안녕하세요, 세계!", "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "Привет, мир!",
    "Γειά σου Κόσμε", "สวัสดีครับ", "café naïve façade résumé", "Zürich, Ærøskøbing, Łódź, İstanbul",
    "e\u0301 vs \u00e9", "straße STRASSE", "https://example.com/path?q=1&lang=en#frag",
    "C:\\Users\\me\\file.txt", "<start_of_turn>user\nhi<end_of_turn>", "a\x04b \x13 é\x1d x\U00040000y",
    "supercalifragilisticexpialidocious antidisestablishmentarianism", "",
]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, wire: int, value) -> bytes:
    key = _varint(number << 3 | wire)
    if wire == 0:
        return key + _varint(value)
    if wire == 5:
        return key + struct.pack("<f", value)
    return key + _varint(len(value)) + value


def sentencepiece_model(meta) -> bytes:
    """ModelProto: pieces (piece, score, type), trainer_spec (BPE, byte_fallback), normalizer_spec
    (identity, no dummy prefix, no whitespace removal; spaces escaped to ▁)."""
    pieces = b"".join(
        _field(1, 2, _field(1, 2, t.encode()) + _field(2, 5, float(s)) + _field(3, 0, int(k)))
        for t, s, k in zip(meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.scores"],
                           meta["tokenizer.ggml.token_type"], strict=True)
    )
    trainer = _field(3, 0, 2) + _field(35, 0, 1)
    normalizer = _field(1, 2, b"identity") + _field(3, 0, 0) + _field(4, 0, 0)
    return pieces + _field(2, 2, trainer) + _field(3, 2, normalizer)


def test_ids_equal_googles_sentencepiece_on_gemmas_vocabulary():
    import sentencepiece as spm

    meta = read_header(Path(PATH)).metadata
    reference = spm.SentencePieceProcessor()
    reference.LoadFromSerializedProto(sentencepiece_model(meta))
    ours = tokenizer_from_gguf(meta)
    for text in STRINGS:
        assert ours.encode(text, add_bos=False) == reference.encode(text), text
        assert ours.decode(ours.encode(text, add_bos=False)) == text, text
