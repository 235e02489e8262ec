"""A GGUF reader: metadata, tensor descriptions and tensors in MLX's layouts.

Why not `mx.load`: MLX's reader trusts every count and length in the header (a corrupt header can
crash the process, not raise), and it holds Python's GIL for the whole file (~150 ms here), which
froze the window's event loop while a model loaded in the worker thread. This reader checks every
length against the file size, parses metadata in Python and converts one tensor at a time, so the
GIL is released between steps.

Tensors come out as `mx.load` gives them: F32/F16/BF16 as such; Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0 as
MLX affine quantization (group 32, exactly the file's numbers): `<name>.weight` packed uint32,
`<name>.scales` and `<name>.biases` float16. Q4_K and Q5_K are affine per 32 values too (value =
d·sc·q − dmin·m, with 6-bit sc and m per 32): they come out in the same layout, exactly, with float32
scales and biases (d·sc and −dmin·m). Q6_K (d·sc·(q − 32) per 16 values) comes out exactly as 6-bit
codes in groups of 16 when the caller asks for the layouts Glassbox's CPU kernels read
(`kernel_layouts`; MLX's own operations take no 16-value groups). The other block formats (Q2_K,
Q3_K, Q6_K otherwise, IQ4_NL, IQ4_XS and whatever else llama.cpp's own `gguf` package can
dequantize) come out as float32, expanded by that package; `GGUFContents.types` says what each
tensor was stored as, so the loader can re-quantize them for Metal. Where the native module is
built, Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q5_K (and Q6_K into the kernels' layout) are converted in C++
without the GIL, bit for bit as the numpy code here does.

Errors: `GGUFCorrupt` for a file whose header or lengths are impossible or truncated,
`GGUFUnsupported` for a sound file holding a tensor kind this reader cannot convert.
"""

from __future__ import annotations

import functools
import math
import mmap
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mlx.core as mx
import numpy as np

from engine import native

# GGUF metadata value types -> struct format (8 STRING and 9 ARRAY are variable)
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?", 10: "<u8", 11: "<i8", 12: "<f8"}
_STRING, _ARRAY = 8, 9
_MAX_DIMS = 4  # GGML_MAX_DIMS
_VERSIONS = (2, 3)

# ggml tensor types converted here, exactly, to MLX's affine layout -> (name, block elements, bytes)
F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K, BF16 = 0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 30
TYPES = {F32: ("F32", 1, 4), F16: ("F16", 1, 2), Q4_0: ("Q4_0", 32, 18), Q4_1: ("Q4_1", 32, 20),
         Q5_0: ("Q5_0", 32, 22), Q5_1: ("Q5_1", 32, 24), Q8_0: ("Q8_0", 32, 34), BF16: ("BF16", 1, 2)}
_BLOCKS = {
    Q4_0: np.dtype([("d", "<f2"), ("qs", "u1", 16)]),
    Q4_1: np.dtype([("d", "<f2"), ("m", "<f2"), ("qs", "u1", 16)]),
    Q5_0: np.dtype([("d", "<f2"), ("qh", "<u4"), ("qs", "u1", 16)]),
    Q5_1: np.dtype([("d", "<f2"), ("m", "<f2"), ("qh", "<u4"), ("qs", "u1", 16)]),
    Q8_0: np.dtype([("d", "<f2"), ("qs", "i1", 32)]),
}
_BITS = {Q4_0: 4, Q4_1: 4, Q5_0: 5, Q5_1: 5, Q8_0: 8, Q4_K: 4, Q5_K: 5}
# K-quant super-blocks of 256 values, affine per 32: d, dmin (float16), 12 bytes of 6-bit scales
# and mins, Q5_K's fifth bits (32 bytes), then the low nibbles (128 bytes)
_K_BLOCKS = {
    Q4_K: np.dtype([("d", "<f2"), ("dmin", "<f2"), ("scales", "u1", 12), ("qs", "u1", 128)]),
    Q5_K: np.dtype([("d", "<f2"), ("dmin", "<f2"), ("scales", "u1", 12), ("qh", "u1", 32), ("qs", "u1", 128)]),
}
GROUP = 32
_K_NAMES = {Q4_K: "Q4_K", Q5_K: "Q5_K", Q6_K: "Q6_K"}
# Q6_K super-blocks: low nibbles (128 bytes), high bit pairs (64), int8 scales per 16 values, d
_Q6_K_BLOCK = np.dtype([("ql", "u1", 128), ("qh", "u1", 64), ("scales", "i1", 16), ("d", "<f2")])
Q6_K_GROUP = 16  # Q6_K as 6-bit affine codes in groups of 16: a layout only Glassbox's kernels read


