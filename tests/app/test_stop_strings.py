"""Stop strings as typed in Preferences: escapes, validation, storage and the request."""

from __future__ import annotations

import pytest

from app import stop_strings
from app.settings import AppSettings, Settings, SettingsFile


@pytest.mark.parametrize(
    "text, shown",
    [("\n\nUser:", "\\n\\nUser:"), ("a\\b", "a\\\\b"), ("\t###", "\\t###"), ("<|im_end|>", "<|im_end|>"),
     ("plain", "plain"), ("\r\n", "\\r\\n")],
)
def test_a_stop_string_shows_readably_and_reads_back_exactly(text, shown):
    assert stop_strings.show(text) == shown
    assert stop_strings.read(shown) == text


def test_the_editor_text_round_trips_and_skips_blank_lines():
    strings = ("\n\nUser:", "END", "\\")
    text = stop_strings.show_all(strings)
    assert text.count("\n") == 2  # one line each: the line breaks inside are escaped
    assert stop_strings.read_all(text + "\n\n   \n") == strings


@pytest.mark.parametrize(
    "text, message",
    [("abc\\q", "line 1: \\q is not an escape"), ("ok\nend\\", "line 2 ends with a lone \\"),
     ("END\nEND", "“END” is listed twice"), ("x" * 101, "is longer than 100 characters"),
     ("\n".join(str(i) for i in range(17)), "at most 16 stop strings")],
)
def test_bad_stop_strings_are_named(text, message):
    with pytest.raises(stop_strings.StopStringError, match=None) as e:
        stop_strings.read_all(text)
    assert message in str(e.value)


def test_an_empty_stop_string_never_validates():
    assert "stop_strings" in AppSettings(stop_strings=("",)).validate()
    assert "stop_strings" in AppSettings(stop_strings=("a", "a")).validate()
    assert AppSettings(stop_strings=("\n\nUser:",)).validate() == {}


def test_stop_strings_theme_zoom_and_presets_are_saved_and_a_bad_stored_value_falls_back(tmp_path):
    file = SettingsFile(tmp_path)
    app = AppSettings(stop_strings=("\n\nUser:", "###"), theme="dark", zoom_percent=130,
                      system_prompt_presets=(("Pirate", "Talk like a pirate."),))
    file.save(Settings(app=app))
    loaded = file.load().app
    assert (loaded.stop_strings, loaded.theme, loaded.zoom_percent, loaded.system_prompt_presets) == (
        app.stop_strings, "dark", 130, app.system_prompt_presets)
    text = file.path.read_text().replace('"dark"', '"purple"').replace('"###"', '"\\n\\nUser:"')
    file.path.write_text(text)
    loaded = file.load().app
    assert loaded.theme == "system" and loaded.stop_strings == ()  # each bad field alone falls back
    assert loaded.zoom_percent == 130


def test_a_version_2_file_gets_the_new_fields_defaults(tmp_path):
    (tmp_path / "settings.json").write_text('{"schema_version": 2, "app": {"max_new_tokens": 77}}')
    app = SettingsFile(tmp_path).load().app
    assert app.max_new_tokens == 77 and app.stop_strings == () and app.theme == "system"
