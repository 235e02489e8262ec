"""Property-based fuzzing of the API from its own OpenAPI schema (schemathesis): requests generated
from every operation's schema, valid (positive) and not (negative), never get a 5xx. A fake session
answers (the model is not what is fuzzed), and a bounded number of examples keeps this a few seconds.

Hypothesis drives schemathesis's strategies directly (`@given`): schemathesis's own pytest plugin
does not run under pytest 9 ('Function' object has no attribute '_nodeid')."""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from app.server.model_thread import ModelThread  # noqa: E402
from app.server.routes import ServedModel, create_app  # noqa: E402
from tests.app.fakes import REPLY, FakeSession  # noqa: E402

EXAMPLES = 30  # per operation and mode: 3 operations x 2 modes in ~15 s on one shared core

_thread = ModelThread()
_app = create_app(ServedModel(FakeSession("fake.gguf", REPLY, endless=False), "fake-model"), _thread)
_schema = schemathesis.openapi.from_asgi("/openapi.json", _app)
OPERATIONS = {op.label: op for op in (result.ok() for result in _schema.get_all_operations())}


def test_every_endpoint_is_fuzzed():
    assert set(OPERATIONS) == {"GET /v1/models", "POST /v1/chat/completions", "POST /v1/completions"}


# a request with no parameters or body (GET /v1/models) has no wrong form to generate
CASES = [(label, mode) for label in sorted(OPERATIONS) for mode in GenerationMode
         if mode is GenerationMode.POSITIVE or label.startswith("POST")]


@pytest.mark.parametrize(("label", "mode"), CASES, ids=[f"{label}-{mode.value}" for label, mode in CASES])
def test_no_generated_request_is_a_server_error(label, mode):
    @given(st.data())
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(data):
        case = data.draw(OPERATIONS[label].as_strategy(generation_mode=mode))
        response = case.call()
        assert response.status_code < 500, (case.as_curl_command(), response.text)
        if response.status_code >= 400:  # every refusal is OpenAI-shaped
            assert set(response.json()["error"]) == {"message", "type", "param", "code"}, response.text

    check()
