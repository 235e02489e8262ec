"""The two-tier prompt-cache policy without a model file or a window: memory first, disk when it
serves more (the conversation's own cache, else its system prompt alone), what is saved and pruned."""

from __future__ import annotations

import os

import mlx.core as mx

from engine.cache import make_cache
from engine.prompt_cache import DiskPromptCache
from engine.prompt_cache_policy import DiskLimits, TieredPromptCache, prune
from tests.engine.tiny import run, tiny_model

MODEL = tiny_model()
SYSTEM = [1, 2, 3, 4]
FIRST = SYSTEM + [10, 11, 12]
REPLY = [20, 21]
SECOND = FIRST + REPLY + [30, 31]


def factory():
    return make_cache(2)


def tiers(tmp_path, **kw) -> TieredPromptCache:
    return TieredPromptCache(factory, disk=DiskPromptCache(tmp_path / "model", "m" * 64), **kw)


def serve(t: TieredPromptCache, prompt, conversation="c1", reply=REPLY, **kw):
    """Check out, compute the rest of the prompt and the reply as generate() would, check in."""
    lease = t.checkout(prompt, conversation, SYSTEM, **kw)
    assert lease.caches[0].offset == lease.reused
    run(MODEL, mx.array([(list(prompt) + reply)[lease.reused : -1]]), lease.caches)
    t.checkin(lease, reply)
    return lease


def test_a_second_turn_is_served_from_memory(tmp_path):
    t = tiers(tmp_path)
    first = serve(t, FIRST)
    second = serve(t, SECOND)
    assert (first.source, first.reused) == ("none", 0)
    assert (second.source, second.reused) == ("memory", len(FIRST) + len(REPLY) - 1)


def test_after_a_restart_the_conversation_comes_from_disk_and_a_new_one_gets_the_system_prompt(tmp_path):
    t = tiers(tmp_path)
    serve(t, FIRST)
    t.save()
    names = sorted(p.name.split("-")[0] for p in (tmp_path / "model").iterdir())
    assert names == ["conv", "prefix"]

    restarted = tiers(tmp_path)
    second = serve(restarted, SECOND)
    other = serve(tiers(tmp_path), SYSTEM + [40, 41], conversation="c2")

    assert (second.source, second.reused) == ("disk", len(FIRST) + len(REPLY) - 1)
    assert (other.source, other.reused) == ("disk", len(SYSTEM))


def test_without_disk_use_nothing_is_loaded_or_saved(tmp_path):
    t = tiers(tmp_path)
    serve(t, FIRST, use_disk=False)
    t.save()
    assert not (tmp_path / "model").exists()


def test_a_kind_change_starts_over_and_new_bounds_keep_the_entries(tmp_path):
    t = tiers(tmp_path, kind="plain")
    serve(t, FIRST)
    t.configure("plain", factory, max_entries=3, max_bytes=1 << 20)
    assert len(t.memory) == 1 and t.memory.max_entries == 3
    t.configure("quantized8", lambda: make_cache(2, "quantized", bits=8), 3, 1 << 20)
    assert len(t.memory) == 0


def test_forgetting_a_conversation_removes_its_files_for_every_model(tmp_path):
    t = tiers(tmp_path)
    serve(t, FIRST)
    t.save()
    elsewhere = tmp_path / "another-model" / t.disk.conversation_path("c1").name
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"x")

    t.forget_conversation("c1")

    assert not t.disk.conversation_path("c1").exists() and not elsewhere.exists()
    assert t.disk.prefix_path(SYSTEM).exists()  # the system prompt serves other conversations


def _file(folder, name, size, age):
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * size)
    os.utime(path, ns=(10**18 - age, 10**18 - age))
    return path


def test_prune_keeps_the_newest_conversations_within_count_and_bytes(tmp_path):
    model_a, model_b = tmp_path / "a", tmp_path / "b"
    newest = _file(model_a, "conv-1.safetensors", 100, age=1)
    second = _file(model_b, "conv-2.safetensors", 100, age=2)
    prefix = _file(model_a, "prefix-1.safetensors", 10, age=3)
    oldest = _file(model_a, "conv-3.safetensors", 100, age=4)
    leftover = _file(model_a, "conv-4.tmp.safetensors", 1, age=0)

    deleted = prune(tmp_path, DiskLimits(conversations=2, max_bytes=10_000))
    assert set(deleted) == {oldest, leftover}
    assert newest.exists() and second.exists() and prefix.exists()

    deleted = prune(tmp_path, DiskLimits(conversations=2, max_bytes=150))
    assert set(deleted) == {second}  # over the byte budget; the small prefix still fits
    assert newest.exists() and prefix.exists()
