"""The backend seam: what the worker thread asks of a language model, and the real engine behind it.

The worker only knows `Backend.load(spec, report) -> Session` and `Session.stream(request, ...)`,
which yields plain token records (dicts of ids, strings and floats). Tests inject a fake backend;
the app injects `EngineBackend`. Everything here runs in the worker thread.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from app import paths
from app.cache_store import HASHES_FILE, PROMPT_CACHE_DIR, DiskLimits, ModelHashes, prune
from app.context import AssembledContext, ContextTooLong, assemble, system_content
from app.settings import KV_CACHE_KINDS, CacheConfig
from engine import default_model
from engine.cache import KVCache, make_cache, measure_bytes_per_token
from engine.generate import GenerationConfig, TokenEvent, generate
from engine.loading import ModelLoadError, load
from engine.prompt_cache import DiskPromptCache, PromptCache, common_prefix_length
from engine.sampling import SamplingSettings

log = logging.getLogger(__name__)

Report = Callable[[float, str], None]  # (progress 0..1, or -1 when unknown; what is happening)
StopFn = Callable[[], bool]
ProgressFn = Callable[[int, int], None]  # prompt tokens processed, total


class BackendError(Exception):
    """A request could not be served; the message is meant for the user."""


@dataclass(frozen=True)
class GenerateRequest:
    user_message: str
    sampling: SamplingSettings
    history: tuple[dict[str, str], ...] = ()  # earlier turns, oldest first
    system_prompt: str = ""
    memories: tuple[str, ...] = ()
    max_new_tokens: int = 512
    context_length: int = 0  # 0: the model's own
    top_report: int = 10  # alternatives reported per token
    conversation_id: str | None = None  # keys the prompt cache kept for this conversation
    cache: CacheConfig = field(default_factory=CacheConfig)  # KV cache kind and prompt cache bounds

    @property
    def messages(self) -> list[dict[str, str]]:
        """The whole conversation before any of it is left out to fit the context window."""
        system = system_content(self.system_prompt, self.memories)
        head = [{"role": "system", "content": system}] if system else []
        return [*head, *self.history, {"role": "user", "content": self.user_message}]


class Session(Protocol):
    info: dict[str, Any]

    def stream(self, request: GenerateRequest, should_stop: StopFn, progress: ProgressFn) -> Iterator[dict]:
        """Token records; the last one carries `finish_reason` and `stats` (its id may be None)."""
        ...

    def housekeeping(self) -> None:
        """Slow work kept off the reply's path; the worker calls it after a load or a reply is signalled."""
        ...

    def forget_conversation(self, conversation_id: str) -> None:
        """Drop what is kept for a deleted conversation (its cached tokens, its cache files)."""
        ...


class Backend(Protocol):
    def load(self, spec: str, report: Report) -> Session:
        """Load a model ("default", a GGUF file or a folder); raise BackendError with a clear message."""
        ...


def cache_factory(
    config: CacheConfig, n_layers: int, model_window: int | None = None
) -> Callable[[], list[KVCache]]:
    """Fresh per-layer caches of the configured kind.

    A model trained with sliding-window attention (`model_window`) attends only to that many
    positions: its plain cache is a rotating one of that window, and a rotating one never wider.
    """
    if config.kind == "rotating" or (config.kind == "plain" and model_window):
        windows = [w for w in (config.window if config.kind == "rotating" else None, model_window) if w]
        return lambda: make_cache(n_layers, "rotating", window=min(windows))
    if config.kind in ("quantized8", "quantized4"):
        bits = 8 if config.kind == "quantized8" else 4
        return lambda: make_cache(n_layers, "quantized", bits=bits)
    return lambda: make_cache(n_layers)


def kv_bytes_per_token(n_layers: int, n_kv_heads: int, head_dim: int) -> dict[str, int]:
    """Bytes one cached token costs per KV cache kind, measured on the engine's own cache objects."""
    costs = {}
    for kind in KV_CACHE_KINDS:
        layer = cache_factory(CacheConfig(kind=kind, window=2), 1)()[0]
        costs[kind] = measure_bytes_per_token(layer, n_kv_heads, head_dim) * n_layers
    return costs


