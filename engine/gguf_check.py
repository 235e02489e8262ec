"""A structural check of a GGUF file's header before MLX reads it.

MLX's GGUF reader trusts the counts and lengths in the header: a file with the right magic bytes
but a corrupt header can crash the whole process (a segmentation fault, not an exception). This
walks the header (metadata keys and values, tensor descriptions) with every length checked against
the file size, and raises GGUFError with a plain message instead.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path

# GGUF metadata value types -> fixed byte size (8 STRING and 9 ARRAY are variable)
_FIXED = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
_STRING, _ARRAY = 8, 9
_MAX_DIMS = 4  # GGML_MAX_DIMS
_MAX_TENSOR_TYPE = 64  # ggml's type ids are small; anything beyond is corruption
_VERSIONS = (2, 3)


class GGUFError(ValueError):
    pass


class _Reader:
    def __init__(self, buf, size: int):
        self.buf, self.size, self.pos = buf, size, 0

    def take(self, n: int, what: str) -> int:
        if n < 0 or self.pos + n > self.size:
            raise GGUFError(f"{what} extends past the end of the file (truncated or corrupt header)")
        start = self.pos
        self.pos += n
        return start

    def u32(self, what: str) -> int:
        return struct.unpack_from("<I", self.buf, self.take(4, what))[0]

    def u64(self, what: str) -> int:
        return struct.unpack_from("<Q", self.buf, self.take(8, what))[0]

    def string(self, what: str) -> bytes:
        n = self.u64(what)
        start = self.take(n, what)
        return bytes(self.buf[start : start + n])

    def value(self, kind: int, what: str, in_array: bool = False) -> None:
        if kind in _FIXED:
            self.take(_FIXED[kind], what)
        elif kind == _STRING:
            self.string(what)
        elif kind == _ARRAY and not in_array:
            item, count = self.u32(what), self.u64(what)
            if item in _FIXED:
                self.take(count * _FIXED[item], what)
            elif item == _STRING:
                for _ in range(count):
                    self.string(what)
            else:
                raise GGUFError(f"{what} is an array of unknown type {item}")
        else:
            raise GGUFError(f"{what} has unknown value type {kind}")


def check_gguf_header(path: Path) -> str | None:
    """Raise GGUFError if the header of the GGUF file at `path` is not structurally sound.

    Returns the file's `general.architecture` (None when absent), so that an unsupported model can
    be named before its tensors are read.
    """
    size = path.stat().st_size
    if size < 24:
        raise GGUFError("the file is too short to be a GGUF model")
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        r = _Reader(buf, size)
        if buf[:4] != b"GGUF":
            raise GGUFError("not a GGUF file (bad magic bytes)")
        r.take(4, "magic")
        version = r.u32("version")
        if version not in _VERSIONS:
            raise GGUFError(f"unsupported GGUF version {version} (supported: 2, 3)")
        n_tensors, n_kv = r.u64("tensor count"), r.u64("metadata count")
        # every entry needs at least a few bytes: huge counts are corruption, not a big model
        if n_tensors * 24 > size or n_kv * 12 > size:
            raise GGUFError("the header's tensor or metadata count is impossible for this file size")
        architecture = None
        for i in range(n_kv):
            key = r.string(f"metadata key {i}")
            kind = r.u32(f"metadata value {i}")
            if key == b"general.architecture" and kind == _STRING:
                architecture = r.string("general.architecture").decode("utf-8", errors="replace")
            else:
                r.value(kind, f"metadata value {i}")
        for i in range(n_tensors):
            r.string(f"tensor {i} name")
            n_dims = r.u32(f"tensor {i} dimensions")
            if not 1 <= n_dims <= _MAX_DIMS:
                raise GGUFError(f"tensor {i} claims {n_dims} dimensions")
            for _ in range(n_dims):
                r.u64(f"tensor {i} shape")
            if r.u32(f"tensor {i} type") >= _MAX_TENSOR_TYPE:
                raise GGUFError(f"tensor {i} has an unknown data type")
            if r.u64(f"tensor {i} offset") >= size:
                raise GGUFError(f"tensor {i} starts past the end of the file (truncated)")
        return architecture
