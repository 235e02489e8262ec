"""One validation for decoding settings: what Preferences refuses, the settings file and the CLI
refuse with the same words (SamplingSettings.validate), and what it accepts gives a finite reply."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.settings import Settings, default_sampling
from engine.cli import main as cli_main
from engine.sampling import SamplingSettings
from tests.app.fakes import FakeBackend
from tests.ui.test_preferences import open_preferences, set_field

CLI_FLAG = {"temperature": "--temperature", "top_p": "--top-p", "min_p": "--min-p",
            "repetition_penalty": "--repetition-penalty"}


@pytest.mark.parametrize(
    "name, text",
    [("temperature", "nan"), ("temperature", "inf"), ("repetition_penalty", "1e-45"),
     ("repetition_penalty", "0.001"), ("top_p", "0"), ("min_p", "nan")],
)
def test_preferences_settings_and_cli_refuse_alike(qtbot, launch, capsys, name, text):
    expected = SamplingSettings(**{name: float(text)}).validate()
    assert len(expected) == 1
    app = launch(FakeBackend())
    dialog = open_preferences(qtbot, app.window)
    set_field(dialog, name, text)  # a spin box over the accepted range: the value cannot be entered
    entered = dialog.settings()
    if entered is None:  # half-typed: said in place, not savable
        assert dialog.fields[name].error.problem and not dialog.save_button.isEnabled()
    else:
        value = getattr(entered.sampling, name)
        assert value == value and not SamplingSettings(**{name: value}).validate() and str(value) != text
    dialog.reject()
    stored = Settings.from_dict({"sampling": {name: float(text)}})
    assert getattr(stored.sampling, name) == getattr(default_sampling(), name)  # the default kept
    assert cli_main(["generate", CLI_FLAG[name], text, "hi"]) == 2  # refused before any model loads
    assert capsys.readouterr().err.strip() == f"error: {expected[0]}"


def test_a_vanishing_temperature_is_accepted_by_the_settings_file():
    # (Preferences offers temperatures in steps of 0.01: its spin box cannot hold 1e-45)
    settings = replace(default_sampling(), temperature=1e-45)
    assert settings.validate() == [] and Settings.from_dict({"sampling": {"temperature": 1e-45}}).sampling == settings
