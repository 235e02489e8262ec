"""The backend seam: what the worker thread asks of a language model, and the real engine behind it.

The worker only knows `Backend.load(spec, report) -> Session` and `Session.stream(request, ...)`,
which yields the engine's `TokenEvent`s and, last, a `ReplyDone` with the reply's numbers. Tests inject a fake backend;
the app injects `EngineBackend`. Everything here runs in the worker thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from app import inspection, paths
from app.byte_sizes import MB
from app.context import (
    AssembledContext,
    ContextTooLong,
    PromptTooLong,
    assemble,
    assemble_raw,
    request_messages,
)
from app.failures import FailureKind
from app.model_names import display_name
from app.reply_numbers import numbers_at
from app.settings import KV_CACHE_KINDS, CacheConfig
from engine import default_model, runtime
from engine.cache import CachedToken, KVCache, trim_cache
from engine.device_errors import device_error
from engine.events import TokenEvent
from engine.generate import GenerationConfig, ProgressFn, generate
from engine.loading import ModelLoadError, load
from engine.model_identity import ModelFileChanged, ModelHashes, ModelStamp, model_stamp, weights_identity
from engine.prompt_cache import DiskPromptCache
from engine.prompt_cache_policy import DiskLimits, TieredPromptCache
from engine.sampling import SamplingSettings

log = logging.getLogger(__name__)

PROMPT_CACHE_DIR = "prompt-cache"  # under the data dir: one folder per model weights' identity
HASHES_FILE = "model-hashes.json"  # in PROMPT_CACHE_DIR: sha256 of the model files seen
PREFILL_STEP = 128  # prompt tokens per prefill chunk: Stop is heard between chunks, so a long prompt stops within one

Report = Callable[[float, str], None]  # (progress 0..1, or -1 when unknown; what is happening)
StopFn = Callable[[], bool]


class BackendError(Exception):
    """A request could not be served; the message is meant for the user, `kind` for the app."""

    def __init__(self, message: str, kind: FailureKind = FailureKind.BACKEND):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class ReplyDone:
    """The end of a reply, after its last TokenEvent: the numbers the status bar and store keep."""

    stats: dict[str, Any]


@dataclass(frozen=True)
class GenerateRequest:
    user_message: str
    sampling: SamplingSettings
    history: tuple[dict[str, str], ...] = ()  # earlier turns, oldest first
    system_prompt: str = ""
    memories: tuple[str, ...] = ()  # recalled for `user_message`, sent with it (app/context.py)
    # A reply asked before memories went with the user's message: they are in the system turn
    memories_in_system: bool = False
    max_new_tokens: int = 512
    context_length: int = 0  # 0: the model's own
    top_report: int = 10  # alternatives reported per token
    conversation_id: str | None = None  # keys the prompt cache kept for this conversation
    cache: CacheConfig = field(default_factory=CacheConfig)  # KV cache kind and prompt cache bounds
    stop_strings: tuple[str, ...] = ()  # the reply ends (reason "stop") where it would write one
    # Continue a reply: the token ids it already has. The prompt is the conversation up to the
    # user's message rendered with the template (ending in the assistant turn's opening), then
    # these ids as they were generated, with no end-of-turn marker: the model goes on writing.
    continue_ids: tuple[int, ...] = ()
    # Branch from an alternative: the first new token is this id (after `continue_ids`, the tokens
    # of the reply kept before that step), then the model goes on as usual
    force_token: int | None = None
    # A raw prompt (a base model's completion): this text is the whole prompt, encoded as plain
    # text with no chat template; `user_message`, `history`, `system_prompt` and `memories` are unused
    raw_prompt: str | None = None
    # Qwen 3-style templates' switch (None: not passed); given only to a template that reads it
    enable_thinking: bool | None = None

    @property
    def messages(self) -> list[dict[str, str]]:
        """The whole conversation before any of it is left out to fit the context window."""
        return request_messages(self.system_prompt, self.memories, self.history, self.user_message,
                                self.memories_in_system)


class Session(Protocol):
    info: dict[str, Any]

    def stream(
        self, request: GenerateRequest, should_stop: StopFn, progress: ProgressFn
    ) -> Iterator[TokenEvent | ReplyDone]:
        """TokenEvents; the last one carries `finish_reason` (its token may be None); then a ReplyDone."""
        ...

    def housekeeping(self) -> None:
        """Slow work kept off the reply's path; the worker calls it after a load or a reply is signalled."""
        ...

    def forget_conversation(self, conversation_id: str) -> None:
        """Drop what is kept for a deleted conversation (its cached tokens, its cache files)."""
        ...

    def count_tokens(self, text: str) -> int:
        """How many tokens `text` is as message text (special-token text stays plain)."""
        ...

    def inspect(self, request: Any, progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> dict | None:
        """The Inspector's numbers for an app.inspection request (raises BackendError/ValueError).
        A long one (a full attention map) reports `progress(done, total)` and returns None when
        `should_stop()` says so."""
        ...


class Backend(Protocol):
    def load(self, spec: str, report: Report) -> Session:
        """Load a model ("default", a GGUF file or a folder); raise BackendError with a clear message."""
        ...


def cache_factory(config: CacheConfig, model) -> Callable[[], list[KVCache]]:
    """Fresh per-layer caches of the configured kind, as the model's architecture lays them out
    (`model.make_cache`: a layer trained with a sliding window always gets a rotating cache of it)."""
    bits = {"quantized8": 8, "quantized4": 4}.get(config.kind, 8)
    kind = "quantized" if config.kind in ("quantized8", "quantized4") else config.kind
    window = config.window if config.kind == "rotating" else None
    return lambda: model.make_cache(kind, window=window, bits=bits)


def kv_bytes_per_token(token: CachedToken) -> dict[str, int]:
    """Bytes one cached token costs per KV cache kind (KV_CACHE_KINDS), from the architecture's
    own layout (`CachedToken`), measured on the engine's own cache objects. A kind the model's
    widths cannot use (a quantized cache needs widths divisible by 32) is left out."""
    costs = {}
    for kind in KV_CACHE_KINDS:
        try:
            costs[kind] = token.bytes("quantized" if kind.startswith("quantized") else kind, 4 if kind == "quantized4" else 8)
        except ValueError:
            continue
    return costs


class EngineSession:
    """A loaded engine model with its caches; serves one request at a time (the worker's).

    The prompt-cache policy (memory, then disk: per conversation and per system prompt) is the
    engine's `TieredPromptCache`; this class only feeds it the request's tokens. On disk (when
    `disk_root` is given: `<data dir>/prompt-cache`), the caches live in a folder named by the
    loaded weights' identity (see `_open_disk`).
    """

    def __init__(
        self, lm, display_name: str, spec: str, disk_root: Path | None = None, limits: DiskLimits = DiskLimits(),
        loaded_stamp: ModelStamp | None = None,
    ):
        self.lm = lm
        self._disk_root, self._loaded_stamp = disk_root, loaded_stamp
        self.config = CacheConfig()
        self.cache = TieredPromptCache(
            self._factory(self.config), self.config.max_entries, self.config.max_mb * MB,
            limits=limits, kind=_kind_key(self.config),
        )
        self._inspector = inspection.InspectorState()
        self._live: tuple[list[int], list[int], list[KVCache]] | None = None  # (prompt, generated, caches)
        info = asdict(lm.info)
        info.pop("config", None)
        token = info.pop("cached_token", None) and lm.info.cached_token
        info.update(
            display_name=display_name, spec=spec, kv_bytes_per_token=lm.info.kv_bytes_per_token,
            kv_bytes_per_token_by_kind=kv_bytes_per_token(token) if token else {},
            kv_formula=token.formula if token else None,
            kv_state_bytes=token.state_bytes if token else 0,  # recurrent layers' fixed memory (qwen3_next)
            template_options=sorted(lm.tokenizer.chat_template.options) if lm.tokenizer.chat_template else [],
            opens_thinking=bool(lm.tokenizer.chat_template and lm.tokenizer.chat_template.opens_thinking),
        )
        self.info = info

    def count_tokens(self, text: str) -> int:
        return len(self.lm.tokenizer.encode(text, add_bos=False))

    def _factory(self, config: CacheConfig) -> Callable[[], list[KVCache]]:
        return cache_factory(config, self.lm.model)

    def configure(self, config: CacheConfig) -> None:
        """Use `config` from now on: another KV kind (or window) starts over with new caches."""
        self.cache.configure(_kind_key(config), self._factory(config), config.max_entries, config.max_mb * MB)
        self.config = config

    def _assemble(self, request: GenerateRequest) -> tuple[AssembledContext, int]:
        """The prompt exactly as generation sends it, and the context length it was fitted to."""
        context = min(request.context_length or self.lm.info.context_length, self.lm.info.context_length)
        reserve = min(request.max_new_tokens, context // 2) + len(request.continue_ids)
        if request.raw_prompt is not None:
            try:
                return assemble_raw(self.lm.tokenizer, request.raw_prompt, context, reserve), context
            except PromptTooLong as e:
                raise BackendError(str(e), FailureKind.CONTEXT_TOO_LONG) from e
        try:
            assembled = assemble(
                self.lm.tokenizer, request.system_prompt, request.memories, request.history, request.user_message,
                context_length=context, reserve=reserve, memories_in_system=request.memories_in_system,
                options=None if request.enable_thinking is None else {"enable_thinking": request.enable_thinking},
            )
        except ContextTooLong as e:
            raise BackendError(str(e), FailureKind.CONTEXT_TOO_LONG) from e
        return assembled, context

    def inspect(self, request, progress: ProgressFn | None = None, should_stop: StopFn | None = None) -> dict | None:
        """The Inspector's numbers (app.inspection) for a Step, Map, Playground, Lookup or Analogy
        request. A step reuses a copy of cached KV holding the tokens before it (nothing before the
        step is recomputed); without one (after a restart) they are computed from the tokens. A map
        reports progress and stops (returning None) when `should_stop()` says so."""
        if isinstance(request, inspection.StepRequest):
            self.configure(request.generate.cache)
            assembled, _ = self._assemble(request.generate)
            return inspection.step_report(
                self.lm, self._inspector, assembled.prompt_ids, assembled.messages, request, self._peek, progress
            )
        if isinstance(request, inspection.MapRequest):
            return inspection.map_report(self.lm, self._inspector, request, progress, should_stop)
        handlers = {
            inspection.PlaygroundRequest: inspection.playground_report,
            inspection.LookupRequest: inspection.lookup_report,
            inspection.AnalogyRequest: inspection.analogy_report,
        }
        return handlers[type(request)](self.lm, self._inspector, request)

    def warm_up(self) -> Iterator[str]:
        """The Inspector's once-per-model tables, one piece per step (app.inspection.warm_up): the
        worker runs them when idle after a load, so the first inspection does not build them."""
        return inspection.warm_up(self.lm, self._inspector)

    def _peek(self, tokens: list[int]):
        """A copy of cached KV holding exactly `tokens`, or None (then the Inspector computes them
        from the tokens, as after a restart): from the reply streaming now (an inspection between
        two of its tokens), else from the in-memory prompt cache."""
        if not tokens:
            return None
        if self._live is not None:
            prompt, generated, caches = self._live
            held = prompt + generated
            offset = caches[0].offset if caches else 0
            if len(tokens) <= min(offset, len(held)) and held[: len(tokens)] == list(tokens):
                copies = [c.copy() for c in caches]
                if trim_cache(copies, offset - len(tokens)) == offset - len(tokens):
                    return copies
        return self.cache.memory.peek(tokens)

    def stream(
        self, request: GenerateRequest, should_stop: StopFn, progress: ProgressFn
    ) -> Iterator[TokenEvent | ReplyDone]:
        tok = self.lm.tokenizer
        assembled, context = self._assemble(request)
        self.configure(request.cache)
        self._open_disk()
        prompt_ids = assembled.prompt_ids + list(request.continue_ids)
        lease = self.cache.checkout(
            prompt_ids, request.conversation_id, self._system_prefix(assembled), request.cache.on_disk
        )
        config = GenerationConfig(
            max_tokens=request.max_new_tokens, top_report=request.top_report, context_length=context,
            stop_strings=request.stop_strings, force_first_token=request.force_token,
            written_ids=request.continue_ids,
            prefill_step=PREFILL_STEP,
        )
        generated: list[int] = []
        self._live = (prompt_ids, generated, lease.caches)  # the Inspector may read them between tokens
        failed = False
        try:
            events = generate(
                self.lm.model, tok, prompt_ids, lease.caches, request.sampling, config,
                progress=progress, should_stop=should_stop,
            )
            for ev in events:
                if ev.token is not None:
                    generated.append(ev.token)
                yield ev
                if ev.finish_reason is not None:
                    stats = finish_stats(ev, len(generated), context)
                    stats |= {"dropped_messages": assembled.dropped_count, "cache_source": lease.source}
                    stats["kv_cache"] = request.cache.kind
                    yield ReplyDone(stats)
        except Exception as e:
            failed = True  # the caches may hold a step half done: they are not kept
            if (failure := device_failure(e, "while writing the reply", OUT_OF_MEMORY_ADVICE)) is None:
                raise
            raise failure from e
        finally:
            self._live = None
            if not failed:
                self.cache.checkin(lease, generated)

    def housekeeping(self) -> None:
        """Hash the model file once (after a load); save the last reply's caches to disk, then prune."""
        self._open_disk()
        self.cache.save()

    def forget_conversation(self, conversation_id: str) -> None:
        """A deleted conversation's KV cache is of no use to anyone: remove its files (every model's)."""
        self.cache.forget_conversation(conversation_id)

    # -- internals --------------------------------------------------------------------------

    def _open_disk(self) -> None:
        """This model's folder under the disk root, named by the loaded weights' identity (hashed once).

        The identity is the model file's sha256 (remembered by ModelHashes while the file's stamp
        and fingerprint are unchanged, and only if the file is still the one loaded), with how the
        weights are held and the engine that computes K/V: a cache is only served to them.
        """
        if self._disk_root is None:
            return
        root, self._disk_root = self._disk_root, None
        try:
            sha = ModelHashes(root / HASHES_FILE).sha256(self.lm.info.path, loaded=self._loaded_stamp)
        except (OSError, ModelFileChanged) as e:
            log.warning("prompt caches stay in memory: could not identify %s: %s", self.lm.info.path, e)
            return
        key = weights_identity(sha, self.lm.info.held_as)
        self.cache.disk = DiskPromptCache(root / key, key)

    def _system_prefix(self, assembled: AssembledContext) -> list[int]:
        """The prompt's leading system turn alone (shared by every conversation with this system prompt)."""
        head = assembled.messages[:1]
        if not head or head[0]["role"] != "system":
            return []
        ids = self.lm.tokenizer.encode_chat(head, add_generation_prompt=False)
        ok = 0 < len(ids) < len(assembled.prompt_ids) and assembled.prompt_ids[: len(ids)] == ids
        return ids if ok else []


OUT_OF_MEMORY_ADVICE = "Try a shorter conversation, a quantized KV cache (Preferences → Cache) or a smaller model."
LOAD_OUT_OF_MEMORY_ADVICE = "Choose a smaller model, or close other apps."


def device_failure(e: Exception, what: str, advice: str) -> BackendError | None:
    """A failure of the device as a BackendError of kind OUT_OF_MEMORY (or DEVICE) saying what
    failed, `what` it was doing ("while …"), MLX's words and (out of memory) `advice`; MLX's freed buffers go back to the
    system so the next request has room. None for any other exception (a bug: raise it as it is)."""
    device = device_error(e)
    if device is None:
        return None
    runtime.release_cached_buffers()
    log.warning("%s: %s", what, device.detail)
    message = f"{device} {what} ({device.detail})." + (f" {advice}" if device.out_of_memory else "")
    return BackendError(message, FailureKind.OUT_OF_MEMORY if device.out_of_memory else FailureKind.DEVICE)


def _kind_key(config: CacheConfig) -> tuple:
    """What of the cache settings changes the caches' contents (the bounds do not)."""
    return (config.kind, config.window if config.kind == "rotating" else None)


def finish_stats(ev: TokenEvent, generated: int, context: int) -> dict[str, Any]:
    """A finished reply's numbers, each describing what happened: a reply stopped while its prompt
    was read computed only the tokens read (`computed_tokens` < prompt − cached) and has no first
    token time (None) when no token came."""
    return {"finish_reason": ev.finish_reason, **numbers_at(ev, generated, context)}


class EngineBackend:
    """The real engine: loads GGUF files and model folders with engine.loading.

    Prompt caches are kept on disk under `<data_dir>/prompt-cache/<model sha256>/` (the data dir
    from app.paths when none is given), within `limits`.
    """

    def __init__(self, data_dir: str | Path | None = None, limits: DiskLimits = DiskLimits()):
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.limits = limits
        runtime.bound_buffer_cache()  # freed buffers kept for reuse: bounded, not the whole RAM

    def load(self, spec: str, report: Report) -> EngineSession:
        runtime.release_cached_buffers()  # a model switched away from leaves its freed buffers here
        try:
            if spec == "default":
                if not default_model.is_present():
                    report(-1.0, "Downloading the default model…")
                path = default_model.fetch(log=lambda message: report(-1.0, message))
            else:
                path = Path(spec).expanduser()
            name = display_name(path)  # the one name every view shows
            report(0.1, f"Loading {name}…")
            stamp = model_stamp(path)  # before reading: the saved caches must be of these weights
            lm = load(path)
        except (ModelLoadError, default_model.FetchError, OSError) as e:
            raise BackendError(str(e)) from e
        except Exception as e:
            if (failure := device_failure(e, f"while loading {spec}", LOAD_OUT_OF_MEMORY_ADVICE)) is None:
                raise
            raise failure from e
        report(1.0, f"Loaded {name}")
        root = (self.data_dir or paths.data_dir()) / PROMPT_CACHE_DIR
        return EngineSession(lm, name, spec, root, self.limits, stamp)
