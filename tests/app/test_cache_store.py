"""Model hashes remembered by path/size/mtime, and the disk budget of the prompt caches."""

from __future__ import annotations

import hashlib
import os

from app.cache_store import DiskLimits, ModelHashes, prune


def test_a_known_model_file_is_not_hashed_again(tmp_path):
    model = tmp_path / "model.gguf"
    model.write_bytes(b"weights" * 1000)
    hashes = tmp_path / "cache" / "model-hashes.json"

    first = ModelHashes(hashes)
    assert first.sha256(model) == hashlib.sha256(model.read_bytes()).hexdigest()
    assert first.computed == 1
    again = ModelHashes(hashes)
    assert again.sha256(model) == first.sha256(model) and again.computed == 0

    model.write_bytes(b"WEIGHTS" * 1000)  # same size, new contents and mtime
    os.utime(model, ns=(1, 1))
    changed = ModelHashes(hashes)
    assert changed.sha256(model) == hashlib.sha256(model.read_bytes()).hexdigest() and changed.computed == 1


def test_an_unreadable_hash_file_only_costs_a_rehash(tmp_path):
    model = tmp_path / "model.gguf"
    model.write_bytes(b"x" * 100)
    hashes = tmp_path / "model-hashes.json"
    hashes.write_text("{not json")
    store = ModelHashes(hashes)
    assert store.sha256(model) == hashlib.sha256(b"x" * 100).hexdigest() and store.computed == 1


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
