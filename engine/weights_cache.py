"""Converted GGUF weights kept on disk and mapped, so a model's second load reads no tensor at all.

Converting a GGUF file's blocks into MLX's layouts needs fresh memory for the whole model (~110 MB
for the default model), and on the VMs Glassbox is measured on, faulting fresh memory in costs more
than converting (~1 ms per MB: docs/benchmarks.md, "Load, cpu-5"). So the first load of a file
writes its converted arrays to one cache file, and later loads map that file
(`engine/_native/mapped_arrays.cpp`): the arrays' bytes stay in the page cache the file is already
in, shared, with nothing copied or zeroed.

A cache never changes an answer:
- An entry is found by its key, and holds it: the source file's stamp (device, inode, size, mtime,
  ctime) and fingerprint (`engine.model_identity`, as the prompt caches key a model), the reader's
  options, and the code that converts: the sources of the reader, the loader, this module, the
  architecture's file and its base, the native module's build key and MLX's version. Any change is
  another key, and the file is converted again.
- Every open checks the payload against its checksum (in C++, without the GIL; ~10 ms for the
  default model): a damaged entry is deleted and the file converted again.
- An entry is written under a temporary name and renamed into place, never changed in place (a
  mapped file that shrank under the process would crash it).

Where: `$GLASSBOX_WEIGHTS_CACHE` (a folder, or "off"), else `<models dir>/.converted`. At most
`max_bytes` in all (4 GiB), the least recently used entries deleted first; models whose arrays are
smaller than `min_bytes` (they load fast without) or larger than half of `max_bytes` are not kept.
An entry is about 1.2 times its GGUF file (scales and biases in float32), written once by the first
load (~0.1-0.2 s for the default model), on a thread of its own while the model is built and used
(`put_in_background`). Without Glassbox's native module there is no cache
(`WeightsCache.default()` is None).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import mlx.core as mx
import numpy as np

from engine import native
from engine.default_model import models_dir
from engine.model_identity import FileStamp, fingerprint

log = logging.getLogger(__name__)

ENV = "GLASSBOX_WEIGHTS_CACHE"
MAGIC = b"GBXWEIGH"
VERSION = 1
_HEADER = struct.Struct("<8sIIQQQQ")  # magic, version, reserved, index length, payload start, file size, checksum
_HEADER_BYTES = 64
_ALIGN = 64  # each array's data (its byte count in the 8 bytes before it, as MLX's CPU allocator has it)
_PAGE = 4096
_STALE_TEMP_S = 3600  # a temporary file this old is a writer that died
# the code whose output is cached, beside the architecture's own file
_ENGINE = Path(__file__).resolve().parent
_CONVERTING_SOURCES = ("gguf.py", "loading.py", "weights_cache.py", "models/base.py")
_DTYPES = {mx.uint32: "uint32", mx.float32: "float32", mx.float16: "float16", mx.bfloat16: "bfloat16",
           mx.int8: "int8", mx.uint8: "uint8", mx.int32: "int32"}


@dataclass(frozen=True)
class WeightsCache:
    folder: Path
    max_bytes: int = 4 << 30
    min_bytes: int = 16 << 20

    @classmethod
    def default(cls) -> WeightsCache | None:
        """The cache in `$GLASSBOX_WEIGHTS_CACHE` or the models dir; None when it is "off" or the
        native module (which maps the arrays) is not loaded."""
        setting = os.environ.get(ENV, "")
        if setting.lower() == "off" or native.loaded_module() is None:
            return None
        return cls(Path(setting).expanduser() if setting else models_dir() / ".converted")

    def key(self, source: Path, code_files: tuple[Path, ...], options: dict[str, object]) -> str:
        """The key of `source`'s arrays as converted by this code with `options` (hex sha256).
        `code_files`: the files besides the reader's own whose code shapes the arrays (the
        architecture's). Raises OSError when `source` cannot be read."""
        stamp = FileStamp.of(source)
        parts = {
            "stamp": [stamp.dev, stamp.ino, stamp.size, stamp.mtime_ns, stamp.ctime_ns],
            "fingerprint": fingerprint(source, stamp.size),
            "code": _code_identity(tuple(sorted(str(p) for p in code_files))),
            "options": options,
            "format": VERSION,
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()

    def path(self, key: str) -> Path:
        return self.folder / f"{key[:40]}.weights"

    def get(self, key: str) -> dict[str, mx.array] | None:
        """The arrays stored under `key`, mapped; None when there is no such entry, or when it is
        damaged (then it is deleted)."""
        path = self.path(key)
        try:
            with open(path, "rb") as f:
                magic, version, _, index_len, payload, size, checksum = _HEADER.unpack(f.read(_HEADER.size))
                if magic != MAGIC or version != VERSION:
                    raise ValueError("not a weights cache file of this version")
                f.seek(_HEADER_BYTES)
                index = json.loads(f.read(index_len))
            if index["key"] != key:
                raise ValueError("it holds another key")
            entries = index["arrays"]
            specs = [(offset, shape, dtype) for _, offset, shape, dtype in entries]
            arrays = native.loaded_module().map_arrays(str(path), size, payload, checksum, specs)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, struct.error) as e:  # damaged: convert again
            log.warning("converted-weights cache entry %s not used (%s); converting the model again", path.name, e)
            _remove(path)
            return None
        try:
            os.utime(path)  # recently used: pruned last
        except OSError:
            pass
        return {name: array for (name, *_), array in zip(entries, arrays, strict=True)}

    def put(self, key: str, arrays: dict[str, mx.array], _bytes_of: dict[str, mx.array] | None = None) -> Path | None:
        """Store evaluated `arrays` under `key` (unless they are smaller than `min_bytes`, or a
        dtype cannot be stored); the entry appears whole or not at all. Returns its path, or None.
        Never raises for the file system: a cache that cannot be written is only slower."""
        total = sum(a.nbytes for a in arrays.values())
        if not self.min_bytes <= total <= self.max_bytes // 2 or any(a.dtype not in _DTYPES for a in arrays.values()):
            return None  # small models load fast anyway; one model never takes more than half the room
        path = self.path(key)
        # one name per writer (process and thread): two writers of one key never share a file
        temp = self.folder / f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            _write(temp, key, arrays, _bytes_of or _bytes_views(arrays))
            self._prune(keep_free=temp.stat().st_size)
            os.replace(temp, path)
        except (OSError, ValueError) as e:
            log.warning("could not keep converted weights in %s (%s)", self.folder, e)
            _remove(temp)
            return None
        return path

    def put_in_background(self, key: str, arrays: dict[str, mx.array]) -> None:
        """`put(key, arrays)` on a thread of its own, so that a first load returns without waiting
        for its ~115 MB (the default model) to be written: the write is no part of the model being
        usable. The thread is not a daemon: a process that exits waits for the entry to be whole
        (`wait_for_writes` waits sooner). While an entry is being written its key is not written
        again by this process (a second load of the same file meanwhile converts, and keeps nothing
        twice). `arrays` must be evaluated and are not changed by the write (it holds references to
        them, so MLX never donates their memory while it reads it)."""
        arrays = dict(arrays)  # the caller's dict may change (a model's sanitize) while it is written
        views = _bytes_views(arrays)
        # nothing left for the writer's thread to compute: it only reads evaluated arrays' memory
        mx.eval(list(arrays.values()), list(views.values()))
        with _writing_lock:
            if key in _writing:
                return
            thread = threading.Thread(target=self._put_and_forget, args=(key, arrays, views),
                                      name="glassbox-weights-cache-write")
            _writing[key] = thread
        thread.start()

    def _put_and_forget(self, key: str, arrays: dict[str, mx.array], views: dict[str, mx.array]) -> None:
        try:
            self.put(key, arrays, views)
        except Exception:  # put never raises for the file system; anything else is only logged
            log.exception("could not keep converted weights in %s", self.folder)
        finally:
            with _writing_lock:
                _writing.pop(key, None)

    def _prune(self, keep_free: int) -> None:
        """Delete the least recently used entries until `keep_free` more bytes fit in max_bytes,
        and temporary files left by writers that died."""
        now = time.time()
        entries = []
        for p in self.folder.iterdir():
            try:
                st = p.stat()
            except OSError:
                continue
            if p.name.endswith(".tmp"):
                if now - st.st_mtime > _STALE_TEMP_S:
                    _remove(p)
            elif p.suffix == ".weights":
                entries.append((st.st_mtime, st.st_size, p))
        used = sum(size for _, size, _ in entries)
        for _, size, p in sorted(entries):
            if used + keep_free <= self.max_bytes:
                break
            _remove(p)  # a process that has it mapped keeps its pages
            used -= size


