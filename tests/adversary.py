"""An opt-in pytest plugin that makes every sampled reply the engine writes an awkward one, to find
tests that hold only for some of the outputs a model could give (the fresh-clone CI's flakes):

    GLASSBOX_ADVERSARY=eos QT_QPA_PLATFORM=offscreen pytest -p tests.adversary tests/ui/test_window.py

Modes (the script's tokens replace the sampler's draws, each at the earliest step where the final
distribution gives it a chance, so the reply is one the sampler could really have written; greedy
and filtered-out tokens are never forced):
  eos      the end-of-text token: an empty reply, or one that ends as early as it can
  newline  "\\n\\n" first: a reply opening with a line break (nothing to click there)
  markup   Markdown and HTML characters and special-token text: "<b>&amp; ```\\n# x *y* <|im_end|>"
  split    the first two bytes of a four-byte character: a reply whose text holds back a character
  blank    " \\n", then the end-of-text token: a reply of whitespace only

Each forced token is logged to $GLASSBOX_ADVERSARY_LOG when set (mode, test, token id, its
probability): a test that fails only where that probability is small was flaky, not broken. A
seeded sampler's draws are fixed (SamplingSettings.seed): a seeded test failing here is not flaky.
"""

from __future__ import annotations

import os

import mlx.core as mx
import pytest

MODE = os.environ.get("GLASSBOX_ADVERSARY", "")
SCRIPTS = {
    "newline": "\n\n",
    "markup": "<b>&amp; ```\n# x *y* <|im_end|>",
    "blank": " \n",
}


def _script(tokenizer) -> list[int]:
    eos = [min(tokenizer.eos_ids)] if tokenizer.eos_ids else []
    if MODE == "eos":
        return eos
    if MODE == "split":  # 🙂 is F0 9F 99 82
        return [next(i for i, b in enumerate(tokenizer.token_bytes) if b == bytes([byte])
                     and i not in tokenizer.special_ids) for byte in (0xF0, 0x9F)]
    if MODE in SCRIPTS:
        return tokenizer.encode(SCRIPTS[MODE], add_bos=False) + (eos if MODE == "blank" else [])
    raise pytest.UsageError(f"GLASSBOX_ADVERSARY={MODE!r}: one of eos, split, {', '.join(SCRIPTS)}")


def _log(token: int, probability: float) -> None:
    path = os.environ.get("GLASSBOX_ADVERSARY_LOG")
    if path:
        test = os.environ.get("PYTEST_CURRENT_TEST", "?").split(" ")[0]
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"{MODE}\t{test}\t{token}\t{probability:.3g}\n")


@pytest.fixture(autouse=True, scope="session")
def _adversary():
    if not MODE:
        yield
        return
    import engine.generate as generation
    from engine.sampling import Sampler, Step

    events, draw = generation._events, Sampler.__call__

    def scripted_events(model, tokenizer, prompt, cache, sampler, *rest):
        sampler.adversary_script = _script(tokenizer)  # this reply's sampler only, not the Inspector's
        return events(model, tokenizer, prompt, cache, sampler, *rest)

    def scripted_draw(self, logits, history, stages=None):
        step = draw(self, logits, history, stages)
        script = getattr(self, "adversary_script", None)
        if script:
            probability = mx.exp(step.final_logprobs[script[0]]).item()
            if probability > 0:
                token = script.pop(0)
                _log(token, probability)
                step = Step(mx.array(token, dtype=mx.uint32), step.raw_logprobs, step.final_logprobs)
        return step

    generation._events, Sampler.__call__ = scripted_events, scripted_draw
    yield
    generation._events, Sampler.__call__ = events, draw
