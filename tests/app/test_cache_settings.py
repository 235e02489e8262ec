"""The cache settings: defaults, validation, schema 1 -> 2, and what a request carries."""

from __future__ import annotations

import json
from dataclasses import replace

from app.settings import SCHEMA_VERSION, AppSettings, CacheConfig, Settings, SettingsFile


def test_defaults_and_the_config_a_request_carries():
    app = AppSettings()
    assert app.validate() == {}
    assert app.cache_config == CacheConfig("plain", 1024, 8, 1024, True)
    custom = replace(app, kv_cache="rotating", kv_window=256, prompt_cache_entries=3, prompt_cache_mb=64,
                     prompt_cache_on_disk=False)
    assert custom.cache_config == CacheConfig("rotating", 256, 3, 64, False)


def test_bad_cache_values_are_named_per_field():
    bad = replace(AppSettings(), kv_cache="huge", kv_window=8, prompt_cache_entries=0, prompt_cache_mb=10**9)
    assert set(bad.validate()) == {"kv_cache", "kv_window", "prompt_cache_entries", "prompt_cache_mb"}


def test_a_version_1_file_gets_the_cache_defaults_and_is_written_as_version_2(tmp_path):
    (tmp_path / "settings.json").write_text(json.dumps(
        {"schema_version": 1, "app": {"max_new_tokens": 64, "panel_top_k": 5}, "sampling": {"temperature": 0.0}}
    ))
    file = SettingsFile(tmp_path)
    loaded = file.load()
    assert loaded.app.max_new_tokens == 64 and loaded.sampling.temperature == 0.0
    assert loaded.app.cache_config == CacheConfig()
    file.save(loaded)
    stored = json.loads((tmp_path / "settings.json").read_text())
    assert stored["schema_version"] == SCHEMA_VERSION and stored["app"]["kv_cache"] == "plain"


def test_cache_settings_round_trip_and_bad_stored_values_fall_back(tmp_path):
    file = SettingsFile(tmp_path)
    chosen = Settings(app=replace(AppSettings(), kv_cache="quantized4", prompt_cache_on_disk=False))
    file.save(chosen)
    assert file.load() == chosen
    data = json.loads((tmp_path / "settings.json").read_text())
    data["app"].update(kv_cache="quantized3", kv_window="big", prompt_cache_on_disk=1)
    (tmp_path / "settings.json").write_text(json.dumps(data))
    loaded = file.load().app
    assert (loaded.kv_cache, loaded.kv_window, loaded.prompt_cache_on_disk) == ("plain", 1024, True)


def test_a_sliding_window_model_gets_a_rotating_cache_of_its_window():
    from app.backend import cache_factory
    from app.settings import CacheConfig
    from engine.cache import KVCache, RotatingKVCache
    from tests.engine.tiny import tiny_model

    windowed, full = tiny_model(sliding_window=16), tiny_model()
    plain = cache_factory(CacheConfig(kind="plain"), windowed)()
    assert len(plain) == 2 and all(isinstance(c, RotatingKVCache) and c.max_size == 16 for c in plain)
    narrower = cache_factory(CacheConfig(kind="rotating", window=8), windowed)()
    assert narrower[0].max_size == 8
    wider = cache_factory(CacheConfig(kind="rotating", window=64), windowed)()
    assert wider[0].max_size == 16
    quantized = cache_factory(CacheConfig(kind="quantized8"), windowed)()
    assert isinstance(quantized[0], RotatingKVCache)  # attending past the window changes answers
    no_window = cache_factory(CacheConfig(kind="plain"), full)()
    assert type(no_window[0]) is KVCache
