"""The native load path (engine/_native/gguf_convert.cpp, engine/gguf.py): GGUF string tables and
Q4_0 / Q4_1 / Q8_0 blocks converted in C++ give exactly what the numpy reader gives, the load
takes that path where the kernels are built, and a file that ends early is still named corrupt."""

from __future__ import annotations

import mmap

import mlx.core as mx
import numpy as np
import pytest

from engine import gguf, native
from engine.tokenizer import LazyTokenBytes, byte_level_bytes

needs_kernels = pytest.mark.skipif(not native.available(), reason="Glassbox's CPU kernels are not built here")


def _random_blocks(kind: int, rows: int, cols: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, rows * cols // 32 * gguf.TYPES[kind][2], dtype=np.uint8)
    blocks = raw.view(gguf._BLOCKS[kind])
    blocks["d"] = rng.uniform(-2, 2, blocks.shape).astype(np.float16)  # finite scales (random bits may be NaN)
    if "m" in blocks.dtype.names:
        blocks["m"] = rng.uniform(-2, 2, blocks.shape).astype(np.float16)
    special = np.array([0, 6e-8, -3e-5], np.float16)  # zero and float16 subnormals
    blocks["d"][: len(special)] = special[: blocks.shape[0]]
    return raw


@needs_kernels
@pytest.mark.parametrize("kind", [gguf.Q4_0, gguf.Q4_1, gguf.Q8_0])
@pytest.mark.parametrize("rows, cols", [(1, 32), (3, 96), (37, 576), (4099, 64)])
def test_native_block_conversion_is_bit_identical_to_numpy(kind, rows, cols):
    raw = _random_blocks(kind, rows, cols, seed=rows * 1000 + cols + kind)
    w, scales, biases = native.loaded_module().blocks_to_affine(raw, kind, rows, cols)
    ref = gguf._quantized(raw, kind, rows)
    assert w.dtype == mx.uint32 and scales.dtype == mx.float32 and biases.dtype == mx.float32
    assert np.array_equal(np.array(w), ref["weight"])
    assert np.array_equal(np.array(scales), ref["scales"].astype(np.float32))
    assert np.array_equal(np.array(biases), ref["biases"].astype(np.float32))


@needs_kernels
def test_native_block_conversion_refuses_a_wrong_size_or_kind():
    lib = native.loaded_module()
    raw = _random_blocks(gguf.Q4_1, 2, 64, seed=1)
    with pytest.raises(ValueError):
        lib.blocks_to_affine(raw[:-1], gguf.Q4_1, 2, 64)
    with pytest.raises(ValueError):
        lib.blocks_to_affine(raw, gguf.Q5_0, 2, 64)


@needs_kernels
def test_the_default_model_reads_natively_and_exactly_as_numpy(default_model_path):
    """Every natively converted tensor of the real file equals the numpy reader's, bit for bit."""
    header = gguf.read_header(default_model_path)
    with open(default_model_path, "rb") as f:
        converted = gguf._read_native(f, header)
        assert len(converted) == 211  # 210 Q4_1 matrices and the Q8_0 embedding
        scratch = np.empty(max(t.n_bytes for t in header.tensors), np.uint8)
        for t in header.tensors:
            if t.name not in converted:
                continue
            lib_parts = converted[t.name]
            f.seek(header.data_offset + t.offset)
            assert f.readinto(scratch[: t.n_bytes]) == t.n_bytes
            ref = gguf._quantized(scratch[: t.n_bytes], t.ggml_type, t.shape[0])  # the numpy reader
            base = t.name.removesuffix(".weight")
            assert np.array_equal(np.array(lib_parts[t.name]), ref["weight"]), t.name
            assert np.array_equal(np.array(lib_parts[f"{base}.scales"]), ref["scales"].astype(np.float32))
            assert np.array_equal(np.array(lib_parts[f"{base}.biases"]), ref["biases"].astype(np.float32))


@needs_kernels
def test_native_string_tables_equal_the_python_reader(default_model_path, monkeypatch):
    fast = gguf.read_header(default_model_path).metadata
    monkeypatch.setattr(native, "loaded_module", lambda: None)
    slow = gguf.read_header(default_model_path).metadata
    assert fast["tokenizer.ggml.tokens"] == slow["tokenizer.ggml.tokens"]
    assert fast["tokenizer.ggml.merges"] == slow["tokenizer.ggml.merges"]
    assert fast.keys() == slow.keys()


@needs_kernels
def test_native_strings_decode_bad_utf8_as_the_python_reader_and_refuse_truncation():
    lib = native.loaded_module()
    parts = [b"ab", b"\xff\xfe", "é".encode(), b""]
    buf = b"".join(len(p).to_bytes(8, "little") + p for p in parts)
    out, end = lib.gguf_strings(np.frombuffer(buf, np.uint8), 0, len(parts))
    assert out == [p.decode("utf-8", errors="replace") for p in parts] and end == len(buf)
    with pytest.raises(ValueError):
        lib.gguf_strings(np.frombuffer(buf[:-3], np.uint8), 0, len(parts))


@needs_kernels
def test_a_file_that_shrinks_after_its_header_is_read_is_corrupt(default_model_path, tmp_path):
    """The header was checked against the size; a file cut while the tensors are read is named
    corrupt (truncated), never read past its end."""
    path = tmp_path / "m.gguf"
    path.write_bytes(default_model_path.read_bytes())
    header = gguf.read_header(path)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)
    with open(path, "rb") as f, pytest.raises(gguf.GGUFCorrupt, match="truncated"):
        gguf._read_native(f, header)


