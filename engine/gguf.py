"""A GGUF reader: metadata, tensor descriptions and tensors in MLX's layouts.

Why not `mx.load`: MLX's reader trusts every count and length in the header (a corrupt header can
crash the process, not raise), and it holds Python's GIL for the whole file (~150 ms here), which
froze the window's event loop while a model loaded in the worker thread. This reader checks every
length against the file size, parses metadata in Python and converts one tensor at a time, so the
GIL is released between steps.

Tensors come out as `mx.load` gives them: F32/F16/BF16 as such; Q4_0, Q4_1 and Q8_0 as MLX affine
quantization (group 32): `<name>.weight` packed uint32, `<name>.scales` and `<name>.biases` float16.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlx.core as mx
import numpy as np

# GGUF metadata value types -> struct format (8 STRING and 9 ARRAY are variable)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?", 10: "<u8", 11: "<i8", 12: "<f8"}
_STRING, _ARRAY = 8, 9
_MAX_DIMS = 4  # GGML_MAX_DIMS
_VERSIONS = (2, 3)

# ggml tensor types we can read -> (name, block size in elements, bytes per block)
F32, F16, Q4_0, Q4_1, Q8_0, BF16 = 0, 1, 2, 3, 8, 30
TYPES = {F32: ("F32", 1, 4), F16: ("F16", 1, 2), Q4_0: ("Q4_0", 32, 18), Q4_1: ("Q4_1", 32, 20),
         Q8_0: ("Q8_0", 32, 34), BF16: ("BF16", 1, 2)}
KNOWN_UNSUPPORTED = {6: "Q5_0", 7: "Q5_1", 10: "Q2_K", 11: "Q3_K", 12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K"}
_BLOCKS = {
    Q4_0: np.dtype([("d", "<f2"), ("qs", "u1", 16)]),
    Q4_1: np.dtype([("d", "<f2"), ("m", "<f2"), ("qs", "u1", 16)]),
    Q8_0: np.dtype([("d", "<f2"), ("qs", "i1", 32)]),
}
GROUP = 32


class GGUFError(ValueError):
    pass


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # numpy order (outermost first)
    ggml_type: int
    offset: int  # from the start of the data section

    @property
    def n_elements(self) -> int:
        return int(np.prod(self.shape))

    @property
    def n_bytes(self) -> int:
        _, block, size = TYPES[self.ggml_type]
        return self.n_elements // block * size


@dataclass
class GGUFHeader:
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo] = field(default_factory=list)
    data_offset: int = 0


class _Reader:
    """Reads little-endian values from a buffer, never past its end."""

    def __init__(self, buf, size: int):
        self.buf, self.size, self.pos = buf, size, 0

    def take(self, n: int, what: str) -> int:
        if n < 0 or self.pos + n > self.size:
            raise GGUFError(f"{what} extends past the end of the file (truncated or corrupt header)")
        start = self.pos
        self.pos += n
        return start

    def scalar(self, fmt: str, what: str):
        return struct.unpack_from(fmt, self.buf, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        n = self.scalar("<Q", what)
        start = self.take(n, what)
        return bytes(self.buf[start : start + n]).decode("utf-8", errors="replace")

    def value(self, kind: int, what: str):
        if kind in _SCALARS:
            return self.scalar(_SCALARS[kind], what)
        if kind == _STRING:
            return self.string(what)
        if kind == _ARRAY:
            item, count = self.scalar("<I", what), self.scalar("<Q", what)
            if item in _NUMPY:
                dtype = np.dtype(_NUMPY[item])
                start = self.take(count * dtype.itemsize, what)
                return np.frombuffer(self.buf, dtype, count, start).copy()
            if item == _STRING:
                if count * 8 > self.size - self.pos:
                    raise GGUFError(f"{what} claims more strings than the file can hold")
                return [self.string(what) for _ in range(count)]
            raise GGUFError(f"{what} is an array of unsupported type {item}")
        raise GGUFError(f"{what} has unknown value type {kind}")


def _read_header(buf, size: int) -> GGUFHeader:
    r = _Reader(buf, size)
    if size < 24 or bytes(buf[:4]) != b"GGUF":
        raise GGUFError("not a GGUF file (bad magic bytes)")
    r.take(4, "magic")
    version = r.scalar("<I", "version")
    if version not in _VERSIONS:
        raise GGUFError(f"unsupported GGUF version {version} (supported: 2, 3)")
    n_tensors, n_kv = r.scalar("<Q", "tensor count"), r.scalar("<Q", "metadata count")
    if n_tensors * 24 > size or n_kv * 12 > size:  # each entry takes at least this many bytes
        raise GGUFError("the header's tensor or metadata count is impossible for this file size")
    metadata: dict[str, Any] = {}
    for i in range(n_kv):
        key = r.string(f"metadata key {i}")
        metadata[key] = r.value(r.scalar("<I", f"metadata value {i}"), f"metadata value {key!r}")
    tensors = []
    for i in range(n_tensors):
        name = r.string(f"tensor {i} name")
        n_dims = r.scalar("<I", f"tensor {name} dimensions")
        if not 1 <= n_dims <= _MAX_DIMS:
            raise GGUFError(f"tensor {name} claims {n_dims} dimensions")
        dims = [r.scalar("<Q", f"tensor {name} shape") for _ in range(n_dims)]
        kind = r.scalar("<I", f"tensor {name} type")
        offset = r.scalar("<Q", f"tensor {name} offset")
        tensors.append(TensorInfo(name, tuple(reversed(dims)), kind, offset))
    alignment = int(metadata.get("general.alignment", 32)) or 32
    data_offset = (r.pos + alignment - 1) // alignment * alignment
    header = GGUFHeader(version, metadata, tensors, data_offset)
    for t in tensors:
        if t.ggml_type not in TYPES:
            name = KNOWN_UNSUPPORTED.get(t.ggml_type, f"type {t.ggml_type}")
            raise GGUFError(
                f"tensor {t.name} is {name}, which this reader cannot convert; "
                "use a Q4_0, Q4_1, Q8_0, F16 or F32 file"
            )
        if TYPES[t.ggml_type][1] > 1 and t.shape[-1] % GROUP:
            raise GGUFError(f"tensor {t.name} has rows that are not whole quantization blocks")
        if data_offset + t.offset + t.n_bytes > size:
            raise GGUFError(f"tensor {t.name} extends past the end of the file (truncated)")
    return header


def read_header(path: Path) -> GGUFHeader:
    """The metadata and tensor descriptions, every length checked against the file size."""
    size = path.stat().st_size
    if size < 24:
        raise GGUFError("the file is too short to be a GGUF model")
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        return _read_header(buf, size)


def check_gguf_header(path: Path) -> str | None:
    """Raise GGUFError unless the header is sound; return `general.architecture` (or None)."""
    return read_header(path).metadata.get("general.architecture")


def _quantized(raw: np.ndarray, kind: int, rows: int) -> dict[str, np.ndarray]:
    """ggml blocks -> MLX affine layout: element i of a row in bits 4i (or 8i) of its uint32 word."""
    blocks = raw.view(_BLOCKS[kind]).reshape(rows, -1)  # (rows, blocks per row)
    d = blocks["d"]
    if kind == Q8_0:
        q = (blocks["qs"].view(np.uint8) ^ 0x80).reshape(rows, -1)  # int8 + 128, as unsigned
        return {"weight": q.view("<u4"), "scales": d, "biases": d * np.float16(-128)}
    qs = blocks["qs"]  # ggml: element j in the low nibble of byte j, element j + 16 in the high one
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)  # (rows, blocks, 32) in element order
    packed = q[..., 0::2] | (q[..., 1::2] << 4)  # two elements a byte, the first in the low nibble
    bias = blocks["m"] if kind == Q4_1 else d * np.float16(-8)
    return {"weight": packed.reshape(rows, -1).view("<u4"), "scales": d, "biases": bias}


def _tensor(buf, header: GGUFHeader, t: TensorInfo) -> dict[str, np.ndarray]:
    start = header.data_offset + t.offset
    raw = np.frombuffer(buf, np.uint8, t.n_bytes, start)
    if t.ggml_type == F32:
        return {"": raw.view("<f4").reshape(t.shape)}
    if t.ggml_type == F16:
        return {"": raw.view("<f2").reshape(t.shape)}
    if t.ggml_type == BF16:  # numpy has no bfloat16: widen to float32 exactly
        return {"": (raw.view("<u2").astype(np.uint32) << 16).view("<f4").reshape(t.shape)}
    rows = t.n_elements // t.shape[-1]
    parts = _quantized(raw, t.ggml_type, rows)
    lead = t.shape[:-1]
    return {k: v.reshape(*lead, v.shape[-1]) for k, v in parts.items()}


def read_gguf(path: Path, check=None) -> tuple[dict[str, mx.array], dict[str, Any]]:
    """(tensors, metadata) like `mx.load(path, return_metadata=True)`, one tensor at a time.

    `check(metadata)` runs before any tensor is converted (to refuse a model early).
    """
    size = path.stat().st_size
    if size < 24:
        raise GGUFError("the file is too short to be a GGUF model")
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        header = _read_header(buf, size)
        if check is not None:
            check(header.metadata)
        tensors = _convert(buf, header)  # no numpy view of the map outlives this call
    return tensors, header.metadata


def _convert(buf, header: GGUFHeader) -> dict[str, mx.array]:
    tensors: dict[str, mx.array] = {}
    for t in header.tensors:
        base = t.name.removesuffix(".weight")
        for part, array in _tensor(buf, header, t).items():
            tensors[t.name if not part else f"{base}.{part}"] = mx.array(array)  # a copy
    return tensors
