"""Every architecture against mlx-lm, an independent implementation (fixtures by
scripts/make_golden_mlxlm.py, mlx-lm pinned in a venv of its own and never imported here).

The tiny random-weight checkpoint of each architecture (tests/engine/checkpoints.py), written as a
Hugging Face folder, was loaded by mlx-lm's own loader and model file; its logits at every probe
position are the fixture. Ours must agree to float32 rounding, from the model built in memory and
from the same Hugging Face folder loaded by our loader (Hugging Face tensor names: per-expert MoE
tensors, DeepSeek's kv_b_proj, which our `sanitize` must turn into what the model computes with).
"""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import numpy as np
import pytest

from engine.loading import WeightPolicy, load
from tests.engine.checkpoints import ARCHITECTURES, PROBE_TOKENS, tiny_model, weights_digest, write_hf

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "golden_mlxlm"
MANIFEST = json.loads((GOLDEN / "manifest.json").read_text())
LOGITS = dict(np.load(GOLDEN / "logits.npz"))
# Measured: max |Δ logit| 2.4e-6 (logits of magnitude ~1-10) -> bound 1e-4, as the formats test's.
BOUND = 1e-4


def _ours(model) -> np.ndarray:
    out = model(mx.array([PROBE_TOKENS]), model.make_cache())[0]
    return np.array(out.astype(mx.float32))


def test_every_architecture_has_a_fixture_made_from_these_tokens():
    assert set(MANIFEST["cases"]) == set(LOGITS) == set(ARCHITECTURES)
    assert MANIFEST["tokens"] == PROBE_TOKENS


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_logits_equal_mlx_lm(name):
    case = MANIFEST["cases"][name]
    assert weights_digest(name) == case["weights_sha256"], "the tiny checkpoint changed: rerun the generator"
    reference = LOGITS[name]  # (positions, vocab)
    ours = _ours(tiny_model(name))[: case["positions"]]
    assert np.abs(ours - reference).max() <= BOUND
    assert (ours.argmax(-1) == reference.argmax(-1)).all()


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_the_hugging_face_folder_loaded_by_us_equals_mlx_lm(name, tmp_path):
    lm = load(write_hf(name, tmp_path / name), WeightPolicy("float32"))
    positions = MANIFEST["cases"][name]["positions"]
    assert np.abs(_ours(lm.model)[:positions] - LOGITS[name]).max() <= BOUND


def measure() -> None:
    for name in ARCHITECTURES:
        case = MANIFEST["cases"][name]
        gap = np.abs(_ours(tiny_model(name))[: case["positions"]] - LOGITS[name]).max()
        print(f"{name:>12} ({case['mlxlm_module']}, {case['positions']} positions): max |Δ logit| {gap:.1e}")


if __name__ == "__main__":
    measure()