@functools.cache
def _gguf_package_types() -> dict[int, tuple[str, int, int]]:
    """Block formats llama.cpp's `gguf` package can dequantize: type -> (name, block, bytes)."""
    from gguf import GGML_QUANT_SIZES, GGMLQuantizationType
    from gguf.quants import _type_traits

    return {
        int(t): (t.name, *GGML_QUANT_SIZES[t])
        for t in GGMLQuantizationType
        if t in _type_traits and int(t) not in TYPES and t in GGML_QUANT_SIZES
    }


def type_name(kind: int) -> str:
    """The ggml name of a tensor type ("Q4_K"), or "type N" for one llama.cpp does not define."""
    if kind in TYPES:
        return TYPES[kind][0]
    if kind in _K_NAMES:
        return _K_NAMES[kind]
    from gguf import GGMLQuantizationType  # ~0.1-0.5 s to import: only for the rare kinds

    try:
        return GGMLQuantizationType(kind).name
    except ValueError:
        return f"type {kind}"


def _layout(kind: int) -> tuple[str, int, int] | None:
    """(name, block elements, bytes per block) of a type this reader can convert, else None."""
    return TYPES.get(kind) or _gguf_package_types().get(kind)


class GGUFError(ValueError):
    """The file cannot be read (see the two kinds below)."""


class GGUFCorrupt(GGUFError):
    """The header or a length is impossible: the file is truncated or corrupt."""


class NotGGUF(GGUFCorrupt):
    """The file is not a GGUF file at all (it does not start with the magic "GGUF")."""


class GGUFTruncated(GGUFCorrupt):
    """A sound header whose tensors run past the end of the file: a cut copy."""


class GGUFUnsupported(GGUFError):
    """A sound file holding something this reader cannot convert (a tensor type, a version)."""


@dataclass
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # numpy order (outermost first)
    ggml_type: int
    offset: int  # from the start of the data section

    @property
    def n_elements(self) -> int:
        return math.prod(self.shape)

    @property
    def n_bytes(self) -> int:
        _, block, size = _layout(self.ggml_type)
        return self.n_elements // block * size

    @property
    def type_name(self) -> str:
        return type_name(self.ggml_type)


