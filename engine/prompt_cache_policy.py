"""The prompt-cache policy: which cached prefix serves a request, memory or disk, and what is kept.

The mechanism is in `engine/prompt_cache.py` (a `PromptCache` in memory, `DiskPromptCache` files);
this module decides how the two tiers work together, for any front end (the window's worker, an
HTTP server), with no Qt and no knowledge of settings files:

    tiers = TieredPromptCache(factory, max_entries, max_bytes, disk=DiskPromptCache(...))
    lease = tiers.checkout(prompt_ids, conversation_id, system_prefix_ids)
    for ev in generate(model, tok, prompt_ids, lease.caches, ...): ...
    tiers.checkin(lease, generated_ids)
    tiers.save()  # later, off the reply's path: to disk, then prune

- Memory first: the longest prefix any memory entry holds.
- Disk when it serves more: the conversation's own saved cache (unless memory still holds what its
  last reply left), else the system prompt alone (shared by every conversation that has it).
- Kept: every reply's caches in memory (LRU-bounded); on disk, the last reply's caches per
  conversation and each system prompt alone once, within `DiskLimits` (`prune`, newest first).
- A cache kind change (another KV kind, window or bits) starts over: entries of one kind never
  serve another.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.prompt_cache import (
    DEFAULT_MAX_BYTES,
    CacheFactory,
    Caches,
    DiskPromptCache,
    PromptCache,
    common_prefix_length,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DiskLimits:
    """The most the prompt caches may keep on disk (all models together)."""

    conversations: int = 32
    max_bytes: int = 2 << 30  # 2 GiB


@dataclass(frozen=True)
class Lease:
    """Caches checked out for one request: they hold `prompt[:reused]`; the caller owns them until
    `checkin`. `source` says where the reused prefix came from: "memory", "disk" or "none"."""

    caches: Caches
    reused: int
    source: str
    prompt: tuple[int, ...]
    conversation_id: str | None
    system_prefix: tuple[int, ...]
    save_to_disk: bool


class TieredPromptCache:
    """KV caches of recent requests in memory, and of conversations and system prompts on disk."""

    def __init__(
        self,
        cache_factory: CacheFactory,
        max_entries: int = 8,
        max_bytes: int = DEFAULT_MAX_BYTES,
        disk: DiskPromptCache | None = None,
        limits: DiskLimits = DiskLimits(),
        kind: Hashable = None,
    ):
        self.memory = PromptCache(cache_factory, max_entries, max_bytes)
        self.disk, self.limits, self.kind = disk, limits, kind
        self._held: dict[str, np.ndarray] = {}  # conversation id -> tokens its memory entry holds
        self._unsaved: tuple[str | None, tuple[int, ...], tuple[int, ...]] | None = None

    def configure(self, kind: Hashable, cache_factory: CacheFactory, max_entries: int, max_bytes: int) -> None:
        """Another `kind` (KV kind, window, bits) starts over with new caches; new bounds keep them."""
        if kind != self.kind:
            self.memory = PromptCache(cache_factory, max_entries, max_bytes)
            self._held.clear()
            self.kind = kind
        else:  # the new bounds apply from the next checkin on
            self.memory.max_entries, self.memory.max_bytes = max_entries, max_bytes

    # -- one request ----------------------------------------------------------------------------

    def checkout(
        self,
        prompt: Sequence[int],
        conversation_id: str | None = None,
        system_prefix: Sequence[int] = (),
        use_disk: bool = True,
    ) -> Lease:
        """Caches holding the longest cached prefix of `prompt` (one token is always left to compute).

        `system_prefix`: the prompt's leading system turn alone (empty if none), loaded from disk
        for a conversation's first request and saved after it. `use_disk` False keeps this request
        in memory only.
        """
        prompt = tuple(int(t) for t in prompt)
        in_memory = self._longest_in_memory(prompt)
        use_disk = use_disk and self.disk is not None
        if use_disk:
            self._load_from_disk(conversation_id, prompt, tuple(system_prefix), in_memory)
        caches, reused = self.memory.checkout(prompt)
        source = "disk" if reused > in_memory else "memory" if reused else "none"
        return Lease(caches, reused, source, prompt, conversation_id, tuple(system_prefix), use_disk)

    def checkin(self, lease: Lease, generated: Sequence[int]) -> None:
        """Keep the lease's caches, which now hold the prompt and (some of) `generated`."""
        caches = lease.caches
        if not caches or not caches[0].offset:
            return
        held = (lease.prompt + tuple(int(t) for t in generated))[: caches[0].offset]
        self.memory.checkin(held, caches)
        if lease.conversation_id is not None:
            self._held[lease.conversation_id] = np.asarray(held, dtype=np.int64)
        if lease.save_to_disk:
            self._unsaved = (lease.conversation_id, held, lease.system_prefix)

    def save(self) -> None:
        """Write the last reply's caches to disk (slow: call it off the reply's path), then prune.

        Saved: the conversation's cache, and the system prompt alone the first time it is seen. A
        full or read-only disk costs the reuse after a restart, nothing else (logged).
        """
        if self._unsaved is None or self.disk is None:
            return
        conversation_id, held, prefix = self._unsaved
        self._unsaved = None
        try:
            if conversation_id is not None and (caches := self.memory.peek(held)) is not None:
                self.disk.save_conversation(conversation_id, held, caches)
            if prefix and not self.disk.prefix_path(prefix).exists() and (caches := self.memory.peek(prefix)):
                self.disk.save_prefix(prefix, caches)
            prune(self.disk.directory.parent, self.limits)
        except OSError as e:
            log.warning("could not save the prompt cache: %s", e)

    def forget_conversation(self, conversation_id: str) -> None:
        """A deleted conversation's KV cache is of no use to anyone: remove its files (every model's)."""
        self._held.pop(conversation_id, None)
        if self.disk is None:
            return
        name = self.disk.conversation_path(conversation_id).name
        for path in self.disk.directory.parent.glob(f"*/{name}"):
            path.unlink(missing_ok=True)

    # -- internals ------------------------------------------------------------------------------

    def _longest_in_memory(self, prompt: Sequence[int]) -> int:
        want = np.asarray(prompt, dtype=np.int64)
        shared = (common_prefix_length(np.asarray(k, dtype=np.int64), want) for k in self.memory.keys())
        return min(max(shared, default=0), len(prompt) - 1)

    def _memory_holds(self, conversation_id: str) -> bool:
        """Whether some memory entry still holds (at least) what this conversation's last reply left."""
        held = self._held.get(conversation_id)
        if held is None:
            return False
        return any(
            len(k) >= len(held) and common_prefix_length(np.asarray(k, dtype=np.int64), held) == len(held)
            for k in self.memory.keys()
        )

    def _load_from_disk(
        self, conversation_id: str | None, prompt: tuple[int, ...], prefix: tuple[int, ...], in_memory: int
    ) -> None:
        """Put a saved cache into memory when it serves more of this prompt than memory does."""
        assert self.disk is not None
        if conversation_id is not None and not self._memory_holds(conversation_id):
            found = self.disk.load_conversation(conversation_id)
            if found is not None:
                held, caches = found
                shared = common_prefix_length(np.asarray(held, dtype=np.int64), np.asarray(prompt, dtype=np.int64))
                if min(shared, len(prompt) - 1) > in_memory:
                    self.memory.checkin(held, caches)  # dropped there if its kind is not the current one
                    return
        if len(prefix) > in_memory and (caches := self.disk.load_prefix(prefix)) is not None:
            self.memory.checkin(prefix, caches)


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
