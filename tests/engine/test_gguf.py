"""engine/gguf.py against MLX's own GGUF reader on the default model: the same tensors, bit for bit."""

from pathlib import Path

import mlx.core as mx
import numpy as np

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
