"""The Inspector on a hybrid model (qwen3_next: linear-attention layers beside full attention): a
step report covers every layer, says which layers have no attention weights and why, and asking
for the map of a linear-attention layer is answered with that reason, not a crash."""

from __future__ import annotations

import json

import pytest

from app.backend import EngineSession, GenerateRequest
from app.inspection import MapRequest, StepRequest, to_json
from engine.events import TokenEvent
from engine.loading import WeightPolicy, load
from engine.sampling import SamplingSettings
from tests.engine.checkpoints import write_hf


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    lm = load(write_hf("qwen3_next", tmp_path_factory.mktemp("hf") / "qwen3_next"), WeightPolicy("float32"))
    session = EngineSession(lm, "tiny qwen3_next", "tiny")
    request = GenerateRequest("Hello there", SamplingSettings(temperature=0.0), (), "Be brief.", max_new_tokens=4,
                              conversation_id="c1")  # fmt: skip
    records = list(session.stream(request, lambda: False, lambda d, t: None))
    return session, request, [r.token for r in records if isinstance(r, TokenEvent) and r.token is not None]


def test_a_step_report_names_the_linear_attention_layers(served):
    session, request, ids = served
    report = session.inspect(StepRequest(request, tuple(ids), len(ids) - 1))
    layers = report["step"]["attention"]
    assert [bool(a["weights"]) for a in layers] == [False, True, False, True]
    assert all(a["kind"].startswith("linear attention") and a["window"] is None for a in layers[::2])
    rope = report["rope"]  # partial RoPE: a quarter of each 32-dim head rotates, 4 pairs
    assert rope["rotary_dims"] == 8 and len(rope["inverse_frequencies"]) == 4 and rope["head_dim"] == 32
    json.dumps(to_json(report))


def test_the_map_of_a_linear_attention_layer_is_refused_with_the_reason(served):
    session, request, ids = served
    session.inspect(StepRequest(request, tuple(ids), len(ids) - 1))
    assert session.inspect(MapRequest(1, 0))["weights"].shape[0] > 0
    with pytest.raises(ValueError, match="linear-attention layer"):
        session.inspect(MapRequest(0, 0))
