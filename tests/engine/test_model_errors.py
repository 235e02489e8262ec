"""Bad input gets one clear message naming the file and the problem; a sound file of a kind we
cannot read is never called corrupt."""

from __future__ import annotations

import json
import struct

import gguf
import numpy as np
import pytest

from engine.loading import ModelLoadError, load
from tests.engine.checkpoints import write_hf

K_AFFINE = (gguf.GGMLQuantizationType.Q4_K, gguf.GGMLQuantizationType.Q5_K)


def load_error(path) -> str:
    with pytest.raises(ModelLoadError) as e:
        load(path)
    message = str(e.value)
    assert str(path) in message
    return message


def one_tensor_gguf(path, kind: gguf.GGMLQuantizationType, architecture: str = "llama"):
    """A GGUF holding one 2x256 tensor of `kind` (random blocks with small float16 scales)."""
    block, size = gguf.GGML_QUANT_SIZES[kind]
    raw = np.random.default_rng(0).integers(0, 256, (2, 256 // block * size), dtype=np.uint8)
    if kind in K_AFFINE:  # d and dmin: the first two float16s of each block
        raw.reshape(-1, size)[:, :4] = np.frombuffer(np.array([0.01, 0.01], "<f2").tobytes(), np.uint8)
    w = gguf.GGUFWriter(str(path), architecture)
    w.add_block_count(1)
    w.add_tensor("blk.0.ffn_down.weight", raw, raw_dtype=kind)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def set_tensor_type(path, name: str, kind: int) -> None:
    """Rewrite the ggml type id of tensor `name` in the header."""
    data = bytearray(path.read_bytes())
    at = data.index(name.encode()) + len(name)
    n_dims = struct.unpack_from("<I", data, at)[0]
    struct.pack_into("<I", data, at + 4 + 8 * n_dims, kind)
    path.write_bytes(bytes(data))


def test_a_truncated_k_quant_file_says_truncated_and_names_the_tensor(tmp_path):
    path = one_tensor_gguf(tmp_path / "q4k.gguf", gguf.GGMLQuantizationType.Q4_K)
    path.write_bytes(path.read_bytes()[:-100])
    message = load_error(path)
    assert "truncated" in message and "blk.0.ffn_down.weight" in message


@pytest.mark.parametrize("kind", K_AFFINE, ids=lambda k: k.name)
def test_q4_k_and_q5_k_blocks_are_read_into_mlx_affine_layout_exactly(tmp_path, kind):
    """Affine per 32 values (d·sc·q − dmin·m): MLX's layout holds them without re-quantizing."""
    import mlx.core as mx

    from engine.gguf import read_gguf_contents

    path = one_tensor_gguf(tmp_path / "k.gguf", kind)
    contents = read_gguf_contents(path)
    expected = gguf.quants.dequantize(gguf.GGUFReader(str(path)).tensors[0].data, kind)
    parts = [contents.tensors[f"blk.0.ffn_down.{p}"] for p in ("weight", "scales", "biases")]
    ours = np.array(mx.dequantize(*parts, group_size=32, bits=4 if kind.name == "Q4_K" else 5))
    assert contents.types["blk.0.ffn_down.weight"] == kind.name
    assert np.abs(ours - expected).max() <= 1e-6 * np.abs(expected).max()  # float32 rounding of d·sc·q − dmin·m


def test_other_k_quant_blocks_are_dequantized_as_llama_cpp_defines_them(tmp_path):
    from engine.gguf import read_gguf_contents

    kind = gguf.GGMLQuantizationType.Q6_K
    path = one_tensor_gguf(tmp_path / "q6k.gguf", kind)
    contents = read_gguf_contents(path)
    expected = gguf.quants.dequantize(gguf.GGUFReader(str(path)).tensors[0].data, kind)
    assert contents.types["blk.0.ffn_down.weight"] == "Q6_K"
    assert np.array_equal(np.array(contents.tensors["blk.0.ffn_down.weight"]), expected, equal_nan=True)


@pytest.mark.parametrize(("kind", "shown"), [(99, "type 99"), (int(gguf.GGMLQuantizationType.Q8_1), "Q8_1")])
def test_an_unknown_tensor_type_is_named_and_not_called_corrupt(tmp_path, kind, shown):
    path = one_tensor_gguf(tmp_path / "odd.gguf", gguf.GGMLQuantizationType.Q8_0)
    set_tensor_type(path, "blk.0.ffn_down.weight", kind)
    message = load_error(path)
    assert f"stored as {shown}" in message and "cannot read" in message
    assert "corrupt" not in message


def test_an_unknown_architecture_is_named_with_the_supported_ones(tmp_path):
    path = one_tensor_gguf(tmp_path / "neox.gguf", gguf.GGMLQuantizationType.Q8_0, architecture="gptneox")
    message = load_error(path)
    assert "unsupported model architecture 'gptneox'" in message and "gemma3" in message


def test_a_config_missing_a_field_names_the_field(tmp_path):
    folder = write_hf("qwen3", tmp_path / "hf")
    config = json.loads((folder / "config.json").read_text())
    del config["hidden_size"]
    (folder / "config.json").write_text(json.dumps(config))
    assert "the configuration has no 'hidden_size'" in load_error(folder)


def test_gguf_metadata_missing_a_field_names_the_key(tmp_path):
    path = one_tensor_gguf(tmp_path / "bare.gguf", gguf.GGMLQuantizationType.Q8_0)
    assert "the GGUF metadata has no 'llama.attention.head_count'" in load_error(path)


def test_a_tokenizer_larger_than_the_vocabulary_is_refused(tmp_path):
    folder = write_hf("llama", tmp_path / "hf")
    spec = json.loads((folder / "tokenizer.json").read_text())
    spec["added_tokens"] += [
        {"id": 300 + i, "content": f"<extra_{i}>", "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i in range(5)
    ]
    (folder / "tokenizer.json").write_text(json.dumps(spec))
    message = load_error(folder)
    assert "305 tokens" in message and "300 embeddings" in message


def test_a_sentencepiece_vocabulary_with_missing_scores_is_refused(tmp_path):
    from engine.spm import sentencepiece_from_gguf
    from engine.tokenizer import TokenizerError

    meta = {"tokenizer.ggml.model": "llama", "tokenizer.ggml.tokens": ["<unk>", "a", "b"],
            "tokenizer.ggml.scores": np.zeros(2, np.float32)}
    with pytest.raises(TokenizerError, match="3 tokens but 2 scores"):
        sentencepiece_from_gguf(meta, lambda bos, eos: None)
