"""Which weights a model file holds: the sha256 memo is trusted only while the file's stamp (inode,
ctime, size, mtime) and sampled fingerprint are unchanged, and only for the file that was loaded."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import pytest

from engine.model_identity import (
    FINGERPRINT_BLOCK_BYTES,
    FINGERPRINT_BLOCKS,
    ModelFileChanged,
    ModelHashes,
    engine_build,
    fingerprint,
    model_stamp,
    weights_identity,
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_known_model_file_is_not_hashed_again(tmp_path):
    model = tmp_path / "model.gguf"
    model.write_bytes(b"weights" * 1000)
    hashes = tmp_path / "cache" / "model-hashes.json"

    first = ModelHashes(hashes)
    assert first.sha256(model) == sha(model.read_bytes())
    assert first.computed == 1
    again = ModelHashes(hashes)
    assert again.sha256(model) == first.sha256(model) and again.computed == 0


def test_a_file_rewritten_in_place_with_size_and_mtime_kept_is_hashed_again(tmp_path):
    model = tmp_path / "model.gguf"
    model.write_bytes(b"weights" * 1000)
    hashes = tmp_path / "model-hashes.json"
    ModelHashes(hashes).sha256(model)
    kept = os.stat(model)

    model.write_bytes(b"WEIGHTS" * 1000)  # same size, same inode, new contents
    os.utime(model, ns=(kept.st_atime_ns, kept.st_mtime_ns))  # the timestamp put back

    changed = ModelHashes(hashes)
    assert changed.sha256(model) == sha(b"WEIGHTS" * 1000) and changed.computed == 1


def test_a_file_replaced_like_cp_p_does_is_hashed_again(tmp_path):
    """The reported case: another model of the same size copied over it with its timestamp kept."""
    model, other = tmp_path / "model.gguf", tmp_path / "download" / "other.gguf"
    model.write_bytes(b"a" * 5000)
    other.parent.mkdir()
    other.write_bytes(b"b" * 5000)
    os.utime(other, ns=(os.stat(model).st_atime_ns, os.stat(model).st_mtime_ns))
    hashes = tmp_path / "model-hashes.json"
    ModelHashes(hashes).sha256(model)

    shutil.copy2(other, tmp_path / "tmp.gguf")  # as unzip or a download: a new file renamed over it
    os.replace(tmp_path / "tmp.gguf", model)
    assert os.stat(model).st_mtime_ns == os.stat(other).st_mtime_ns and os.stat(model).st_size == 5000

    replaced = ModelHashes(hashes)
    assert replaced.sha256(model) == sha(b"b" * 5000) and replaced.computed == 1


def test_the_fingerprint_catches_a_replacement_the_file_system_does_not_show(tmp_path):
    """On a file system whose ctime and inode cannot be trusted, the sampled blocks still differ."""
    model = tmp_path / "model.gguf"
    model.write_bytes(b"a" * 5000)
    hashes = tmp_path / "model-hashes.json"
    ModelHashes(hashes).sha256(model)
    known = json.loads(hashes.read_text())
    (entry,) = known.values()
    entry["fingerprint"] = "0" * 64  # as if the bytes had changed behind an identical stamp
    hashes.write_text(json.dumps(known))

    again = ModelHashes(hashes)
    assert again.sha256(model) == sha(b"a" * 5000) and again.computed == 1


def test_the_fingerprint_reads_the_start_the_end_and_blocks_between(tmp_path):
    size = 40 * FINGERPRINT_BLOCK_BYTES
    data = bytearray(size)
    model = tmp_path / "model.bin"
    model.write_bytes(bytes(data))
    base = fingerprint(model, size)
    middle_block = (size - FINGERPRINT_BLOCK_BYTES) * 7 // (FINGERPRINT_BLOCKS - 1)
    for offset in (0, size - 1, middle_block + 3):  # the first byte, the last, one in a block between
        changed = bytearray(data)
        changed[offset] = 1
        model.write_bytes(bytes(changed))
        assert fingerprint(model, size) != base, offset


def test_a_file_changed_after_loading_is_not_identified(tmp_path):
    """The sha256 must describe the weights in memory, not whatever is on disk now."""
    model = tmp_path / "model.gguf"
    model.write_bytes(b"a" * 5000)
    loaded = model_stamp(model)
    model.write_bytes(b"b" * 5000)

    with pytest.raises(ModelFileChanged):
        ModelHashes(tmp_path / "model-hashes.json").sha256(model, loaded=loaded)


def test_a_model_folder_is_identified_by_every_file(tmp_path):
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(b"w" * 100)
    hashes = ModelHashes(tmp_path / "model-hashes.json")
    first = hashes.sha256(folder, loaded=model_stamp(folder))
    (folder / "model.safetensors").write_bytes(b"v" * 100)
    assert hashes.sha256(folder) != first


def test_an_unreadable_hash_file_only_costs_a_rehash(tmp_path):
    model = tmp_path / "model.gguf"
    model.write_bytes(b"x" * 100)
    hashes = tmp_path / "model-hashes.json"
    hashes.write_text("{not json")
    store = ModelHashes(hashes)
    assert store.sha256(model) == sha(b"x" * 100) and store.computed == 1


def test_the_weights_identity_changes_with_how_the_weights_are_held():
    file_sha = "1" * 64
    assert weights_identity(file_sha, "float32") != weights_identity(file_sha, "as stored (Q4_1)")
    assert weights_identity(file_sha, "float32") != weights_identity("2" * 64, "float32")
    assert weights_identity(file_sha, "float32") == weights_identity(file_sha, "float32")
    assert len(engine_build()) == 64
