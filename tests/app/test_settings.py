"""Settings: defaults, validation with messages per field, schema merge, persistence."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from app.settings import (
    SCHEMA_VERSION,
    AppSettings,
    Settings,
    SettingsFile,
    default_sampling,
    sampling_problems,
)
from engine.sampling import SamplingSettings


def test_defaults_are_valid_and_use_the_shipped_system_prompt():
    s = Settings()
    assert s.validate() == {}
    # trial 5 #30: light filters and a repetition penalty, as LM Studio and Ollama ship (the 135M model loops without)
    assert s.sampling == SamplingSettings(temperature=0.7, top_k=40, top_p=0.95, repetition_penalty=1.1)
    assert s.app.system_prompt.startswith("You are a helpful assistant")
    assert s.app.panel_top_k == 10 and s.app.probability_tint and s.app.model == "default"


def test_problems_are_attributed_to_their_fields():
    bad = Settings(
        replace(SamplingSettings(), temperature=-1.0, top_p=7.0),
        replace(AppSettings(), max_new_tokens=0, panel_top_k=500, context_length=12),
    )
    problems = bad.validate()
    assert set(problems) == {"temperature", "top_p", "max_new_tokens", "panel_top_k", "context_length"}
    assert "temperature" in problems["temperature"] and "top-p" in problems["top_p"]


def test_sampling_problems_match_the_engine():
    s = replace(SamplingSettings(), min_p=1.5, seed=-3)
    assert set(sampling_problems(s)) == {"min_p", "seed"}
    assert len(s.validate()) == 2


def test_round_trip_through_the_file(tmp_path):
    f = SettingsFile(tmp_path)
    s = Settings(
        replace(SamplingSettings(), temperature=0.0, top_k=40, seed=7),
        replace(AppSettings(), max_new_tokens=64, system_prompt="Be brief.", model="/m/x.gguf",
                recent_models=("/m/x.gguf",), probability_tint=False, window_geometry="abcd"),
    )
    f.save(s)
    data = json.loads(f.path.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert SettingsFile(tmp_path).load() == s


def test_missing_keys_take_defaults(tmp_path):
    (tmp_path / "settings.json").write_text(json.dumps({"schema_version": 1, "sampling": {"temperature": 0.2}}))
    s = SettingsFile(tmp_path).load()
    assert s.sampling == replace(default_sampling(), temperature=0.2)
    assert s.app == AppSettings()


def test_bad_values_fall_back_field_by_field(tmp_path):
    stored = {
        "schema_version": 1,
        "sampling": {"temperature": -1, "top_p": 7, "top_k": "many", "min_p": 0.05, "bogus": 1},
        "app": {"max_new_tokens": 100, "panel_top_k": 0, "probability_tint": "yes", "recent_models": [1]},
    }
    (tmp_path / "settings.json").write_text(json.dumps(stored))
    s = SettingsFile(tmp_path).load()
    assert (s.sampling.temperature, s.sampling.top_p, s.sampling.top_k) == (0.7, 0.95, 40)  # the defaults
    assert s.sampling.min_p == 0.05
    assert s.app.max_new_tokens == 100
    assert s.app.panel_top_k == 10 and s.app.probability_tint is True and s.app.recent_models == ()


def test_unreadable_file_gives_defaults(tmp_path):
    (tmp_path / "settings.json").write_text("{not json")
    assert SettingsFile(tmp_path).load() == Settings()
    assert SettingsFile(tmp_path / "missing").load() == Settings()


def test_recent_models_most_recent_first_without_duplicates():
    app = AppSettings().with_recent_model("/a.gguf").with_recent_model("/b.gguf").with_recent_model("/a.gguf")
    assert app.recent_models == ("/a.gguf", "/b.gguf")
    assert app.with_recent_model("default").recent_models == app.recent_models


def test_an_unreadable_settings_file_is_kept_aside_and_said(tmp_path):
    file = SettingsFile(tmp_path)
    file.path.write_text('{"schema_version": 2, "sampling": {"temperature": 0.3', encoding="utf-8")
    assert file.load() == Settings()
    kept = list(tmp_path.glob("settings.json.unreadable-*"))
    assert len(kept) == 1 and kept[0].read_text(encoding="utf-8").startswith('{"schema_version"')
    assert str(kept[0]) in file.notice and "defaults" in file.notice
    file.save(Settings())  # the next save no longer destroys what the user had
    assert kept[0].exists() and file.load() == Settings() and file.notice == ""


def test_two_unreadable_settings_files_in_one_second_are_both_kept(tmp_path, monkeypatch):
    """The kept file is named by the second: a second damaged file in that second replaced the
    first (what the user had, lost)."""
    monkeypatch.setattr(time, "strftime", lambda _format: "20261130-235959")  # one second, whatever the clock
    file = SettingsFile(tmp_path)
    for damaged in ('{"first": ', '{"second": '):
        file.path.write_text(damaged, encoding="utf-8")
        assert file.load() == Settings() and "could not be read" in file.notice
    kept = sorted(tmp_path.glob("settings.json.unreadable-*"))
    assert [k.name for k in kept] == ["settings.json.unreadable-20261130-235959",
                                      "settings.json.unreadable-20261130-235959-2"]
    assert [k.read_text(encoding="utf-8") for k in kept] == ['{"first": ', '{"second": ']
    assert str(kept[1]) in file.notice


def test_values_that_break_the_sampler_or_are_not_text_fall_back(tmp_path):
    stored = (
        '{"schema_version": 2, "sampling": {"temperature": 1e-45, "repetition_penalty": 1e-45,'
        ' "penalty_context": 4294967296, "top_p": NaN, "min_p": Infinity},'
        ' "app": {"system_prompt": "Be brief\\ud800", "recent_models": ["/m/a.gguf", "\\udc80"]}}'
    )
    (tmp_path / "settings.json").write_text(stored)
    f = SettingsFile(tmp_path)
    s = f.load()
    assert s.sampling.temperature == 1e-45  # in range: decodes greedily (engine/sampling.py)
    defaults = default_sampling()
    assert (s.sampling.repetition_penalty, s.sampling.penalty_context) == (1.1, defaults.penalty_context)
    assert (s.sampling.top_p, s.sampling.min_p) == (0.95, 0.0)
    assert s.app.system_prompt == AppSettings().system_prompt and s.app.recent_models == ()
    f.save(s)  # and what loaded can be saved
    assert SettingsFile(tmp_path).load() == s