class EngineSession:
    """A loaded engine model with its caches; serves one request at a time (the worker's).

    In memory, a PromptCache reuses the longest shared prefix across requests. On disk (when
    `disk_root` is given: `<data dir>/prompt-cache`), each conversation's cache is saved after its
    reply and loaded when a request for it finds nothing of it in memory (after a restart or an
    eviction); so is the system prompt alone, for a conversation's first request.
    """

    def __init__(
        self, lm, display_name: str, spec: str, disk_root: Path | None = None, limits: DiskLimits = DiskLimits()
    ):
        self.lm = lm
        self.disk: DiskPromptCache | None = None  # opened by the first housekeeping or request
        self._disk_root, self.limits = disk_root, limits
        self.config = CacheConfig()
        self.cache = self._new_cache(self.config)
        self._held: dict[str, np.ndarray] = {}  # conversation id -> tokens its memory entry holds
        self._unsaved: tuple[str | None, list[int], list[int]] | None = None  # (conversation, tokens, prefix)
        info = asdict(lm.info)
        info.pop("config", None)
        info.update(
            display_name=display_name, spec=spec, kv_bytes_per_token=lm.info.kv_bytes_per_token,
            kv_bytes_per_token_by_kind=kv_bytes_per_token(lm.info.n_layers, lm.info.n_kv_heads, lm.info.head_dim),
        )
        self.info = info

    def _new_cache(self, config: CacheConfig) -> PromptCache:
        factory = cache_factory(config, self.lm.info.n_layers, self.lm.info.sliding_window)
        return PromptCache(factory, config.max_entries, config.max_mb << 20)

    def configure(self, config: CacheConfig) -> None:
        """Use `config` from now on: another KV kind (or window) starts over with new caches."""
        kind = (config.kind, config.window if config.kind == "rotating" else None)
        if kind != (self.config.kind, self.config.window if self.config.kind == "rotating" else None):
            self.cache = self._new_cache(config)
            self._held.clear()
        else:  # the new bounds apply from this request's checkin on
            self.cache.max_entries, self.cache.max_bytes = config.max_entries, config.max_mb << 20
        self.config = config

    def stream(self, request: GenerateRequest, should_stop: StopFn, progress: ProgressFn) -> Iterator[dict]:
        tok = self.lm.tokenizer
        context = min(request.context_length or self.lm.info.context_length, self.lm.info.context_length)
        try:
            assembled = assemble(
                tok, request.system_prompt, request.memories, request.history, request.user_message,
                context_length=context, reserve=min(request.max_new_tokens, context // 2),
            )
        except ContextTooLong as e:
            raise BackendError(str(e)) from e
        self.configure(request.cache)
        self._open_disk()
        prompt_ids = assembled.prompt_ids
        prefix = self._system_prefix(assembled)
        in_memory = self._longest_in_memory(prompt_ids)
        use_disk = self.disk is not None and request.cache.on_disk
        if use_disk:
            self._load_from_disk(request.conversation_id, prompt_ids, prefix, in_memory)
        caches, reused = self.cache.checkout(prompt_ids)
        source = "disk" if reused > in_memory else "memory" if reused else "none"
        config = GenerationConfig(
            max_tokens=request.max_new_tokens, top_report=request.top_report, context_length=context
        )
        generated: list[int] = []
        try:
            events = generate(
                self.lm.model, tok, prompt_ids, caches, request.sampling, config,
                progress=progress, should_stop=should_stop,
            )
            for ev in events:
                if ev.token is not None:
                    generated.append(ev.token)
                record = token_record(ev, tok.piece)
                if ev.finish_reason is not None:
                    record["stats"] = finish_stats(ev, len(generated), context)
                    record["stats"]["dropped_messages"] = assembled.dropped_count
                    record["stats"]["cache_source"] = source
                    record["stats"]["kv_cache"] = request.cache.kind
                yield record
        finally:
            if caches and caches[0].offset:
                held = (prompt_ids + generated)[: caches[0].offset]
                self.cache.checkin(held, caches)
                if request.conversation_id is not None:
                    self._held[request.conversation_id] = np.asarray(held, dtype=np.int64)
                if use_disk:
                    self._unsaved = (request.conversation_id, held, prefix)

    def housekeeping(self) -> None:
        """Hash the model file once (after a load); save the last reply's caches to disk, then prune.

        Saved: the conversation's cache, and the system prompt alone the first time it is seen.
        """
        self._open_disk()
        if self._unsaved is None or self.disk is None:
            return
        conversation_id, held, prefix = self._unsaved
        self._unsaved = None
        try:
            if conversation_id is not None and (caches := self.cache.peek(held)) is not None:
                self.disk.save_conversation(conversation_id, held, caches)
            if prefix and not self.disk.prefix_path(prefix).exists() and (caches := self.cache.peek(prefix)):
                self.disk.save_prefix(prefix, caches)
            prune(self.disk.directory.parent, self.limits)
        except OSError as e:  # a full or read-only disk costs the reuse after a restart, nothing else
            log.warning("could not save the prompt cache: %s", e)

    def forget_conversation(self, conversation_id: str) -> None:
        """A deleted conversation's KV cache is of no use to anyone: remove its files (every model's)."""
        self._held.pop(conversation_id, None)
        if self.disk is None:
            return
        name = self.disk.conversation_path(conversation_id).name
        for path in self.disk.directory.parent.glob(f"*/{name}"):
            path.unlink(missing_ok=True)

    # -- internals --------------------------------------------------------------------------

    def _open_disk(self) -> None:
        """This model's folder under the disk root, named by the model file's sha256 (hashed once)."""
        if self._disk_root is None:
            return
        root, self._disk_root = self._disk_root, None
        try:
            sha = ModelHashes(root / HASHES_FILE).sha256(self.lm.info.path)
        except OSError as e:
            log.warning("prompt caches stay in memory: could not read %s: %s", self.lm.info.path, e)
            return
        self.disk = DiskPromptCache(root / sha, sha)

    def _system_prefix(self, assembled: AssembledContext) -> list[int]:
        """The prompt's leading system turn alone (shared by every conversation with this system prompt)."""
        head = assembled.messages[:1]
        if not head or head[0]["role"] != "system":
            return []
        ids = self.lm.tokenizer.encode_chat(head, add_generation_prompt=False)
        ok = 0 < len(ids) < len(assembled.prompt_ids) and assembled.prompt_ids[: len(ids)] == ids
        return ids if ok else []

    def _longest_in_memory(self, prompt_ids: list[int]) -> int:
        want = np.asarray(prompt_ids, dtype=np.int64)
        shared = (common_prefix_length(np.asarray(k, dtype=np.int64), want) for k in self.cache.keys())
        return min(max(shared, default=0), len(prompt_ids) - 1)

    def _memory_holds(self, conversation_id: str) -> bool:
        """Whether some memory entry still holds (at least) what this conversation's last reply left."""
        held = self._held.get(conversation_id)
        if held is None:
            return False
        return any(
            len(k) >= len(held) and common_prefix_length(np.asarray(k, dtype=np.int64), held) == len(held)
            for k in self.cache.keys()
        )

    def _load_from_disk(self, conversation_id: str | None, prompt_ids: list[int], prefix: list[int], in_memory: int):
        """Put a saved cache into memory when it serves more of this prompt than memory does."""
        assert self.disk is not None
        if conversation_id is not None and not self._memory_holds(conversation_id):
            found = self.disk.load_conversation(conversation_id)
            if found is not None:
                held, caches = found
                if min(common_prefix_length(np.asarray(held), np.asarray(prompt_ids)), len(prompt_ids) - 1) > in_memory:
                    self.cache.checkin(held, caches)  # dropped there if its kind is not the current one
                    return
        if len(prefix) > in_memory and (caches := self.disk.load_prefix(prefix)) is not None:
            self.cache.checkin(prefix, caches)


def token_record(ev: TokenEvent, piece: Callable[[int], str]) -> dict[str, Any]:
    """A TokenEvent as plain values, alternatives with their exact text."""
    return {
        "index": ev.index,
        "id": ev.token,
        "text": ev.text,
        "piece": ev.piece,
        "logprob": ev.logprob,
        "sampled_logprob": ev.sampled_logprob,
        "entropy": ev.entropy,
        "top_raw": [[i, piece(i), lp] for i, lp in ev.top_raw],
        "top_final": [[i, piece(i), lp] for i, lp in ev.top_final],
        "finish_reason": ev.finish_reason,
        "prompt_tokens": ev.prompt_tokens,
        "cached_tokens": ev.cached_tokens,
        "ttft_s": ev.ttft_s,
        "elapsed_s": ev.elapsed_s,
        "kv_bytes": ev.kv_bytes,
    }


def finish_stats(ev: TokenEvent, generated: int, context: int) -> dict[str, Any]:
    decode_s = ev.elapsed_s - ev.ttft_s
    return {
        "finish_reason": ev.finish_reason,
        "prompt_tokens": ev.prompt_tokens,
        "cached_tokens": ev.cached_tokens,
        "generated_tokens": generated,
        "ttft_s": ev.ttft_s,
        "elapsed_s": ev.elapsed_s,
        "tokens_per_s": (generated - 1) / decode_s if generated > 1 and decode_s > 0 else math.nan,
        "computed_tokens": ev.prompt_tokens - ev.cached_tokens,
        "kv_bytes": ev.kv_bytes,
        "context_used": ev.prompt_tokens + generated,
        "context_length": context,
    }


class EngineBackend:
    """The real engine: loads GGUF files and model folders with engine.loading.

    Prompt caches are kept on disk under `<data_dir>/prompt-cache/<model sha256>/` (the data dir
    from app.paths when none is given), within `limits`.
    """

    def __init__(self, data_dir: str | Path | None = None, limits: DiskLimits = DiskLimits()):
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.limits = limits

    def load(self, spec: str, report: Report) -> EngineSession:
        try:
            if spec == "default":
                if not default_model.is_present():
                    report(-1.0, "Downloading the default model…")
                path = default_model.fetch(log=lambda message: report(-1.0, message))
                name = default_model.DISPLAY_NAME
            else:
                path = Path(spec).expanduser()
                name = path.name
            report(0.1, f"Loading {name}…")
            lm = load(path)
        except (ModelLoadError, default_model.FetchError, OSError) as e:
            raise BackendError(str(e)) from e
        report(1.0, f"Loaded {name}")
        root = (self.data_dir or paths.data_dir()) / PROMPT_CACHE_DIR
        return EngineSession(lm, name, spec, root, self.limits)
