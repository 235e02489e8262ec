"""The spin boxes' ranges (app/setting_ranges.py) are the validation's ranges, bound by bound."""

from __future__ import annotations

from dataclasses import fields, replace

import pytest

from app.setting_ranges import NUMBER_RANGES
from app.settings import AppSettings, Settings
from engine.sampling import SamplingSettings

SAMPLING = {f.name for f in fields(SamplingSettings)}


def accepted(name: str, value) -> bool:
    if name in SAMPLING:
        settings = Settings(sampling=replace(SamplingSettings(), **{name: value}))
    else:
        settings = Settings(app=replace(AppSettings(), **{name: value}))
    return name not in settings.validate()


def typed(name: str, value):
    return int(value) if NUMBER_RANGES[name].decimals == 0 else float(value)


@pytest.mark.parametrize("name", sorted(NUMBER_RANGES))
def test_each_control_range_is_exactly_what_validation_accepts(name):
    r = NUMBER_RANGES[name]
    assert accepted(name, typed(name, r.control_min)), "the control's minimum must validate"
    assert accepted(name, typed(name, r.control_max)), "the control's maximum must validate"
    below = r.low if r.low_open else r.low - r.step
    assert not accepted(name, typed(name, below)), "below the range must not validate"
    if r.high is not None:
        above = r.high if r.high_open else r.high + r.step
        assert not accepted(name, typed(name, above)), "above the range must not validate"

