"""Where the prompt caches live on disk, and how much of the disk they may take.

`<data dir>/prompt-cache/` holds one folder per model file, named by the file's sha256 (the
engine's DiskPromptCache writes and verifies the files in it), and `model-hashes.json`: the
sha256 of each model file seen, keyed by its path and trusted only while its size and mtime are
unchanged, so a known model is never hashed again at startup. `prune` keeps the newest
conversations within a count and a byte budget and deletes the rest.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from engine.default_model import sha256_of

log = logging.getLogger(__name__)

PROMPT_CACHE_DIR = "prompt-cache"
HASHES_FILE = "model-hashes.json"


@dataclass(frozen=True)
class DiskLimits:
    """The most the prompt caches may keep on disk (all models together)."""

    conversations: int = 32
    max_bytes: int = 2 << 30  # 2 GiB


class ModelHashes:
    """sha256 of model files, remembered by (path, size, mtime) in a small JSON file."""

    def __init__(self, path: Path):
        self.path = path
        self.computed = 0  # files hashed by this instance (the rest came from the JSON)

    def sha256(self, model_path: str | os.PathLike) -> str:
        """The file's sha256; for a model folder, the sha256 of its files' names and hashes."""
        model_path = Path(model_path).resolve()
        if not model_path.is_dir():
            return self._file(model_path)
        h = hashlib.sha256()
        for child in sorted(p for p in model_path.iterdir() if p.is_file()):
            h.update(f"{child.name}\0{self._file(child)}\n".encode())
        return h.hexdigest()

    def _file(self, path: Path) -> str:
        stat = path.stat()
        known = self._load()
        key = str(path)
        entry = known.get(key)
        if isinstance(entry, dict) and entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns:
            digest = entry.get("sha256")
            if isinstance(digest, str) and len(digest) == 64:
                return digest
        digest = sha256_of(path)
        self.computed += 1
        known[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": digest}
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


def prune(root: Path, limits: DiskLimits) -> list[Path]:
    """Delete the oldest cache files under `root` beyond the limits; returns what was deleted.

    Files are ranked newest first (by mtime); a conversation file counts against both limits, a
    prefix file (a system prompt alone, small) only against the bytes. Leftover temporary files of
    an interrupted save are deleted too.
    """
    files = []
    for path in root.glob("*/*.safetensors"):
        try:
            stat = path.stat()
        except OSError:
            continue
        files.append((stat.st_mtime_ns, stat.st_size, path))
    files.sort(key=lambda f: f[0], reverse=True)
    conversations = total = 0
    deleted = []
    for _, size, path in files:
        is_conversation = path.name.startswith("conv-")
        temporary = ".tmp." in path.name
        keep = not temporary and total + size <= limits.max_bytes
        if keep and is_conversation:
            keep = conversations < limits.conversations
        if keep:
            total += size
            conversations += is_conversation
            continue
        try:
            path.unlink()
            deleted.append(path)
        except OSError as e:
            log.warning("could not delete old prompt cache %s: %s", path, e)
    return deleted
