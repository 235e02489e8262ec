"""Errors from the device reach the worker's error path: an MLX operation that fails as MLX fails
when the device has no memory (a RuntimeError from an evaluation, "[metal::malloc] …") while a
reply is written or a model is loaded comes back as a Failure (kind OUT_OF_MEMORY) with a clear
message, the worker goes on, and no half-computed cache is kept. The failure is injected into
the MLX operation the engine evaluates with (`mx.async_eval` per decoding step, `mx.eval` while
loading) of a tiny random-weight GGUF; MLX's own messages are classified by engine.device_errors."""

from __future__ import annotations

from contextlib import contextmanager

import mlx.core as mx
import pytest

from app.backend import BackendError, EngineBackend, GenerateRequest, ReplyDone
from app.failures import FailureKind
from engine.device_errors import device_error
from engine.sampling import SamplingSettings
from tests.app.test_worker import SLOW_TIMEOUT_MS, generated, loaded, worker_for  # noqa: F401  (a fixture)
from tests.engine.checkpoints import write_gguf

METAL_OOM = ("[metal::malloc] Attempting to allocate 17179869184 bytes which is greater than the maximum allowed "
             "buffer size of 8589934592 bytes.")
CPU_OOM = "[malloc] Unable to allocate 17179869184 bytes."
COMMAND_BUFFER_OOM = ("[METAL] Command buffer execution failed: Insufficient Memory "
                      "(00000008:kIOGPUCommandBufferCallbackErrorOutOfMemory)")
GREEDY = SamplingSettings(temperature=0.0)


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory):
    return write_gguf("qwen3", tmp_path_factory.mktemp("models") / "tiny.gguf", seed=0)


@contextmanager
def failing(op: str, at_call: int, message: str = METAL_OOM):
    """`mx.<op>` raises RuntimeError(message) on its `at_call`-th call (once), as MLX raises when
    an evaluation cannot allocate; the other calls run the real operation."""
    real, calls = getattr(mx, op), [0]

    def injected(*args, **kwargs):
        calls[0] += 1
        if calls[0] == at_call:
            raise RuntimeError(message)
        return real(*args, **kwargs)

    setattr(mx, op, injected)
    try:
        yield calls
    finally:
        setattr(mx, op, real)


def reply(session, text="hello there", conversation="c1"):
    request = GenerateRequest(text, GREEDY, max_new_tokens=8, conversation_id=conversation)
    items = list(session.stream(request, lambda: False, lambda _d, _t: None))
    assert isinstance(items[-1], ReplyDone)
    return [i.token for i in items[:-1] if i.token is not None]


def test_mlx_device_errors_are_told_apart_from_bugs():
    for text in (METAL_OOM, CPU_OOM, COMMAND_BUFFER_OOM):
        error = device_error(RuntimeError(text))
        assert error is not None and error.out_of_memory and error.detail == text
        assert "ran out of memory" in str(error)
    failed = device_error(RuntimeError("[METAL] Command buffer execution failed: Internal Error (0000000e)"))
    assert failed is not None and not failed.out_of_memory and "failed" in str(failed)
    assert device_error(MemoryError()).out_of_memory
    with pytest.raises(ValueError) as bug:  # a real MLX error that is a bug, not the device
        mx.matmul(mx.zeros((2, 3)), mx.zeros((2, 3)))
    assert device_error(bug.value) is None
    assert device_error(RuntimeError("list index out of range")) is None
    assert device_error(KeyError("[malloc]")) is None  # only the runtime's errors are the device's


def test_out_of_memory_while_writing_a_reply_is_a_failure_and_no_cache_is_kept(tiny_gguf, tmp_path):
    session = EngineBackend(tmp_path / "data").load(str(tiny_gguf), lambda *_: None)
    expected = reply(EngineBackend(tmp_path / "other").load(str(tiny_gguf), lambda *_: None))
    with failing("async_eval", at_call=3), pytest.raises(BackendError) as failure:
        reply(session)
    assert failure.value.kind is FailureKind.OUT_OF_MEMORY
    message = str(failure.value)
    assert message.startswith("The CPU ran out of memory while writing the reply") and METAL_OOM in message
    assert "Preferences → Cache" in message
    assert len(session.cache.memory) == 0  # caches that may hold a step half done are not kept
    assert reply(session) == expected  # and the same request again is answered as by a fresh session


def test_a_device_error_reaches_the_workers_error_path_and_the_worker_goes_on(qtbot, worker_for, tiny_gguf):  # noqa: F811
    worker, req, rec = worker_for(EngineBackend())
    assert loaded(qtbot, req, rec, str(tiny_gguf))
    request = GenerateRequest("hello", GREEDY, max_new_tokens=6)
    with failing("async_eval", at_call=2):
        failure = generated(qtbot, req, rec, 1, request)
    assert failure.kind is FailureKind.OUT_OF_MEMORY and "ran out of memory while writing the reply" in failure.message
    assert generated(qtbot, req, rec, 2, request)["finish_reason"] in ("eos", "length")


def test_out_of_memory_while_loading_keeps_the_previous_model(qtbot, worker_for, tiny_gguf, tmp_path):  # noqa: F811
    other = write_gguf("qwen3", tmp_path / "other.gguf", seed=1)
    worker, req, rec = worker_for(EngineBackend())
    assert loaded(qtbot, req, rec, str(tiny_gguf))
    with failing("eval", at_call=1, message=CPU_OOM):
        req.load.emit(str(other))
        qtbot.waitUntil(lambda: bool(rec.load_failed), timeout=SLOW_TIMEOUT_MS)
    (message,) = rec.load_failed
    assert message.startswith("The CPU ran out of memory while loading") and "smaller model" in message
    assert len(rec.loaded) == 1 and worker.session.info["spec"] == str(tiny_gguf)  # the previous model
    assert generated(qtbot, req, rec, 1, GenerateRequest("hi", GREEDY, max_new_tokens=4))["finish_reason"]


def test_the_server_answers_a_device_error_with_an_openai_error_and_goes_on(tiny_gguf, tmp_path):
    from fastapi.testclient import TestClient

    from app.server.model_thread import ModelThread
    from app.server.routes import ServedModel, create_app

    session = EngineBackend(tmp_path / "data").load(str(tiny_gguf), lambda *_: None)
    thread = ModelThread()
    body = {"messages": [{"role": "user", "content": "hello"}], "max_tokens": 6, "temperature": 0}
    try:
        with TestClient(create_app(ServedModel(session, "tiny"), thread)) as client:
            with failing("async_eval", at_call=1):
                r = client.post("/v1/chat/completions", json=body)
            assert r.status_code == 503 and r.headers["retry-after"]  # the server's state, not the request's fault
            error = r.json()["error"]
            assert set(error) == {"message", "type", "param", "code"}
            assert error["code"] == "out_of_memory" and error["type"] == "server_error"
            assert "ran out of memory while writing the reply" in error["message"]
            with failing("async_eval", at_call=3), client.stream(
                    "POST", "/v1/chat/completions", json=body | {"stream": True}) as streamed:
                lines = [line for line in streamed.iter_lines() if line.startswith("data: ")]
            assert streamed.status_code == 200 and '"code": "out_of_memory"' in lines[-1]  # said in the stream
            assert client.post("/v1/chat/completions", json=body).status_code == 200  # and it goes on
    finally:
        thread.close()
