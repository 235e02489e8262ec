"""The backend's prompt cache with the real default model: reuse across turns, across restarts
(from disk), bad files ignored, and the KV cache kinds chosen in settings."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from types import SimpleNamespace

import numpy as np
import pytest

from app.backend import EngineSession, GenerateRequest
from app.byte_sizes import MB
from app.context import assemble
from app.settings import CacheConfig
from engine.cache import QuantizedKVCache, RotatingKVCache
from engine.model_identity import model_stamp
from engine.prompt_cache import common_prefix_length, load_entry, save_entry
from engine.sampling import SamplingSettings

SYSTEM = "You are a helpful assistant."
FIRST = "What is the capital of France?"
SECOND = "And what is the capital of Germany?"
GREEDY = SamplingSettings(temperature=0.0)


@dataclass
class Reply:
    ids: list[int]
    text: str
    stats: dict


def ask(
    session: EngineSession, message: str, history=(), conversation="c1", cache=CacheConfig(), max_new=12,
    sampling=GREEDY,
):
    request = GenerateRequest(
        message, sampling, tuple(history), SYSTEM, max_new_tokens=max_new, conversation_id=conversation, cache=cache
    )
    *tokens, done = session.stream(request, lambda: False, lambda done, total: None)
    ids = [t.token for t in tokens if t.token is not None]
    return Reply(ids, "".join(t.text for t in tokens), done.stats)


def history_after(first: Reply, question: str = FIRST) -> list[dict]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": first.text}]


def prompt_ids(lm, message: str, history) -> list[int]:
    return assemble(lm.tokenizer, SYSTEM, (), history, message, lm.info.context_length, 12).prompt_ids


def held_caches(session: EngineSession):
    (tokens,) = session.cache.memory.keys()
    return tokens, session.cache.memory.peek(tokens)


@pytest.fixture(scope="module")
def saved(default_lm, tmp_path_factory):
    """A first turn served with disk caching on and saved; and the second turn computed from scratch."""
    root = tmp_path_factory.mktemp("data") / "prompt-cache"
    session = EngineSession(default_lm, "default", "default", root)
    first = ask(session, FIRST)
    session.housekeeping()
    scratch = ask(EngineSession(default_lm, "default", "default"), SECOND, history_after(first))
    assert scratch.stats["cached_tokens"] == 0 and scratch.ids
    return root, first, scratch


def copy_of(root, tmp_path):
    target = tmp_path / "prompt-cache"
    shutil.copytree(root, target)
    return target


def test_second_turn_reuses_the_first_and_computes_only_what_is_new(default_lm, saved):
    _, _, scratch = saved
    session = EngineSession(default_lm, "default", "default")
    first = ask(session, FIRST)
    held, _ = held_caches(session)
    history = history_after(first)
    second_prompt = prompt_ids(default_lm, SECOND, history)

    second = ask(session, SECOND, history)

    expected = common_prefix_length(np.asarray(held), np.asarray(second_prompt))
    stats = second.stats
    assert stats["prompt_tokens"] == len(second_prompt)
    assert stats["cached_tokens"] == expected > first.stats["prompt_tokens"]  # the prompt and the reply
    assert stats["computed_tokens"] == len(second_prompt) - expected
    # the new turn only: everything after the first reply's end token (its newline included)
    first_turn = default_lm.tokenizer.encode_chat(
        [{"role": "system", "content": SYSTEM}, *history], add_generation_prompt=False
    )
    assert stats["computed_tokens"] <= len(second_prompt) - len(first_turn) + 1
    assert stats["cache_source"] == "memory"
    assert second.ids == scratch.ids


def test_with_a_repetition_penalty_regenerate_repeats_the_reply_and_a_cached_turn_equals_a_fresh_one(default_lm):
    """The reported case: greedy with repetition penalty 1.3. The penalty sees the whole prompt,
    whether most of it came from the cache or not."""
    penalised = SamplingSettings(temperature=0.0, repetition_penalty=1.3)
    session = EngineSession(default_lm, "default", "default")
    first = ask(session, FIRST, sampling=penalised)

    regenerated = ask(session, FIRST, sampling=penalised)
    history = history_after(first)
    second = ask(session, SECOND, history, sampling=penalised)
    scratch = ask(EngineSession(default_lm, "default", "default"), SECOND, history, sampling=penalised)

    assert regenerated.stats["cached_tokens"] == first.stats["prompt_tokens"] - 1
    assert regenerated.ids == first.ids
    assert second.stats["cached_tokens"] > first.stats["prompt_tokens"] and scratch.stats["cached_tokens"] == 0
    assert second.ids == scratch.ids


def test_a_restart_reuses_the_conversation_saved_on_disk(default_lm, saved, tmp_path):
    root, first, scratch = saved
    files = sorted(p.name.split("-")[0] for p in root.glob("*/*.safetensors"))
    assert files == ["conv", "prefix"]  # the conversation, and its system prompt alone
    restarted = EngineSession(default_lm, "default", "default", copy_of(root, tmp_path))

    second = ask(restarted, SECOND, history_after(first))

    assert second.stats["cache_source"] == "disk"
    assert second.stats["cached_tokens"] > first.stats["prompt_tokens"]
    assert second.ids == scratch.ids


def test_a_new_conversation_after_a_restart_reuses_the_saved_system_prompt(default_lm, saved, tmp_path):
    root, first, _ = saved
    restarted = EngineSession(default_lm, "default", "default", copy_of(root, tmp_path))
    system_only = default_lm.tokenizer.encode_chat([{"role": "system", "content": SYSTEM}], add_generation_prompt=False)

    reply = ask(restarted, FIRST, conversation="another")

    assert reply.stats["cache_source"] == "disk"
    assert reply.stats["cached_tokens"] == len(system_only)
    assert reply.ids == first.ids


def test_a_corrupt_conversation_file_is_ignored(default_lm, saved, tmp_path):
    root, first, scratch = saved
    root = copy_of(root, tmp_path)
    (conversation_file,) = root.glob("*/conv-*.safetensors")
    data = conversation_file.read_bytes()
    conversation_file.write_bytes(data[: len(data) // 2])  # truncated, as by a crash mid-write
    restarted = EngineSession(default_lm, "default", "default", root)
    system_only = default_lm.tokenizer.encode_chat([{"role": "system", "content": SYSTEM}], add_generation_prompt=False)

    second = ask(restarted, SECOND, history_after(first))

    assert second.stats["cached_tokens"] == len(system_only)  # only the intact system-prompt file
    assert second.ids == scratch.ids


def test_a_file_made_with_another_model_is_ignored(default_lm, saved, tmp_path):
    root, first, scratch = saved
    root = copy_of(root, tmp_path)
    (conversation_file,) = root.glob("*/conv-*.safetensors")
    model_sha = conversation_file.parent.name
    tokens, caches = load_entry(conversation_file, model_sha)
    save_entry(conversation_file, tokens, caches, "0" * 64)  # same tokens, another model's file
    for prefix_file in root.glob("*/prefix-*.safetensors"):
        prefix_file.unlink()
    restarted = EngineSession(default_lm, "default", "default", root)

    second = ask(restarted, SECOND, history_after(first))

    assert second.stats["cached_tokens"] == 0 and second.stats["cache_source"] == "none"
    assert second.ids == scratch.ids


def test_a_stale_file_serves_only_the_prefix_it_shares(default_lm, saved, tmp_path):
    root, first, _ = saved
    root = copy_of(root, tmp_path)
    (conversation_file,) = root.glob("*/conv-*.safetensors")
    session = EngineSession(default_lm, "default", "default", root)
    session.housekeeping()  # opens this model's folder
    shutil.copy(conversation_file, session.cache.disk.conversation_path("edited"))  # c1's, not this prompt's
    for prefix_file in root.glob("*/prefix-*.safetensors"):
        prefix_file.unlink()
    question = "Tell me a joke."
    stale, _ = load_entry(conversation_file, conversation_file.parent.name)
    prompt = prompt_ids(default_lm, question, [])

    reply = ask(session, question, conversation="edited")

    shared = common_prefix_length(np.asarray(stale), np.asarray(prompt))
    assert 0 < shared < len(stale)
    assert reply.stats["cached_tokens"] == shared and reply.stats["cache_source"] == "disk"
    assert reply.ids == ask(EngineSession(default_lm, "default", "default"), question).ids


def test_quantized_8_bit_from_settings_makes_quantized_caches(default_lm):
    session = EngineSession(default_lm, "default", "default")
    ask(session, FIRST)  # plain caches
    quantized = CacheConfig(kind="quantized8")

    first = ask(session, FIRST, cache=quantized)

    assert first.stats["cached_tokens"] == 0  # the plain entry is not reused for another kind
    assert first.stats["kv_cache"] == "quantized8" and first.text.strip()
    tokens, caches = held_caches(session)
    assert all(isinstance(c, QuantizedKVCache) and c.bits == 8 for c in caches)
    second = ask(session, SECOND, history_after(first), cache=quantized)
    assert second.stats["cached_tokens"] > first.stats["prompt_tokens"] and second.text.strip()
    assert len(tokens) * session.info["kv_bytes_per_token_by_kind"]["quantized8"] == sum(c.nbytes for c in caches)


def test_plain_caches_saved_on_disk_are_not_reused_by_a_quantized_session(default_lm, saved, tmp_path):
    root, first, _ = saved
    restarted = EngineSession(default_lm, "default", "default", copy_of(root, tmp_path))

    second = ask(restarted, SECOND, history_after(first), cache=CacheConfig(kind="quantized4"))

    assert second.stats["cached_tokens"] == 0 and second.ids


def test_rotating_window_serves_a_conversation_longer_than_the_window(default_lm):
    window = 256
    rotating = CacheConfig(kind="rotating", window=window)
    long_message = "Here are my notes. " + " ".join(f"Item {i} is a small blue box." for i in range(70))
    session = EngineSession(default_lm, "default", "default")

    first = ask(session, long_message + " What colour are the boxes?", cache=rotating, max_new=8)
    history = history_after(first, long_message + " What colour are the boxes?")
    second = ask(session, "Thanks. How many items were there?", history, cache=rotating, max_new=8)

    assert first.stats["prompt_tokens"] > window
    assert second.stats["cached_tokens"] > window and second.text.strip()
    tokens, caches = held_caches(session)
    assert all(isinstance(c, RotatingKVCache) for c in caches)
    per_token = session.info["kv_bytes_per_token_by_kind"]["rotating"]
    assert len(tokens) > 2 * window and sum(c.nbytes for c in caches) <= 2 * window * per_token


def test_a_kind_change_starts_new_caches_but_new_bounds_keep_them(default_lm):
    session = EngineSession(default_lm, "default", "default")
    ask(session, FIRST)
    session.configure(CacheConfig(max_entries=3, max_mb=64))
    assert len(session.cache.memory) == 1 and session.cache.memory.max_bytes == 64 * MB  # decimal MB, as every size is shown
    session.configure(CacheConfig(kind="rotating", window=512))
    assert len(session.cache.memory) == 0


def test_forgetting_a_deleted_conversation_removes_its_cache_file(default_lm, saved, tmp_path):
    root, first, scratch = saved
    session = EngineSession(default_lm, "default", "default", copy_of(root, tmp_path))
    session.housekeeping()  # opens this model's cache folder
    conversation_file = session.cache.disk.conversation_path("c1")
    assert conversation_file.exists()

    session.forget_conversation("c1")

    assert not conversation_file.exists()
    # the system prompt's cache is shared with other conversations: it stays
    assert sorted(p.name.split("-")[0] for p in session.cache.disk.directory.glob("*.safetensors")) == ["prefix"]


def as_if_loaded_from(default_lm, path):
    """The default model's weights, as if they had been read from `path` (a small stand-in file)."""
    return SimpleNamespace(model=default_lm.model, tokenizer=default_lm.tokenizer, info=replace(default_lm.info, path=str(path)))