@dataclass
class GGUFContents:
    """A whole file: tensors as MLX arrays, metadata, and each tensor's stored type name."""

    tensors: dict[str, mx.array]
    metadata: dict[str, Any]
    types: dict[str, str]  # GGUF tensor name -> "Q4_K", "F32", ...
    groups: dict[str, int] = field(default_factory=dict)  # GGUF name -> group size, where not GROUP


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
            raise GGUFCorrupt(f"{what} extends past the end of the file (truncated or corrupt header)")
        start = self.pos
        self.pos += n
        return start

    def scalar(self, fmt: str, what: str):
        return struct.unpack_from(fmt, self.buf, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        n = self.scalar("<Q", what)
        start = self.take(n, what)
        return bytes(self.buf[start : start + n]).decode("utf-8", errors="replace")

    def _strings(self, count: int, what: str) -> list[str]:
        """`count` length-prefixed strings (a vocabulary: 262k for Gemma), in one tight loop (in
        C++ when Glassbox's native module is built: ~20x faster)."""
        lib = native.loaded_module()
        if lib is not None:
            try:
                out, self.pos = lib.gguf_strings(np.frombuffer(self.buf, np.uint8, self.size), self.pos, count)
            except ValueError:
                raise GGUFCorrupt(f"{what} extends past the end of the file (truncated or corrupt header)") from None
            return out
        buf, pos, size, out = self.buf, self.pos, self.size, []
        unpack = struct.Struct("<Q").unpack_from
        for _ in range(count):
            if pos + 8 > size:
                raise GGUFCorrupt(f"{what} extends past the end of the file (truncated or corrupt header)")
            (n,) = unpack(buf, pos)
            pos += 8
            if pos + n > size:
                raise GGUFCorrupt(f"{what} extends past the end of the file (truncated or corrupt header)")
            out.append(buf[pos : pos + n].decode("utf-8", errors="replace"))
            pos += n
        self.pos = pos
        return out

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
                    raise GGUFCorrupt(f"{what} claims more strings than the file can hold")
                return self._strings(count, what)
            raise GGUFCorrupt(f"{what} is an array of unknown type {item}")
        raise GGUFCorrupt(f"{what} has unknown value type {kind}")


def _read_header(buf, size: int) -> GGUFHeader:
    r = _Reader(buf, size)
    if size < 24 or bytes(buf[:4]) != b"GGUF":
        raise NotGGUF(_not_gguf(buf))
    r.take(4, "magic")
    version = r.scalar("<I", "version")
    if not 1 <= version <= 16:  # no such version exists: the bytes are not a GGUF header
        raise GGUFCorrupt(f"impossible GGUF version {version}")
    if version not in _VERSIONS:
        raise GGUFUnsupported(f"unsupported GGUF version {version} (supported: 2, 3)")
    n_tensors, n_kv = r.scalar("<Q", "tensor count"), r.scalar("<Q", "metadata count")
    if n_tensors * 24 > size or n_kv * 12 > size:  # each entry takes at least this many bytes
        raise GGUFCorrupt("the header's tensor or metadata count is impossible for this file size")
    metadata: dict[str, Any] = {}
    for i in range(n_kv):
        key = r.string(f"metadata key {i}")
        metadata[key] = r.value(r.scalar("<I", f"metadata value {i}"), f"metadata value {key!r}")
    tensors = []
    for i in range(n_tensors):
        name = r.string(f"tensor {i} name")
        n_dims = r.scalar("<I", f"tensor {name} dimensions")
        if not 1 <= n_dims <= _MAX_DIMS:
            raise GGUFCorrupt(f"tensor {name} claims {n_dims} dimensions")
        dims = [r.scalar("<Q", f"tensor {name} shape") for _ in range(n_dims)]
        kind = r.scalar("<I", f"tensor {name} type")
        offset = r.scalar("<Q", f"tensor {name} offset")
        tensors.append(TensorInfo(name, tuple(reversed(dims)), kind, offset))
    alignment = int(metadata.get("general.alignment", 32)) or 32
    data_offset = (r.pos + alignment - 1) // alignment * alignment
    header = GGUFHeader(version, metadata, tensors, data_offset)
    for t in tensors:
        layout = _layout(t.ggml_type)
        if layout is None:
            readable = ", ".join(sorted({v[0] for v in TYPES.values()} | {v[0] for v in _gguf_package_types().values()}))
            raise GGUFUnsupported(
                f"tensor {t.name} is stored as {t.type_name}, a kind Glassbox cannot read "
                f"(it reads {readable})"
            )
        if t.shape[-1] % layout[1]:
            raise GGUFCorrupt(f"tensor {t.name} has rows that are not whole {layout[0]} blocks")
        if data_offset + t.offset + t.n_bytes > size:
            need = max(data_offset + u.offset + u.n_bytes for u in tensors)
            raise GGUFTruncated(f"truncated: its header describes {need / 1e6:,.1f} MB of tensors, the file has "
                              f"{size / 1e6:,.1f} MB (tensor {t.name} is cut)")
    return header


def _not_gguf(buf) -> str:
    """Why a file is not read as GGUF, naming what it starts with instead of the magic "GGUF" (as
    text when its first bytes are printable ASCII, else in hex)."""
    first = bytes(buf[:4])
    if not first:
        return "not a GGUF file (it is empty)"
    shown = f'"{first.decode()}"' if all(32 <= b < 127 for b in first) else " ".join(f"{b:02x}" for b in first) + " in hex"
    return f'not a GGUF file (it starts with {shown}; a GGUF file starts with "GGUF")'


def _short_file(path: Path, size: int) -> GGUFCorrupt:
    """What a file shorter than any GGUF header (24 bytes) is: another kind of file, or a cut copy."""
    with open(path, "rb") as f:
        first = f.read(4)
    if first != b"GGUF"[: len(first)] or not first:
        return NotGGUF(_not_gguf(first))
    return GGUFTruncated(f"truncated: {size} bytes, shorter than a GGUF header (24 bytes)")


def read_header(path: Path) -> GGUFHeader:
    """The metadata and tensor descriptions, every length checked against the file size."""
    size = path.stat().st_size
    if size < 24:
        raise _short_file(path, size)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        return _read_header(buf, size)


def metadata_value(path: Path, key: str) -> Any | None:
    """One metadata value of a GGUF file (None when the file does not have `key`), reading the
    metadata only as far as that key: `general.*` keys come first in the files llama.cpp's tools
    write, so a licence is found without reading the vocabulary. GGUFError for a bad header."""
    size = path.stat().st_size
    if size < 24:
        raise _short_file(path, size)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        if bytes(buf[:4]) != b"GGUF":
            raise NotGGUF(_not_gguf(buf))
        r = _Reader(buf, size)
        r.take(4, "magic")
        if (version := r.scalar("<I", "version")) not in _VERSIONS:
            raise GGUFUnsupported(f"unsupported GGUF version {version} (supported: 2, 3)")
        r.scalar("<Q", "tensor count")
        for i in range(r.scalar("<Q", "metadata count")):
            found = r.string(f"metadata key {i}") == key
            value = r.value(r.scalar("<I", f"metadata value {i}"), f"metadata value {i}")
            if found:
                return value
    return None


def check_gguf_header(path: Path) -> str | None:
    """Raise GGUFError unless the header is sound; return `general.architecture` (or None)."""
    return read_header(path).metadata.get("general.architecture")


def pack_affine(q: np.ndarray, bits: int) -> np.ndarray:
    """Unsigned `bits`-bit integers (rows, n) -> MLX's packing: element i in bits [bits*i, bits*i +
    bits) of the row read as one little-endian bit stream, as uint32 words (rows, n * bits / 32).

    Eight elements fill exactly `bits` bytes: each run of eight is summed into one little-endian
    uint64 and its low `bits` bytes kept.
    """
    rows = q.shape[0]
    if bits == 8:
        return np.ascontiguousarray(q).view("<u4")
    if bits == 4:
        return (q[:, 0::2] | (q[:, 1::2] << 4)).astype(np.uint8).view("<u4")
    if bits == 5:  # eight values -> five bytes, in uint8 arithmetic (13x faster than the uint64 sums)
        v = [q[:, i::8].astype(np.uint8, copy=False) for i in range(8)]  # (rows, n/8) each
        out = np.empty((rows, q.shape[1] // 8, 5), np.uint8)
        out[..., 0] = v[0] | (v[1] << 5)
        out[..., 1] = (v[1] >> 3) | (v[2] << 2) | (v[3] << 7)
        out[..., 2] = (v[3] >> 1) | (v[4] << 4)
        out[..., 3] = (v[4] >> 4) | (v[5] << 1) | (v[6] << 6)
        out[..., 4] = (v[6] >> 2) | (v[7] << 3)
        return out.reshape(rows, -1).view("<u4")
    shifts = np.arange(0, 8 * bits, bits, dtype=np.uint64)
    words = (q.reshape(rows, -1, 8).astype(np.uint64) << shifts).sum(axis=-1, dtype=np.uint64)  # (rows, n/8)
    packed = words.astype("<u8").view(np.uint8).reshape(rows, -1, 8)[..., :bits]
    return np.ascontiguousarray(packed).reshape(rows, -1).view("<u4")


_LOW_NIBBLES, _HIGH_NIBBLES = np.uint64(0x000F000F000F000F), np.uint64(0x00F000F000F000F0)
_LOW_WORDS = np.uint64(0x0000FFFF0000FFFF)


def _q4_words(qs: np.ndarray, rows: int) -> np.ndarray:
    """Q4 nibbles (rows, blocks, 16) -> MLX's 4-bit words (rows, blocks * 4) uint32, by moving
    nibbles within each block: MLX's byte k holds elements 2k (low) and 2k + 1 (high), ggml's byte
    j elements j (low) and j + 16 (high). So MLX's bytes 0..7 are the low nibbles of ggml's byte
    pairs (2k, 2k + 1), bytes 8..15 their high nibbles.

    Done on 64-bit words (four byte pairs each, as 16-bit lanes), eight bytes per operation."""
    halves = np.ascontiguousarray(qs).view("<u8")  # (rows, blocks, 2): bytes 0..7 and 8..15

    def low(x):  # per lane: low nibble of the even byte | low nibble of the odd byte << 4
        return (x & _LOW_NIBBLES) | ((x >> np.uint64(4)) & _HIGH_NIBBLES)

    def high(x):
        return ((x >> np.uint64(4)) & _LOW_NIBBLES) | ((x >> np.uint64(8)) & _HIGH_NIBBLES)

    def pack(lanes):  # the low byte of each 16-bit lane, packed into the low 32 bits
        lanes = (lanes | (lanes >> np.uint64(8))) & _LOW_WORDS
        return (lanes | (lanes >> np.uint64(16))).astype(np.uint32)

    first, second = halves[..., 0], halves[..., 1]
    out = np.empty((*halves.shape[:-1], 4), np.uint32)
    out[..., 0], out[..., 1] = pack(low(first)), pack(low(second))
    out[..., 2], out[..., 3] = pack(high(first)), pack(high(second))
    return out.reshape(rows, -1)


_FLOAT16_MAX = 65504.0


def _offset_scales(d: np.ndarray, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """(scales, biases) of a block format with value = d * (q + offset): d and d * offset, computed
    in float32 (exact: |offset| is a power of two) and kept float16 as the file has them unless a
    bias leaves float16's range (|d| > 511.98 for Q8_0's -128), where both come out float32 —
    computed in float16 such a bias would be infinite."""
    biases = d.astype(np.float32) * np.float32(offset)
    if np.any(np.abs(biases[np.isfinite(biases)]) > _FLOAT16_MAX):
        return d.astype(np.float32), biases
    return d, biases.astype(np.float16)


def _quantized(raw: np.ndarray, kind: int, rows: int) -> dict[str, np.ndarray]:
    """ggml blocks -> MLX affine layout (group 32): value = scale * q + bias, q unsigned.

    Q4_0: d * (q - 8); Q4_1: d * q + m; Q5_0: d * (q - 16); Q5_1: d * q + m; Q8_0: d * q with q
    signed (stored here as q + 128). Q4/Q5: element j of a block in the low nibble of byte j,
    element j + 16 in the high one; Q5's fifth bit of element j is bit j of `qh`.
    """
    blocks = raw.view(_BLOCKS[kind]).reshape(rows, -1)  # (rows, blocks per row)
    d = blocks["d"]
    if kind == Q8_0:
        q = (blocks["qs"].view(np.uint8) ^ 0x80).reshape(rows, -1)  # int8 + 128, as unsigned
        scales, biases = _offset_scales(d, -128)
        return {"weight": q.view("<u4"), "scales": scales, "biases": biases}
    qs = blocks["qs"]
    if kind in (Q4_0, Q4_1):
        scales, biases = (d, blocks["m"]) if kind == Q4_1 else _offset_scales(d, -8)
        return {"weight": _q4_words(qs, rows), "scales": scales, "biases": biases}
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=-1)  # (rows, blocks, 32) in element order
    if kind in (Q5_0, Q5_1):
        qh = blocks["qh"].astype("<u4").view(np.uint8).reshape(*blocks.shape, 4)  # little-endian bytes
        high = np.unpackbits(qh, axis=-1, bitorder="little")  # (rows, blocks, 32): bit j of qh
        q = q | (high << 4)
    scales, biases = (d, blocks["m"]) if kind == Q5_1 else _offset_scales(d, -16)
    return {"weight": pack_affine(q.reshape(rows, -1), _BITS[kind]), "scales": scales, "biases": biases}


def _k_quantized(raw: np.ndarray, kind: int, rows: int) -> dict[str, np.ndarray]:
    """Q4_K / Q5_K super-blocks -> MLX affine layout (group 32), exactly: scale d·sc, bias −dmin·m.

    Within a super-block, values 64j..64j+31 are the low nibbles of qs[32j:32j+32] and values
    64j+32..64j+63 their high nibbles; Q5_K's fifth bit of value 32i+l is bit i of qh[l].
    """
    from gguf.quants import Q4_K as GGUF_Q4_K  # llama.cpp's own unpacking of the 6-bit scales

    blocks = raw.view(_K_BLOCKS[kind]).reshape(-1)  # (super-blocks,)
    n = blocks.shape[0]
    sc, m = GGUF_Q4_K.get_scale_min(blocks["scales"])  # (n, 8) each
    scales = blocks["d"].astype(np.float32)[:, None] * sc.astype(np.float32)  # (n, 8)
    biases = -(blocks["dmin"].astype(np.float32)[:, None] * m.astype(np.float32))  # (n, 8)
    qs = blocks["qs"].reshape(n, 4, 1, 32) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)
    q = (qs & 0x0F).reshape(n, 8, 32)  # (n, groups, 32) in value order
    if kind == Q5_K:
        high = blocks["qh"].reshape(n, 1, 32) >> np.arange(8, dtype=np.uint8).reshape(1, 8, 1)
        q = q | ((high & 1) << 4)
    return {
        "weight": pack_affine(q.reshape(rows, -1), _BITS[kind]),
        "scales": scales.reshape(rows, -1),
        "biases": biases.reshape(rows, -1),
    }


def _q6_k(raw: np.ndarray, rows: int) -> dict[str, np.ndarray]:
    """Q6_K super-blocks -> 6-bit affine codes in groups of 16, exactly: value = d·sc·(q − 32) with
    an int8 sc per 16 values, so scale d·sc (exact in float32: 11 × 8 significant bits) and bias
    −32·d·sc. Within each half (128 values) of a super-block, values 32i + l take the low or high
    nibble of ql[l] (i = 0, 2) or ql[32 + l] (i = 1, 3) and bits 2i, 2i + 1 of qh[l] on top."""
    blocks = raw.view(_Q6_K_BLOCK).reshape(-1)  # (super-blocks,)
    n = blocks.shape[0]
    ql = blocks["ql"].reshape(n, 2, 1, 64) >> np.array([0, 4], dtype=np.uint8).reshape(1, 1, 2, 1)
    low = (ql & 0x0F).reshape(n, 2, 128)  # per half: [ql[:32] & F, ql[32:] & F, ql[:32] >> 4, ql[32:] >> 4]
    qh = blocks["qh"].reshape(n, 2, 1, 32) >> np.array([0, 2, 4, 6], dtype=np.uint8).reshape(1, 1, 4, 1)
    q = low | ((qh & 3).reshape(n, 2, 128) << 4)  # (n, 2, 128) in value order
    scales = blocks["d"].astype(np.float32)[:, None] * blocks["scales"].astype(np.float32)  # (n, 16)
    return {
        "weight": pack_affine(q.reshape(rows, -1), 6),
        "scales": scales.reshape(rows, -1),
        "biases": (scales * np.float32(-32)).reshape(rows, -1),
    }


def _tensor(raw: np.ndarray, t: TensorInfo, kernel_layouts: bool = False) -> dict[str, np.ndarray]:
    """One tensor's bytes (t.n_bytes uint8) -> its arrays ("" for a plain one, else weight/scales/biases)."""
    if t.ggml_type == F32:
        return {"": raw.view("<f4").reshape(t.shape)}
    if t.ggml_type == F16:
        return {"": raw.view("<f2").reshape(t.shape)}
    if t.ggml_type == BF16:  # numpy has no bfloat16: widen to float32 exactly
        return {"": (raw.view("<u2").astype(np.uint32) << 16).view("<f4").reshape(t.shape)}
    rows = t.n_elements // t.shape[-1]
    lead = t.shape[:-1]
    if t.ggml_type in _K_BLOCKS:
        return {k: v.reshape(*lead, v.shape[-1]) for k, v in _k_quantized(raw, t.ggml_type, rows).items()}
    if t.ggml_type == Q6_K and kernel_layouts:
        return {k: v.reshape(*lead, v.shape[-1]) for k, v in _q6_k(raw, rows).items()}
    if t.ggml_type not in _BLOCKS:  # Q6_K, Q2_K, IQ4_*, ...: llama.cpp's own dequantization
        from gguf.quants import dequantize

        dense = dequantize(raw.reshape(rows, -1), t.ggml_type)  # (rows, row length) float32
        return {"": dense.astype(np.float32, copy=False).reshape(t.shape)}
    parts = _quantized(raw, t.ggml_type, rows)
    return {k: v.reshape(*lead, v.shape[-1]) for k, v in parts.items()}


Transform = Callable[[GGUFHeader, dict[str, mx.array]], dict[str, mx.array]]


def read_gguf(path: Path, check=None) -> tuple[dict[str, mx.array], dict[str, Any]]:
    """(tensors, metadata) like `mx.load(path, return_metadata=True)`, one tensor at a time."""
    contents = read_gguf_contents(path, check)
    return contents.tensors, contents.metadata


def read_gguf_contents(path: Path, check=None, *, float32_scales: bool = False, kernel_layouts: bool = False,
                       transform: Transform | None = None,
                       converted: Callable[[GGUFHeader], dict[str, mx.array] | None] | None = None) -> GGUFContents:
    """Every tensor converted (see the module docstring), the metadata and the stored types.

    `check(metadata)` runs before any tensor is converted (to refuse a model early). The tensors
    are read one at a time into one reused buffer (the file is never mapped whole, so its pages do
    not add to the process's memory) and converted into MLX arrays; with
    `transform(header, parts)` each tensor's parts ({file name: array}) are mapped and evaluated
    in batches of at most _PENDING_BYTES, so a conversion (a permutation, a rename) never holds a
    second copy of the model.
    `float32_scales`: quantization scales and biases widened to float32 (exactly) while reading.
    `kernel_layouts`: Q6_K kept exactly as 6-bit codes in groups of 16 (`Q6_K_GROUP`), which only
    Glassbox's CPU kernels read (MLX's own operations take groups of 32, 64 or 128), instead of
    expanded to float32; `GGUFContents.groups` names those tensors.
    `converted(header)`: the tensors this call would return (transformed), kept from an earlier
    conversion of the same file with the same options (engine/weights_cache.py), or None; asked
    after `check`, before any tensor is read.
    Raises GGUFCorrupt or GGUFUnsupported.
    """
    size = path.stat().st_size
    if size < 24:
        raise _short_file(path, size)
    with open(path, "rb") as f:
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            header = _read_header(buf, size)
        if check is not None:
            check(header.metadata)
        kept = converted(header) if converted is not None else None
        if kept is not None:
            return _contents(header, kept, kernel_layouts)
        tensors: dict[str, mx.array] = {}
        # one buffer for every tensor's bytes (each is copied or converted out of it before the
        # next is read): its pages are faulted in once, not once per tensor
        converted = _read_native(f, header, kernel_layouts) if float32_scales else {}
        rest = [t for t in header.tensors if t.name not in converted]
        scratch = np.empty(max((t.n_bytes for t in rest), default=0), np.uint8)
        pending: list[mx.array] = []  # transformed parts not evaluated yet
        pending_bytes = 0
        for t in header.tensors:
            parts = converted.pop(t.name, None) or _read_tensor(f, header, t, float32_scales, kernel_layouts, scratch)
            if transform is not None:
                read = {id(a) for a in parts.values()}
                parts = transform(header, parts)
                # a transformed part holds its source until evaluated: evaluate them in batches
                # (one evaluation costs a wake-up of MLX's thread, ~1-5 ms on a busy machine)
                changed = [a for a in parts.values() if id(a) not in read]
                pending += changed
                pending_bytes += sum(a.nbytes for a in changed)
                if pending_bytes > _PENDING_BYTES:
                    mx.eval(pending)
                    pending, pending_bytes = [], 0
            tensors.update(parts)
        mx.eval(pending)
    return _contents(header, tensors, kernel_layouts)


def _contents(header: GGUFHeader, tensors: dict[str, mx.array], kernel_layouts: bool) -> GGUFContents:
    types = {t.name: t.type_name for t in header.tensors}
    groups = {t.name: Q6_K_GROUP for t in header.tensors if kernel_layouts and t.ggml_type == Q6_K}
    return GGUFContents(tensors, header.metadata, types, groups)


# Transformed tensors held unevaluated (with their sources) at most: the model's memory during a
# load stays the model plus this much plus one tensor.
_PENDING_BYTES = 16 << 20
# what the native module converts (engine/_native/gguf_convert.cpp), bit for bit as the numpy
# reader does; Q6_K only into the kernels' layout (groups of 16)
_NATIVE_BLOCKS = (Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q5_K)


def _read_native(f, header: GGUFHeader, kernel_layouts: bool = False) -> dict[str, dict[str, mx.array]]:
    """The matrices Glassbox's native module converts (Q4_0, Q4_1, Q5_0, Q8_0, Q4_K, Q5_K, and
    Q6_K with `kernel_layouts`; float32 scales), read and converted in one call that does not hold
    Python's GIL (the loader builds the tokenizer meanwhile); {} without the module.
    {GGUF name: parts as `_read_tensor` names them}."""
    lib = native.loaded_module()
    kinds = _NATIVE_BLOCKS + ((Q6_K,) if kernel_layouts else ())
    chosen = [t for t in header.tensors if t.ggml_type in kinds and len(t.shape) == 2]
    if lib is None or not chosen:
        return {}
    specs = [(header.data_offset + t.offset, t.n_bytes, t.ggml_type, t.shape[0], t.shape[1]) for t in chosen]
    try:
        arrays = lib.read_blocks(f.fileno(), specs)
    except ValueError as e:  # the header was checked against the size: the file shrank
        raise GGUFCorrupt(f"a tensor extends past the end of the file (truncated while reading: {e})") from None
    out = {}
    for t, (w, scales, biases) in zip(chosen, arrays, strict=True):
        base = t.name.removesuffix(".weight")
        out[t.name] = {t.name: w, f"{base}.scales": scales, f"{base}.biases": biases}
    return out


def _read_tensor(f, header: GGUFHeader, t: TensorInfo, float32_scales: bool, kernel_layouts: bool,
                 scratch: np.ndarray) -> dict[str, mx.array]:
    """One tensor as MLX arrays named as in the file (`<base>.scales`/`.biases` for quantized parts),
    read through `scratch` (at least t.n_bytes uint8; nothing returned refers to it)."""
    raw = scratch[: t.n_bytes]
    f.seek(header.data_offset + t.offset)
    if f.readinto(raw) != t.n_bytes:  # the header was checked against the size: the file shrank
        raise GGUFCorrupt(f"tensor {t.name} extends past the end of the file (truncated while reading)")
    base = t.name.removesuffix(".weight")
    out = {}
    for part, array in _tensor(raw, t, kernel_layouts).items():
        if float32_scales and part in ("scales", "biases"):
            array = array.astype(np.float32, copy=False)  # float16 -> float32 is exact
        out[t.name if not part else f"{base}.{part}"] = mx.array(array)  # a copy; the numpy arrays go
    return out
