"""The accepted range of every numeric setting, as data a form builds its controls from.

One table for the Preferences dialog's spin boxes: each entry states the bounds the validation
accepts (`SamplingSettings.validate` in the engine, `AppSettings.validate` here) and how a control
should step through them. `tests/app/test_setting_ranges.py` checks every bound against the
validation itself, so the two cannot drift apart: a value at an inclusive bound validates, a value
just beyond a bound does not.
"""

from __future__ import annotations

from dataclasses import dataclass

from app import settings as s
from engine import sampling


@dataclass(frozen=True)
class NumberRange:
    """Bounds of one numeric setting.

    `low`/`high` are the bounds; `low_open`/`high_open` say the bound itself is refused (top-p must
    be > 0), in which case a control stops one `step` inside it. `high=None`: no upper bound beyond
    what a control can hold. `decimals` is 0 for whole numbers. `special` names the value at `low`
    when it means something other than a number ("off", "the model's own"). `least`: when set, the
    smallest value above `low` that is accepted (values strictly between `low` and `least` are
    refused: a context of 0 is the model's own, one of 1 to 255 tokens is not usable).
    """

    low: float
    high: float | None
    step: float = 1
    decimals: int = 0
    low_open: bool = False
    high_open: bool = False
    special: str = ""
    least: float | None = None

    @property
    def control_min(self) -> float:
        return self.low + self.step if self.low_open else self.low

    @property
    def control_max(self) -> float:
        if self.high is None:
            return 2**31 - 1
        return self.high - self.step if self.high_open else self.high


NUMBER_RANGES: dict[str, NumberRange] = {
    # decoding (SamplingSettings.validate)
    "temperature": NumberRange(0.0, sampling.MAX_TEMPERATURE, 0.05, 2),
    "top_k": NumberRange(0, None, 1, special="off"),
    "top_p": NumberRange(0.0, 1.0, 0.01, 3, low_open=True),
    "min_p": NumberRange(0.0, 1.0, 0.01, 3, high_open=True, special="off"),
    "repetition_penalty": NumberRange(sampling.MIN_REPETITION_PENALTY, sampling.MAX_REPETITION_PENALTY, 0.01, 2),
    "presence_penalty": NumberRange(-2.0, 2.0, 0.05, 2),
    "frequency_penalty": NumberRange(-2.0, 2.0, 0.05, 2),
    # the app's (AppSettings.validate)
    "max_new_tokens": NumberRange(1, s.MAX_NEW_TOKENS_LIMIT, 16),
    "context_length": NumberRange(0, s.MAX_CONTEXT_LENGTH, 256, special="the model's own", least=s.MIN_CONTEXT_LENGTH),
    "panel_top_k": NumberRange(1, s.PANEL_TOP_K_LIMIT),
    "kv_window": NumberRange(s.MIN_KV_WINDOW, s.MAX_KV_WINDOW, 64),
    "prompt_cache_entries": NumberRange(1, s.MAX_PROMPT_CACHE_ENTRIES),
    "prompt_cache_mb": NumberRange(1, s.MAX_PROMPT_CACHE_MB, 64),
    "zoom_percent": NumberRange(s.MIN_ZOOM_PERCENT, s.MAX_ZOOM_PERCENT, s.ZOOM_STEP_PERCENT),
}
