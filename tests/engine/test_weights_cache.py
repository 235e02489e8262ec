"""Converted weights kept on disk (engine/weights_cache.py): a load from the cache holds exactly the
arrays a conversion gives, and any change to the source file, the code or the entry itself means
converting again, never serving the old arrays."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import gguf
import mlx.core as mx
import pytest
from mlx.utils import tree_flatten

from engine import native, weights_cache
from engine.loading import WeightPolicy, load
from engine.weights_cache import WeightsCache
from tests.engine.checkpoints import write_gguf

pytestmark = pytest.mark.skipif(not native.available(), reason="the cache maps arrays with Glassbox's native module")

CODE = (Path(weights_cache.__file__),)
OPTIONS = {"float32_scales": True, "kernel_layouts": True}


def params(lm) -> dict[str, mx.array]:
    return dict(tree_flatten(lm.model.parameters()))


def assert_same_model(a, b) -> None:
    pa, pb = params(a), params(b)
    assert pa.keys() == pb.keys()
    for k in pa:
        assert pa[k].dtype == pb[k].dtype and pa[k].shape == pb[k].shape, k
        assert mx.array_equal(pa[k], pb[k]).item(), k  # bit for bit: float32 NaNs never occur here
    assert [type(m) for _, m in a.model.named_modules()] == [type(m) for _, m in b.model.named_modules()]


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    folder = tmp_path / "converted"
    monkeypatch.setenv("GLASSBOX_WEIGHTS_CACHE", str(folder))
    return folder


@pytest.fixture
def small_models_cached(monkeypatch):
    """Tiny checkpoints are below the cache's size floor: cache them anyway."""
    real = WeightsCache.default
    monkeypatch.setattr(WeightsCache, "default", classmethod(lambda cls: real() and cls(real().folder, min_bytes=0)))


def test_the_default_model_from_the_cache_is_the_converted_model(default_model_path, cache_dir, monkeypatch):
    """Converted (cache off), converted and kept (first load), mapped (second load): the same
    arrays bit for bit, the same modules, the same next-token logits; the mapped arrays are not
    MLX's memory (the conversion's ~110 MB is not made again)."""
    monkeypatch.setenv("GLASSBOX_WEIGHTS_CACHE", "off")
    converted = load(default_model_path, WeightPolicy("stored"))
    monkeypatch.setenv("GLASSBOX_WEIGHTS_CACHE", str(cache_dir))
    first = load(default_model_path, WeightPolicy("stored"))
    assert weights_cache.wait_for_writes(timeout=60)  # the entry is written beside the load
    (entry,) = cache_dir.glob("*.weights")
    mx.clear_cache()
    before = mx.get_active_memory()
    second = load(default_model_path, WeightPolicy("stored"))
    assert mx.get_active_memory() - before < 16 * 2**20  # the norms and the model's small tensors
    for lm in (first, second):
        assert_same_model(converted, lm)
    ids = converted.tokenizer.encode("The capital of France is")
    outs = []
    for lm in (converted, second):
        out = lm.model(mx.array([ids]), lm.model.make_cache())
        outs.append(out[0, -1])
    assert mx.array_equal(outs[0], outs[1]).item()
    assert not list(cache_dir.glob("*.tmp"))
    assert entry.stat().st_size > 100 * 2**20


def test_a_tiny_gguf_from_the_cache_equals_its_conversion_and_follows_file_changes(
        tmp_path, cache_dir, small_models_cached, monkeypatch):
    path = write_gguf("llama", tmp_path / "m.gguf", seed=0, tensor_type=gguf.GGMLQuantizationType.Q4_1)
    first = load(path, WeightPolicy("stored"))
    assert weights_cache.wait_for_writes(timeout=60)
    second = load(path, WeightPolicy("stored"))
    assert len(list(cache_dir.glob("*.weights"))) == 1
    assert_same_model(first, second)
    # the same file name rewritten with other weights of the same size: the new weights load
    size = path.stat().st_size
    write_gguf("llama", path, seed=1, tensor_type=gguf.GGMLQuantizationType.Q4_1)
    assert path.stat().st_size == size
    other = load(path, WeightPolicy("stored"))
    assert weights_cache.wait_for_writes(timeout=60)
    key = params(other)["layers.0.self_attn.q_proj.weight"]
    assert not mx.array_equal(key, params(first)["layers.0.self_attn.q_proj.weight"]).item()
    assert len(list(cache_dir.glob("*.weights"))) == 2
    monkeypatch.setenv("GLASSBOX_WEIGHTS_CACHE", "off")
    assert_same_model(load(path, WeightPolicy("stored")), other)


def test_the_key_changes_with_the_file_its_options_and_the_code(tmp_path):
    path = write_gguf("llama", tmp_path / "m.gguf", tensor_type=gguf.GGMLQuantizationType.Q4_1)
    cache = WeightsCache(tmp_path / "c", min_bytes=0)
    key = cache.key(path, CODE, OPTIONS)
    assert cache.key(path, CODE, OPTIONS) == key
    assert cache.key(path, CODE, {**OPTIONS, "kernel_layouts": False}) != key
    other_code = tmp_path / "arch.py"
    other_code.write_text("# another architecture file\n")
    assert cache.key(path, (other_code,), OPTIONS) != key
    copy = shutil.copy2(path, tmp_path / "copy.gguf")  # same bytes, another file: converted again
    assert cache.key(Path(copy), CODE, OPTIONS) != key
    stat = path.stat()
    with open(path, "r+b") as f:  # one byte of the weights changed, size and mtime put back
        f.seek(stat.st_size - 3)
        byte = f.read(1)
        f.seek(stat.st_size - 3)
        f.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cache.key(path, CODE, OPTIONS) != key