def test_lazy_token_bytes_behave_as_the_list(default_model_path):
    with open(default_model_path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        tokens = gguf._read_header(buf, default_model_path.stat().st_size).metadata["tokenizer.ggml.tokens"]
    eager = [byte_level_bytes(t) for t in tokens]
    lazy = LazyTokenBytes(len(tokens), lambda i: byte_level_bytes(tokens[i]))
    assert len(lazy) == len(eager)
    assert lazy[-1] == eager[-1] and lazy[5:9] == eager[5:9] and lazy[100] == eager[100]
    with pytest.raises(IndexError):
        lazy[len(eager)]
    assert lazy == eager and list(lazy) == eager


def _random_k_blocks(kind: int, rows: int, cols: int, seed: int) -> np.ndarray:
    """Random super-blocks (every bit pattern of codes, 6-bit scales and mins) with finite d, dmin."""
    import gguf as ggml

    block, size = ggml.GGML_QUANT_SIZES[ggml.GGMLQuantizationType(kind)]
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, rows * cols // block * size, dtype=np.uint8)
    halves = rng.uniform(-2, 2, (raw.size // size, 2)).astype("<f2").view(np.uint8)
    if kind == gguf.Q6_K:  # d is the last two bytes
        raw.reshape(-1, size)[:, -2:] = halves[:, :2]
    else:  # d, dmin first
        raw.reshape(-1, size)[:, :4] = halves
    return raw


@needs_kernels
@pytest.mark.parametrize("kind", [gguf.Q5_0, gguf.Q4_K, gguf.Q5_K, gguf.Q6_K])
@pytest.mark.parametrize("rows, cols", [(1, 256), (3, 512), (37, 768)])
def test_native_conversion_of_q5_0_and_k_quants_is_bit_identical_to_numpy_and_to_gguf(kind, rows, cols):
    """C++ against the numpy reader (bit for bit) and both against llama.cpp's `gguf` package:
    the layout's values (scale * q + bias, in float64 then rounded once) equal its dequantization
    (exactly for Q5_0 and Q6_K; Q4_K/Q5_K's own d·q − dm rounds twice: within one float32 step)."""
    from gguf import GGMLQuantizationType
    from gguf.quants import dequantize

    raw = _random_k_blocks(kind, rows, cols, seed=rows + cols + kind) if kind != gguf.Q5_0 else \
        _random_blocks(kind, rows, cols, seed=rows + cols)
    t = gguf.TensorInfo("w", (rows, cols), kind, 0)
    ref = gguf._tensor(raw, t, kernel_layouts=True)
    w, scales, biases = native.loaded_module().blocks_to_affine(raw, kind, rows, cols)
    assert np.array_equal(np.array(w), ref["weight"])
    assert np.array_equal(np.array(scales), ref["scales"].astype(np.float32))
    assert np.array_equal(np.array(biases), ref["biases"].astype(np.float32))
    group = gguf.Q6_K_GROUP if kind == gguf.Q6_K else 32
    bits = {gguf.Q5_0: 5, gguf.Q4_K: 4, gguf.Q5_K: 5, gguf.Q6_K: 6}[kind]
    dense = np.array(native.dequantize(w, scales, biases, group, bits))  # one fused multiply-add each
    expected = dequantize(raw.reshape(rows, -1), GGMLQuantizationType(kind))
    if kind in (gguf.Q5_0, gguf.Q6_K):
        assert np.array_equal(dense, expected)
    else:
        assert np.all(np.abs(dense - expected) <= np.spacing(np.abs(expected).astype(np.float32)))


@needs_kernels
def test_a_large_tensor_is_read_in_chunks_not_through_a_copy_of_its_bytes(tmp_path):
    """The native reader converts a tensor a few MB of file bytes at a time: the process's peak
    grows by the converted arrays, not also by a buffer of the tensor's file bytes (Gemma 3's
    embedding is 178 MB of them). Measured in a fresh process (its peak resident size)."""
    import subprocess
    import sys
    import textwrap

    import gguf as ggml

    rows, cols = 8192, 4096  # 34 MB of Q8_0 blocks -> 40 MB of codes, scales and biases
    raw = _random_blocks(gguf.Q8_0, rows, cols, seed=5)
    path = tmp_path / "big.gguf"
    w = ggml.GGUFWriter(str(path), "llama")
    w.add_tensor("token_embd.weight", raw.reshape(rows, -1), raw_dtype=ggml.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    script = textwrap.dedent(f"""
        import pathlib, re, mlx.core as mx
        from engine import gguf
        def status(key):  # kB
            return int(re.search(key + r":\\s+(\\d+)", pathlib.Path("/proc/self/status").read_text()).group(1))
        header = gguf.read_header(pathlib.Path({str(path)!r}))
        pathlib.Path("/proc/self/clear_refs").write_text("5")  # the peak (VmHWM) starts again from here
        before = status("VmRSS")
        with open({str(path)!r}, "rb") as f:
            parts = gguf._read_native(f, header)["token_embd.weight"]
        mx.eval(list(parts.values()))
        print((status("VmHWM") - before) * 1024, sum(a.nbytes for a in parts.values()))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=".")
    grown, converted = map(int, out.stdout.split())
    assert converted == rows * cols + 2 * rows * cols // 32 * 4
    assert grown <= converted + 16 * 2**20, (grown / 2**20, converted / 2**20)  # not + 34 MB of file bytes
