"""engine/gguf.py against MLX's own GGUF reader on the default model: the same tensors, bit for bit."""

from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

from engine.gguf import read_gguf, read_header


def test_tensors_and_metadata_match_mlx_reader(default_model_path):
    ours, meta = read_gguf(Path(default_model_path))
    ref, ref_meta = mx.load(str(default_model_path), return_metadata=True)
    assert set(ours) == set(ref)
    for name, array in ref.items():
        assert ours[name].dtype == array.dtype and ours[name].shape == array.shape, name
        assert mx.array_equal(ours[name], array).item(), name
    assert set(meta) == set(ref_meta)
    for key, value in ref_meta.items():
        if isinstance(value, mx.array):
            assert np.array_equal(np.asarray(meta[key]), np.array(value)), key
        else:
            assert meta[key] == value, key


def test_header_describes_the_q4_1_layers_and_the_q8_0_embedding(default_model_path):
    header = read_header(Path(default_model_path))
    kinds = {t.name: t.ggml_type for t in header.tensors}
    assert kinds["token_embd.weight"] == 8  # Q8_0
    assert kinds["blk.0.attn_q.weight"] == 3  # Q4_1
    embd = next(t for t in header.tensors if t.name == "token_embd.weight")
    assert embd.shape == (49152, 576)


def _blocks_with_scales(kind, d: np.ndarray, seed: int) -> np.ndarray:
    """Random ggml blocks of `kind` (2 rows) whose float16 scale of block i is d[i]."""
    import gguf

    from engine import gguf as reader

    block, size = gguf.GGML_QUANT_SIZES[kind]
    raw = np.random.default_rng(seed).integers(0, 256, len(d) * size, dtype=np.uint8)
    raw.view(reader._BLOCKS[int(kind)])["d"] = d.astype(np.float16)
    return raw


def _dense(parts: dict, bits: int, group: int = 32) -> np.ndarray:
    """The values an affine layout holds, in float64: scale * q + bias per group."""
    w = parts["weight"].view(np.uint8).reshape(parts["weight"].shape[0], -1)
    codes = np.unpackbits(w, axis=-1, bitorder="little").reshape(w.shape[0], -1, bits)
    q = (codes * (1 << np.arange(bits))).sum(-1)
    s, b = (np.repeat(np.asarray(parts[k], np.float64), group, axis=1) for k in ("scales", "biases"))
    return q * s + b


@pytest.mark.parametrize(("kind_name", "bits"), [("Q8_0", 8), ("Q4_0", 4), ("Q5_0", 5)])
def test_block_scales_too_large_for_a_float16_bias_are_read_exactly(kind_name, bits):
    """Q8_0's bias is -128·d: computed in float16 it is infinite for |d| > 511.98 (and -8·d, -16·d
    for Q4_0, Q5_0 past 8188, 4094). Such blocks come out exactly, with float32 scales and biases;
    ordinary ones keep the file's float16."""
    import gguf
    from gguf.quants import dequantize

    from engine.gguf import _quantized

    kind = gguf.GGMLQuantizationType[kind_name]
    huge = np.array([1.0, -2.5, 600.0, -9000.0, 60000.0, 0.001, 3.0, 1e-7], np.float32)
    small = np.array([1.0, -2.5, 0.25, -3.0, 7.5, 0.001, 3.0, 1e-7], np.float32)
    for d, widened in ((huge, True), (small, False)):
        raw = _blocks_with_scales(kind, d, seed=bits)
        parts = _quantized(raw, int(kind), 2)
        assert parts["biases"].dtype == (np.float32 if widened else np.float16)
        assert np.isfinite(parts["biases"]).all()
        ref = dequantize(raw.reshape(2, -1), kind)  # llama.cpp's own, float32
        assert np.array_equal(_dense(parts, bits).astype(np.float32), ref)


def test_a_q8_0_file_with_large_scales_loads_exact_weights(tmp_path):
    """End to end through the reader (both its numpy path and, where built, the native one)."""
    import gguf
    from gguf.quants import dequantize

    from engine.gguf import read_gguf_contents

    kind = gguf.GGMLQuantizationType.Q8_0
    raw = _blocks_with_scales(kind, np.array([700.0, -1000.0, 2.0, 0.5] * 4, np.float32), seed=3)
    path = tmp_path / "big.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_tensor("blk.0.ffn_down.weight", raw.reshape(2, -1), raw_dtype=kind)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    ref = dequantize(raw.reshape(2, -1), kind)
    for float32_scales in (False, True):
        t = read_gguf_contents(path, float32_scales=float32_scales).tensors
        parts = {k.rsplit(".", 1)[-1]: np.array(v) for k, v in t.items()}
        assert np.array_equal(_dense(parts, 8).astype(np.float32), ref)
