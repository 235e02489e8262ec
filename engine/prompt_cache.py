"""Reuse of KV caches across turns and requests by longest shared token prefix.

The model is stateless: every request sends the whole conversation. A `PromptCache` keeps the KV
caches of recent requests keyed by exactly the tokens they hold, so the next request only
computes the tokens it does not share with one of them:

    caches, reused = pc.checkout(prompt_ids)
    for ev in generate(model, tok, prompt_ids, caches, ...): ...  # computes prompt_ids[reused:]
    pc.checkin((prompt_ids + generated_ids)[: caches[0].offset], caches)

Entries are bounded by count and by bytes (least recently used first out). Lookup scans the
entries for the longest common prefix; with the few entries held (tens at most) this answers
exactly what a token trie would, without a node per token. A caller never shares a mutable cache
with the pool: an entry that the prompt extends is handed out (removed); one that must be trimmed
is copied first, so the entry stays for the conversation it came from.

`DiskPromptCache` keeps entries across sessions as safetensors files that name the model file's
sha256 and the exact token ids they hold; a file that does not match, or cannot be read, is
ignored, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.cache import KVCache, cache_nbytes, load_cache, save_cache, trim_cache

log = logging.getLogger(__name__)

Caches = list[KVCache]
CacheFactory = Callable[[], Caches]

DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB: ~23,000 tokens of the default model's float32 cache


@dataclass(frozen=True)
class PromptCacheStats:
    """What one checkout saved: of `prompt_tokens`, `cached_tokens` came from the cache."""

    prompt_tokens: int
    cached_tokens: int

    @property
    def computed_tokens(self) -> int:
        return self.prompt_tokens - self.cached_tokens


@dataclass
class _Entry:
    tokens: np.ndarray  # int64 ids the caches hold, len == caches[0].offset
    caches: Caches
    nbytes: int


def common_prefix_length(a: np.ndarray, b: np.ndarray) -> int:
    """Length of the longest common prefix of two id arrays."""
    n = min(len(a), len(b))
    diff = np.flatnonzero(a[:n] != b[:n])
    return int(diff[0]) if len(diff) else n


def _kind(caches: Caches) -> tuple:
    """What must agree for caches to be interchangeable: each layer's class and its settings
    (window, bits); a model may mix kinds across layers (sliding-window layers). A quantized
    cache's group size follows from bits and the model's head size, so it is not compared (it is
    only known after the first update)."""
    return tuple((type(c).__name__, getattr(c, "max_size", None), getattr(c, "bits", None)) for c in caches)


def _trimmable(caches: Caches) -> bool:
    return all(c.is_trimmable() for c in caches)


class PromptCache:
    """KV caches of recent prompts, reused by longest shared token prefix (LRU-bounded)."""

    def __init__(
        self,
        cache_factory: CacheFactory,
        max_entries: int = 8,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ):
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("a prompt cache needs room for at least one entry and one byte")
        self.cache_factory = cache_factory
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._entries: OrderedDict[int, _Entry] = OrderedDict()  # oldest first
        self._next_id = 0
        self._kind = _kind(cache_factory())
        self.last_stats = PromptCacheStats(0, 0)

    # -- the two calls a worker makes per request -------------------------------------------

    def checkout(self, tokens: Sequence[int]) -> tuple[Caches, int]:
        """Caches holding the longest cached prefix of `tokens`, and that prefix's length.

        At least one token of `tokens` is always left to compute. The caller owns the returned
        caches; nothing else holds them. With no usable entry: fresh caches and 0.
        """
        if not tokens:
            raise ValueError("checkout needs at least one prompt token")
        want = np.asarray(tokens, dtype=np.int64)
        best_id, best_rank = None, (0, 0)
        for entry_id, entry in self._entries.items():
            # most tokens reused; between equals, the smallest entry (least to copy and trim)
            rank = (self._reusable(entry, want), -len(entry.tokens))
            if rank[0] > 0 and (best_id is None or rank > best_rank):
                best_id, best_rank = entry_id, rank
        best_reuse = best_rank[0]
        if best_id is None:
            self.last_stats = PromptCacheStats(len(want), 0)
            return self.cache_factory(), 0
        entry = self._entries[best_id]
        if common_prefix_length(entry.tokens, want) == len(entry.tokens):
            # The prompt extends this entry: the caller's checkin will store its successor.
            del self._entries[best_id]
            caches = entry.caches
        else:
            self._entries.move_to_end(best_id)
            caches = [c.copy() for c in entry.caches]
        trim_cache(caches, caches[0].offset - best_reuse)
        self.last_stats = PromptCacheStats(len(want), best_reuse)
        return caches, best_reuse

    def checkin(self, tokens_held: Sequence[int], caches: Caches) -> None:
        """Store `caches`, keyed by exactly the tokens they hold (len(tokens_held) == offset).

        Raises ValueError when the count differs from caches[0].offset (a caller's bug). Caches
        whose layers disagree (a request that failed inside the model) are dropped, not stored.
        """
        if not caches or len(tokens_held) != caches[0].offset:
            held = caches[0].offset if caches else 0
            raise ValueError(f"checkin: the caches hold {held} tokens but {len(tokens_held)} were given")
        if any(c.offset != caches[0].offset for c in caches):
            log.warning("prompt cache: dropping caches whose layers hold different token counts")
            return
        if not tokens_held or _kind(caches) != self._kind:
            return
        key = np.asarray(tokens_held, dtype=np.int64)
        if _trimmable(caches):
            # An entry whose tokens are a prefix of these is served as well by the new one.
            for entry_id in [i for i, e in self._entries.items() if _is_prefix(e.tokens, key)]:
                del self._entries[entry_id]
        self._entries[self._next_id] = _Entry(key, caches, cache_nbytes(caches))
        self._next_id += 1
        self._evict()

    # -- inspection and housekeeping --------------------------------------------------------

    def peek(self, tokens: Sequence[int]) -> Caches | None:
        """A copy of caches holding exactly `tokens` (to save to disk), or None if none can."""
        want = np.asarray(tokens, dtype=np.int64)
        for entry in reversed(self._entries.values()):
            held = len(entry.tokens)
            if not _is_prefix(want, entry.tokens) or (held > len(want) and not _trimmable(entry.caches)):
                continue
            caches = [c.copy() for c in entry.caches]
            trim_cache(caches, held - len(want))
            return caches
        return None

    def clear(self) -> None:
        """Forget every entry (the model or the cache kind changed)."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __bool__(self) -> bool:
        """Truthy even when empty: `if prompt_cache:` means "caching is on", not "has entries"."""
        return True

    @property
    def nbytes(self) -> int:
        return sum(e.nbytes for e in self._entries.values())

    def keys(self) -> list[list[int]]:
        """The token ids each entry holds, least recently used first."""
        return [e.tokens.tolist() for e in self._entries.values()]

    # -- internals --------------------------------------------------------------------------

    def _reusable(self, entry: _Entry, want: np.ndarray) -> int:
        """Tokens of `want` this entry can serve (0 if none), leaving one to compute."""
        if len(entry.tokens) == 0:
            return 0
        shared = common_prefix_length(entry.tokens, want)
        reuse = min(shared, len(want) - 1)
        if reuse < len(entry.tokens) and not _trimmable(entry.caches):
            return 0  # a rotating cache past its window only serves an exact prefix of the prompt
        return reuse

    def _evict(self) -> None:
        total = self.nbytes
        while self._entries and (len(self._entries) > self.max_entries or total > self.max_bytes):
            _, entry = self._entries.popitem(last=False)
            total -= entry.nbytes


def _is_prefix(short: np.ndarray, long: np.ndarray) -> bool:
    return len(short) <= len(long) and common_prefix_length(short, long) == len(short)


# -- disk ------------------------------------------------------------------------------------

_MODEL_KEY = "prompt_cache.model_sha256"
_TOKENS_KEY = "prompt_cache.tokens"
_DIGEST_KEY = "prompt_cache.tokens_sha256"


def _tokens_digest(model_sha256: str, tokens: Sequence[int]) -> str:
    h = hashlib.sha256(model_sha256.encode())
    h.update(np.asarray(tokens, dtype=np.int64).tobytes())
    return h.hexdigest()


def save_entry(path: str | os.PathLike, tokens: Sequence[int], caches: Caches, model_sha256: str) -> None:
    """Write caches holding exactly `tokens` to a safetensors file (atomically: tmp + rename)."""
    tokens = [int(t) for t in tokens]
    if any(c.offset != len(tokens) for c in caches):
        raise ValueError("save_entry: the caches do not hold exactly the given tokens")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.safetensors")
    meta = {
        _MODEL_KEY: model_sha256,
        _TOKENS_KEY: json.dumps(tokens),
        _DIGEST_KEY: _tokens_digest(model_sha256, tokens),
    }
    save_cache(str(tmp), caches, meta)
    os.replace(tmp, path)


def load_entry(
    path: str | os.PathLike, model_sha256: str, tokens: Sequence[int] | None = None
) -> tuple[list[int], Caches] | None:
    """(tokens, caches) from a file written by save_entry, or None if it cannot be trusted.

    Ignored (logged, None): a missing, truncated or corrupt file; another model's file; tokens
    that differ from `tokens` (when given) or from the file's own digest; caches that do not
    hold exactly the recorded tokens.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        caches, meta = load_cache(str(path))
        held = json.loads(meta[_TOKENS_KEY])
        problem = None
        if meta.get(_MODEL_KEY) != model_sha256:
            problem = "it was made with another model file"
        elif meta.get(_DIGEST_KEY) != _tokens_digest(model_sha256, held):
            problem = "its token ids do not match their digest"
        elif tokens is not None and list(held) != [int(t) for t in tokens]:
            problem = "it holds other tokens than the ones asked for"
        elif not caches or any(c.offset != len(held) for c in caches):
            problem = "its caches do not hold the recorded tokens"
        if problem:
            log.info("ignoring prompt cache file %s: %s", path, problem)
            return None
        return held, caches
    except Exception as e:  # noqa: BLE001 - any unreadable file is ignored, never trusted
        log.info("ignoring unreadable prompt cache file %s: %s", path, e)
        return None


class DiskPromptCache:
    """Prompt caches kept on disk for one model file: per conversation, and per exact prefix.

    Files live in `directory` (e.g. `<data dir>/prompt_cache`): `conv-<id>.safetensors` for a
    conversation's latest cache, `prefix-<digest>.safetensors` for a prefix such as the system
    prompt alone, named by the sha256 of the model hash and its token ids.
    """

    def __init__(self, directory: str | os.PathLike, model_sha256: str):
        self.directory = Path(directory)
        self.model_sha256 = model_sha256

    def conversation_path(self, conversation_id: str | int) -> Path:
        safe = hashlib.sha256(str(conversation_id).encode()).hexdigest()[:32]
        return self.directory / f"conv-{safe}.safetensors"

    def prefix_path(self, tokens: Sequence[int]) -> Path:
        return self.directory / f"prefix-{_tokens_digest(self.model_sha256, tokens)[:32]}.safetensors"

    def save_conversation(self, conversation_id: str | int, tokens: Sequence[int], caches: Caches) -> Path:
        """Keep the caches holding `tokens` as this conversation's cache (replacing the last)."""
        path = self.conversation_path(conversation_id)
        save_entry(path, tokens, caches, self.model_sha256)
        return path

    def load_conversation(self, conversation_id: str | int) -> tuple[list[int], Caches] | None:
        """(tokens, caches) saved for this conversation with this model, or None."""
        return load_entry(self.conversation_path(conversation_id), self.model_sha256)

    def forget_conversation(self, conversation_id: str | int) -> None:
        self.conversation_path(conversation_id).unlink(missing_ok=True)

    def save_prefix(self, tokens: Sequence[int], caches: Caches) -> Path:
        """Keep caches holding exactly `tokens` (e.g. the rendered system prompt alone)."""
        path = self.prefix_path(tokens)
        save_entry(path, tokens, caches, self.model_sha256)
        return path

    def load_prefix(self, tokens: Sequence[int]) -> Caches | None:
        """Caches holding exactly `tokens`, saved earlier with this model, or None."""
        found = load_entry(self.prefix_path(tokens), self.model_sha256, tokens)
        return found[1] if found else None