def test_a_model_file_replaced_in_place_with_its_size_and_timestamp_kept_gets_no_saved_cache(default_lm, tmp_path):
    """The reported case: `cp -p` of another model of the same size over the file. The disk cache
    is served again after a plain restart, but not to the replaced file."""
    model_file, root = tmp_path / "model.gguf", tmp_path / "prompt-cache"
    model_file.write_bytes(b"a" * 100_000)
    lm = as_if_loaded_from(default_lm, model_file)
    session = EngineSession(lm, "m", "m", root, loaded_stamp=model_stamp(model_file))
    first = ask(session, FIRST)
    session.housekeeping()  # saves this conversation's cache

    restarted = ask(EngineSession(lm, "m", "m", root, loaded_stamp=model_stamp(model_file)), SECOND,
                    history_after(first))
    kept = os.stat(model_file)
    model_file.write_bytes(b"b" * 100_000)  # another model's bytes, same size ...
    os.utime(model_file, ns=(kept.st_atime_ns, kept.st_mtime_ns))  # ... and the timestamp kept
    replaced = ask(EngineSession(lm, "m", "m", root, loaded_stamp=model_stamp(model_file)), SECOND,
                   history_after(first))

    assert restarted.stats["cache_source"] == "disk"
    assert replaced.stats["cache_source"] == "none" and replaced.stats["cached_tokens"] == 0


def test_a_model_file_changed_after_loading_keeps_the_caches_in_memory_only(default_lm, tmp_path):
    model_file = tmp_path / "model.gguf"
    model_file.write_bytes(b"a" * 1000)
    loaded = model_stamp(model_file)
    model_file.write_bytes(b"b" * 1000)
    session = EngineSession(as_if_loaded_from(default_lm, model_file), "m", "m", tmp_path / "pc", loaded_stamp=loaded)

    session.housekeeping()

    assert session.cache.disk is None