def _entry(tmp_path) -> tuple[WeightsCache, str, dict[str, mx.array]]:
    cache = WeightsCache(tmp_path / "c", min_bytes=0)
    arrays = {
        "w": mx.arange(3 * 40, dtype=mx.uint32).reshape(3, 40),
        "s": mx.linspace(-1, 1, 7).astype(mx.float32),
        "h": mx.array([1.5, -2.25], dtype=mx.float16),
        "b": mx.array([[0.5, 3.0]], dtype=mx.bfloat16),
    }
    mx.eval(arrays)
    return cache, "k" * 64, arrays


def test_an_entry_maps_back_to_the_same_arrays(tmp_path):
    cache, key, arrays = _entry(tmp_path)
    assert cache.get(key) is None
    assert cache.put(key, arrays) == cache.path(key)
    got = cache.get(key)
    assert got.keys() == arrays.keys()
    for name, a in arrays.items():
        assert got[name].dtype == a.dtype and got[name].shape == a.shape
        assert mx.array_equal(got[name], a).item(), name
    # computing with them, and a result that could reuse an input's buffer, leaves the entry as it was
    doubled = got["s"] * 2
    mx.eval(doubled)
    del got
    assert mx.array_equal(cache.get(key)["s"], arrays["s"]).item()
    assert mx.array_equal(doubled, arrays["s"] * 2).item()


def test_an_entry_written_in_the_background_is_whole_and_written_once(tmp_path, monkeypatch):
    """put_in_background returns before the entry exists; once written it maps back to the same
    arrays even though the caller changed its dict meanwhile; a second request for the key while
    it is being written writes nothing more; no temporary file is left."""
    cache, key, arrays = _entry(tmp_path)
    arrays["b"] = mx.arange(-20, 20, dtype=mx.bfloat16) / 8  # read through a uint16 view, made on this thread
    started, release = weights_cache.threading.Event(), weights_cache.threading.Event()
    real_write, calls = weights_cache._write, []

    def slow_write(temp, k, a, views):
        calls.append(k)
        started.set()
        assert release.wait(30)
        real_write(temp, k, a, views)

    monkeypatch.setattr(weights_cache, "_write", slow_write)
    given = dict(arrays)
    cache.put_in_background(key, given)
    assert started.wait(30)
    given.clear()  # as a model's sanitize may change the loader's dict
    cache.put_in_background(key, arrays)  # the same key while it is being written
    assert not cache.path(key).exists()
    assert not weights_cache.wait_for_writes(timeout=0.05)
    release.set()
    assert weights_cache.wait_for_writes(timeout=60)
    assert calls == [key]
    got = cache.get(key)
    assert got.keys() == arrays.keys()
    for name, a in arrays.items():
        assert mx.array_equal(got[name], a).item(), name
    assert not list(cache.folder.glob("*.tmp"))


def test_a_damaged_or_cut_entry_is_deleted_not_served(tmp_path):
    cache, key, arrays = _entry(tmp_path)
    path = cache.put(key, arrays)
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x01  # one bit of the last array
    path.write_bytes(bytes(data))
    assert cache.get(key) is None
    assert not path.exists()
    path = cache.put(key, arrays)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 100)
    assert cache.get(key) is None and not path.exists()
    path = cache.put(key, arrays)
    assert cache.get("x" * 64) is None  # another key finds nothing
    path.rename(cache.path("x" * 64))  # an entry under another key's name is not that key's
    assert cache.get("x" * 64) is None


def test_entries_are_pruned_least_recently_used_first_within_the_bound(tmp_path):
    cache, _, arrays = _entry(tmp_path)
    one = cache.put("a" * 64, arrays).stat().st_size
    bounded = WeightsCache(cache.folder, max_bytes=2 * one + one // 2, min_bytes=0)
    bounded.put("b" * 64, arrays)
    os.utime(bounded.path("a" * 64), (1, 1))  # "a" used longest ago
    os.utime(bounded.path("b" * 64), (2, 2))
    bounded.get("a" * 64)  # used now: "b" is the oldest
    stale = cache.folder / ".x.weights.1.tmp"
    stale.write_bytes(b"half")
    os.utime(stale, (1, 1))
    bounded.put("c" * 64, arrays)
    names = sorted(p.name[:1] for p in cache.folder.glob("*.weights"))
    assert names == ["a", "c"]
    assert not stale.exists()


def test_small_models_and_the_off_switch_keep_nothing(tmp_path, monkeypatch):
    cache, key, arrays = _entry(tmp_path)
    assert WeightsCache(cache.folder).put(key, arrays) is None  # below the 16 MB floor
    monkeypatch.setenv("GLASSBOX_WEIGHTS_CACHE", "off")
    assert WeightsCache.default() is None
    monkeypatch.setenv("GLASSBOX_WEIGHTS_CACHE", str(tmp_path / "elsewhere"))
    assert WeightsCache.default().folder == tmp_path / "elsewhere"