_writing: dict[str, threading.Thread] = {}  # key -> the thread writing its entry (put_in_background)
_writing_lock = threading.Lock()


def wait_for_writes(timeout: float | None = None) -> bool:
    """Wait until every entry this process is writing in the background is whole (or given up);
    False if `timeout` seconds passed first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        with _writing_lock:
            threads = list(_writing.values())
        if not threads:
            return True
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                return False


def _bytes_views(arrays: dict[str, mx.array]) -> dict[str, mx.array]:
    """The arrays whose bytes numpy reads through another dtype: bfloat16 as uint16 (numpy has no
    bfloat16); the others are read as they are."""
    return {name: a.view(mx.uint16) for name, a in arrays.items() if a.dtype == mx.bfloat16}


def _write(temp: Path, key: str, arrays: dict[str, mx.array], views: dict[str, mx.array]) -> None:
    """One entry: the fixed header, the JSON index, then each array at a 64-byte boundary with its
    byte count in the 8 bytes before it; the checksum of everything after the index goes last."""
    layout, offset = [], 0
    for name, a in arrays.items():
        offset = _align(offset + 8, _ALIGN)
        layout.append((name, offset, list(a.shape), _DTYPES[a.dtype]))
        offset += a.nbytes
    index = {"key": key, "arrays": layout}
    # the index holds offsets from the payload's start; rewritten below with file offsets
    index_len = len(json.dumps(index).encode()) + 32 * len(layout)  # room for the longer offsets
    payload = _align(_HEADER_BYTES + index_len, _PAGE)
    index["arrays"] = [(n, payload + o, s, d) for n, o, s, d in layout]
    text = json.dumps(index).encode()
    if len(text) > index_len:
        raise ValueError("weights cache index grew past its room")
    size = payload + offset
    with open(temp, "wb") as f:
        f.write(_HEADER.pack(MAGIC, VERSION, 0, len(text), payload, size, 0).ljust(_HEADER_BYTES, b"\0"))
        f.write(text)
        position = _HEADER_BYTES + len(text)
        for (name, at, _, _), a in zip(index["arrays"], arrays.values(), strict=True):
            f.write(b"\0" * (at - 8 - position))
            f.write(struct.pack("<Q", a.nbytes))
            data = views.get(name, a)
            f.write(memoryview(np.ascontiguousarray(np.asarray(data))).cast("B"))
            position = at + a.nbytes
        f.truncate(size)
    checksum = native.loaded_module().file_checksum(str(temp), payload)
    with open(temp, "r+b") as f:
        f.write(_HEADER.pack(MAGIC, VERSION, 0, len(text), payload, size, checksum))


def _align(n: int, to: int) -> int:
    return (n + to - 1) // to * to


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


@functools.cache
def _code_identity(extra: tuple[str, ...]) -> str:
    """sha256 over the converting code (this process's sources), the native build and MLX."""
    from engine._native import build

    h = hashlib.sha256()
    for path in [*(_ENGINE / name for name in _CONVERTING_SOURCES), *map(Path, extra)]:
        h.update(str(path.name).encode())
        h.update(path.read_bytes())
    h.update(build.build_key().encode())
    h.update(mx.__version__.encode())
    return h.hexdigest()
