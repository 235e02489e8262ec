"""Which exact weights a model file holds, known cheaply for multi-GB files.

A saved KV cache is only ever served to the weights it was computed with, so the prompt caches on
disk are keyed by the sha256 of the model's bytes. Hashing a multi-GB file takes seconds, so
`ModelHashes` remembers each file's digest in a small JSON file together with two checks, and
trusts the memo only while both still hold; otherwise the file is hashed again:

- its stamp (`FileStamp`): device, inode, size, mtime and ctime (ns). A file replaced in place by
  another of the same size with its timestamp kept (`cp -p`, unzip, a download renamed over it)
  keeps size and mtime, but not its ctime: ctime cannot be set from user space and moves on every
  write, rename or change of metadata (and a new file usually has a new inode as well).
- its fingerprint: the sha256 of 16 blocks of 64 KiB spread evenly over the file, the first and
  the last included (1 MiB read, milliseconds). It catches a replacement on file systems whose
  ctime or inode numbers cannot be trusted (FAT, some network and FUSE mounts): two different
  models of the same size differ in their header and in practically every block of weights.

The prompt caches are filed under `weights_identity`: that digest, how the engine holds the weights
(float32 expanded or as stored: the same file computes slightly different K/V either way) and the
engine build that computes K/V (its code and MLX's version). Any change gives a new folder, so a
cache computed another way is never served; the old folder is pruned in time.

And the file must still be the one that was loaded: `sha256(path, loaded=stamp)` raises
`ModelFileChanged` when the file's stamp differs from the one taken when the weights were read,
or changes while it is being hashed, so a digest never describes other weights than the ones in
memory.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from engine.default_model import sha256_of

log = logging.getLogger(__name__)

FINGERPRINT_BLOCKS = 16
FINGERPRINT_BLOCK_BYTES = 64 << 10


class ModelFileChanged(Exception):
    """The model file on disk is not (or no longer) the one whose weights are loaded."""


@dataclass(frozen=True)
class FileStamp:
    """What the file system says about a file that changes whenever its bytes may have changed."""

    dev: int
    ino: int
    size: int  # bytes
    mtime_ns: int
    ctime_ns: int

    @classmethod
    def of(cls, path: str | os.PathLike) -> FileStamp:
        """Raises OSError when the file cannot be read."""
        s = os.stat(path)
        return cls(s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns)


ModelStamp = tuple[tuple[str, FileStamp], ...]  # (file name, stamp) per file, sorted by name


def model_files(model_path: str | os.PathLike) -> list[Path]:
    """The file itself, or a model folder's files sorted by name."""
    model_path = Path(model_path).resolve()
    if not model_path.is_dir():
        return [model_path]
    return sorted(p for p in model_path.iterdir() if p.is_file())


def model_stamp(model_path: str | os.PathLike) -> ModelStamp:
    """The stamps of a model file, or of each file in a model folder. Raises OSError."""
    return tuple((p.name, FileStamp.of(p)) for p in model_files(model_path))


def fingerprint(path: str | os.PathLike, size: int) -> str:
    """sha256 of FINGERPRINT_BLOCKS blocks spread evenly over a file of `size` bytes (all of a
    small file)."""
    h = hashlib.sha256()
    block = FINGERPRINT_BLOCK_BYTES
    last = max(size - block, 0)
    offsets = sorted({last * i // (FINGERPRINT_BLOCKS - 1) for i in range(FINGERPRINT_BLOCKS)})
    with open(path, "rb") as f:
        for offset in offsets:
            f.seek(offset)
            h.update(f.read(block))
    return h.hexdigest()


class ModelHashes:
    """sha256 of model files, remembered in a small JSON file while stamp and fingerprint hold."""

    def __init__(self, path: Path):
        self.path = path
        self.computed = 0  # files hashed by this instance (the rest came from the JSON)

    def sha256(self, model_path: str | os.PathLike, loaded: ModelStamp | None = None) -> str:
        """The file's sha256; for a model folder, the sha256 of its files' names and hashes.

        With `loaded` (the model_stamp taken when the weights were read): raises ModelFileChanged
        when the files on disk are no longer those. Raises OSError when a file cannot be read.
        """
        before = model_stamp(model_path)
        if loaded is not None and before != loaded:
            raise ModelFileChanged(f"{model_path} changed on disk after it was loaded")
        files = model_files(model_path)
        digests = [self._file(path, stamp) for path, (_, stamp) in zip(files, before, strict=True)]
        if model_stamp(model_path) != before:
            raise ModelFileChanged(f"{model_path} changed on disk while it was being hashed")
        if not Path(model_path).resolve().is_dir():
            return digests[0]
        h = hashlib.sha256()
        for path, digest in zip(files, digests, strict=True):
            h.update(f"{path.name}\0{digest}\n".encode())
        return h.hexdigest()

    def _file(self, path: Path, stamp: FileStamp) -> str:
        known = self._load()
        key = str(path)
        sampled = fingerprint(path, stamp.size)
        entry = known.get(key)
        if isinstance(entry, dict) and entry.get("stamp") == asdict(stamp) and entry.get("fingerprint") == sampled:
            digest = entry.get("sha256")
            if isinstance(digest, str) and len(digest) == 64:
                return digest
        digest = sha256_of(path)
        self.computed += 1
        known[key] = {"stamp": asdict(stamp), "fingerprint": sampled, "sha256": digest}
        self._save(known)
        return digest

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, known: dict) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".hashes-", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(known, f, indent=1)
            os.replace(tmp, self.path)
        except OSError as e:  # only costs a re-hash next time
            log.warning("could not remember model hashes in %s: %s", self.path, e)


def weights_identity(file_sha256: str, held_as: str) -> str:
    """The key saved KV caches are filed under (hex sha256): the model's bytes, how the engine holds
    them (ModelInfo.held_as) and the engine build that computes K/V."""
    return hashlib.sha256(f"{file_sha256}\0{held_as}\0{engine_build()}".encode()).hexdigest()


@functools.cache
def engine_build() -> str:
    """sha256 of MLX's version and the engine's own code (its .py files and built extensions)."""
    import mlx.core as mx

    root = Path(__file__).parent
    h = hashlib.sha256(mx.__version__.encode())
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".so", ".pyd", ".dylib") and path.is_file():
            h.update(path.relative_to(root).as_posix().encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()
