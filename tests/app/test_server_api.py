"""The OpenAI-compatible API (app/server) with a fake session: request shapes in, OpenAI shapes out,
every wrong request an OpenAI-shaped 4xx, streams, stop, cancel, limits and the safe defaults."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from app.server.background import BackgroundServer
from app.server.model_thread import ModelThread, QueueFull
from app.server.routes import ServedModel, create_app
from app.server.serve import UnsafeListen, listen_settings
from tests.app.fakes import REPLY, FakeSession, split_tokens

CHAT = "/v1/chat/completions"
HELLO = [{"role": "user", "content": "Hello there"}]


@pytest.fixture
def session():
    return FakeSession("fake.gguf", REPLY, endless=False)


@pytest.fixture
def threads():
    made = []

    def make(**kw):
        made.append(ModelThread(**kw))
        return made[-1]

    yield make
    for t in made:
        t.close()


@pytest.fixture
def client(session, threads):
    with TestClient(create_app(ServedModel(session, "fake-model"), threads())) as c:
        yield c


def assert_error(response, status: int, param: str | None = "any") -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    if param != "any":
        assert error["param"] == param
    return error


def sse_payloads(lines) -> list:
    data = [line[len("data: "):] for line in lines if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    return [json.loads(d) for d in data[:-1]]


def test_models_lists_the_served_model(client):
    body = client.get("/v1/models").json()
    assert body == {"object": "list", "data": [{"id": "fake-model", "object": "model", "created": 0,
                                                "owned_by": "glassbox"}]}


def test_a_chat_completion_has_openai_shape_and_usage(client, session):
    r = client.post(CHAT, json={"model": "whatever", "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": [{"type": "text", "text": "Tell "}, {"type": "text", "text": "me"}]},
    ]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "chat.completion" and body["id"].startswith("chatcmpl-")
    assert body["model"] == "fake-model"
    (choice,) = body["choices"]
    assert choice["message"]["role"] == "assistant" and choice["message"]["content"] == REPLY
    assert choice["finish_reason"] == "stop" and choice["logprobs"] is None
    n = len(split_tokens(REPLY)) + 1  # the end-of-turn token the reply ended on is counted (translate.usage)
    assert body["usage"] == {"prompt_tokens": 10, "completion_tokens": n, "total_tokens": 10 + n,
                             "prompt_tokens_details": {"cached_tokens": 0}}
    (request,) = session.requests
    assert request.system_prompt == "Be brief."
    assert request.history == ({"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"})
    assert request.user_message == "Tell me"
    assert request.conversation_id is None


def test_decoding_fields_reach_the_engine(client, session):
    r = client.post(CHAT, json={
        "messages": HELLO, "temperature": 0.3, "top_p": 0.9, "max_completion_tokens": 3, "stop": ["\n\nUser:", "END"],
        "seed": 42, "presence_penalty": 0.5, "frequency_penalty": -0.5, "n": 1, "top_k": 40, "min_p": 0.05,
        "repetition_penalty": 1.1, "some_future_field": {"x": 1},
    })
    assert r.status_code == 200, r.text
    s = session.requests[0].sampling
    assert (s.temperature, s.top_p, s.top_k, s.min_p, s.repetition_penalty) == (0.3, 0.9, 40, 0.05, 1.1)
    assert (s.presence_penalty, s.frequency_penalty, s.seed) == (0.5, -0.5, 42)
    assert session.requests[0].stop_strings == ("\n\nUser:", "END")
    assert session.requests[0].max_new_tokens == 3
    assert r.json()["choices"][0]["finish_reason"] == "length"
    assert r.json()["usage"]["completion_tokens"] == 3


def test_defaults_are_openais(client, session):
    client.post(CHAT, json={"messages": HELLO, "stop": "END"})
    request = session.requests[0]
    assert request.sampling.temperature == 1.0 and request.sampling.top_p == 1.0 and request.sampling.seed is None
    assert request.stop_strings == ("END",)
    assert request.max_new_tokens == 2048 - 2  # the rest of the context window ("Hello there" is 2 here)


def test_logprobs_have_openais_shape(client):
    r = client.post(CHAT, json={"messages": HELLO, "logprobs": True, "top_logprobs": 3})
    content = r.json()["choices"][0]["logprobs"]["content"]
    tokens = split_tokens(REPLY)
    assert [e["token"] for e in content] == tokens
    for i, e in enumerate(content):
        assert set(e) == {"token", "logprob", "bytes", "top_logprobs"}
        assert e["bytes"] == list(e["token"].encode("utf-8"))
        assert e["logprob"] == pytest.approx(-0.1 - 0.3 * (i % 5))
        assert len(e["top_logprobs"]) == 3
        assert all(set(t) == {"token", "logprob", "bytes"} for t in e["top_logprobs"])
        lps = [t["logprob"] for t in e["top_logprobs"]]
        assert lps == sorted(lps, reverse=True)


def test_logprobs_without_alternatives(client):
    content = client.post(CHAT, json={"messages": HELLO, "logprobs": True}).json()["choices"][0]["logprobs"]["content"]
    assert all(e["top_logprobs"] == [] for e in content)


def test_a_stream_is_server_sent_events_ending_in_done(client):
    with client.stream("POST", CHAT, json={"messages": HELLO, "stream": True, "logprobs": True, "top_logprobs": 2,
                                           "stream_options": {"include_usage": True}}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        chunks = sse_payloads(list(r.iter_lines()))
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    token_chunks = [c for c in chunks if c["choices"] and c["choices"][0]["delta"].get("content")]
    assert "".join(c["choices"][0]["delta"]["content"] for c in token_chunks) == REPLY
    assert all(len(c["choices"][0]["logprobs"]["content"][0]["top_logprobs"]) == 2 for c in token_chunks)
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert [c["choices"][0]["finish_reason"] for c in finals] == ["stop"]
    streamed = [e["token"] for c in token_chunks for e in c["choices"][0]["logprobs"]["content"]]
    assert streamed == split_tokens(REPLY)  # the content's tokens, not the end-of-turn token
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == len(token_chunks) + 1


@pytest.mark.parametrize("change, param", [
    ({"n": 2}, "n"),
    ({"top_logprobs": 21, "logprobs": True}, "top_logprobs"),
    ({"top_logprobs": -1, "logprobs": True}, "top_logprobs"),
    ({"top_logprobs": 3}, "top_logprobs"),  # without logprobs
    ({"temperature": -0.1}, "temperature"),
    ({"temperature": "hot"}, "temperature"),
    ({"top_p": 0}, "top_p"),
    ({"max_tokens": 0}, "max_tokens"),
    ({"max_tokens": 3, "max_completion_tokens": 4}, "max_tokens"),
    ({"seed": -1}, "seed"),
    ({"presence_penalty": 2.5}, "presence_penalty"),
    ({"min_p": 1.0}, "min_p"),
    ({"top_k": -3}, "top_k"),
    ({"repetition_penalty": 0}, "repetition_penalty"),
    ({"stop": ""}, "stop"),
    ({"stop": ["a", "a"]}, "stop"),
    ({"stop": [str(i) for i in range(17)]}, "stop"),
    ({"messages": []}, "messages"),
    ({"messages": "hello"}, "messages"),
    ({"messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}, "messages[1].role"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "system", "content": "b"},
                   {"role": "user", "content": "c"}]}, "messages[1].role"),
    ({"messages": [{"role": "system", "content": "only a system prompt"}]}, "messages[0].role"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}, None),
    ({"stream": "yes please"}, "stream"),
])
def test_wrong_fields_are_openai_shaped_400s(client, change, param):
    error = assert_error(client.post(CHAT, json={"messages": HELLO} | change), 400, "any" if param is None else param)
    assert error["type"] == "invalid_request_error"


def test_bodies_that_are_not_requests_are_400s(client):
    assert_error(client.post(CHAT, content=b"{not json", headers={"content-type": "application/json"}), 400, None)
    assert_error(client.post(CHAT, json=[1, 2]), 400)
    assert_error(client.post(CHAT, json={}), 400, "messages")


def test_unknown_paths_and_methods_are_openai_shaped(client):
    assert_error(client.get("/v1/nothing"), 404)
    assert_error(client.get(CHAT), 405)


def test_a_request_longer_than_the_context_window_says_by_how_much(client, session):
    long = " ".join(["word"] * 3000)  # the fake counts words; its window is 2048
    error = assert_error(client.post(CHAT, json={"messages": [{"role": "user", "content": long}]}), 400, "messages")
    assert error["code"] == "context_length_exceeded"
    assert "2,048" in error["message"] and "3,000" in error["message"] and "953 tokens too many" in error["message"]
    error = assert_error(client.post(CHAT, json={"messages": HELLO, "max_tokens": 2047}), 400, "messages")
    assert "1 tokens too many" in error["message"]
    assert session.requests == []  # nothing reached the model
    streamed = client.post(CHAT, json={"messages": [{"role": "user", "content": long}], "stream": True})
    assert_error(streamed, 400, "messages")  # an error before the first token is still an HTTP error


def test_an_engine_failure_is_an_error_not_a_crash(client):
    error = assert_error(client.post(CHAT, json={"messages": [{"role": "user", "content": "explode"}]}), 500)
    assert error["type"] == "server_error"
    assert client.post(CHAT, json={"messages": HELLO}).status_code == 200  # the model thread goes on


def test_bodies_are_bounded(session, threads):
    with TestClient(create_app(ServedModel(session, "m"), threads(), body_limit=1000)) as c:
        error = assert_error(c.post(CHAT, json={"messages": [{"role": "user", "content": "x" * 2000}]}), 413)
        assert error["code"] == "request_too_large"
        assert c.post(CHAT, json={"messages": HELLO}).status_code == 200


def test_an_api_key_is_required_when_set(session, threads):
    with TestClient(create_app(ServedModel(session, "m"), threads(), api_key="s3cret")) as c:
        assert assert_error(c.get("/v1/models"), 401)["code"] == "invalid_api_key"
        assert_error(c.get("/v1/models", headers={"Authorization": "Bearer wrong"}), 401)
        assert c.get("/v1/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_no_cors_headers(client):
    r = client.options(CHAT, headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers
    r = client.get("/v1/models", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in r.headers


def test_a_full_queue_is_refused_with_429_and_when_to_retry(session, threads):
    with TestClient(create_app(ServedModel(session, "m"), threads(max_waiting=0))) as c:
        for path, body in ((CHAT, {"messages": HELLO}), ("/v1/completions", {"prompt": "Once"})):
            r = c.post(path, json=body)
            error = assert_error(r, 429)
            assert error["code"] == "server_busy" and "busy" in error["message"] and "at most 0" in error["message"]
            assert int(r.headers["retry-after"]) >= 1


def test_a_closing_server_refuses_with_503(session, threads):
    thread = threads()
    with TestClient(create_app(ServedModel(session, "m"), thread)) as c:
        thread.close()
        error = assert_error(c.post(CHAT, json={"messages": HELLO}), 503)
        assert error["code"] == "server_shutting_down" and "shutting down" in error["message"]
        assert "retry-after" not in r.headers if (r := c.get("/v1/models")) else True


def test_the_model_thread_runs_one_request_at_a_time_in_order(threads):
    thread = threads(max_waiting=2)
    gate, order, done = threading.Event(), [], threading.Event()

    def work(name):
        def run(_should_stop):
            gate.wait(5)
            order.append(name)
            yield name
        return run

    thread.submit(work("a"), lambda item: None)
    deadline = time.monotonic() + 5
    while not thread.busy and time.monotonic() < deadline:
        time.sleep(0.01)
    thread.submit(work("b"), lambda item: None)
    thread.submit(work("c"), lambda item: done.set() if item is not None and item != "c" else None)
    with pytest.raises(QueueFull):
        thread.submit(work("d"), lambda item: None)
    gate.set()
    assert done.wait(5)
    assert order == ["a", "b", "c"]


def test_a_receiver_that_is_gone_stops_its_job_and_not_the_thread(threads):
    thread = threads()
    produced, got = [], threading.Event()

    def endless(should_stop):
        while not should_stop():
            produced.append(1)
            yield 1

    def gone(_item):
        raise RuntimeError("Event loop is closed")

    thread.submit(endless, gone)
    thread.submit(lambda _stop: iter(["next"]), lambda item: got.set() if item == "next" else None)
    assert got.wait(5)
    assert len(produced) == 1


def test_closing_stops_the_running_request_and_refuses_the_rest(threads):
    thread = threads()
    started, got = threading.Event(), []

    def endless(should_stop):
        started.set()
        while not should_stop():
            time.sleep(0.001)
            yield 1

    thread.submit(endless, lambda item: None)
    assert started.wait(5)
    thread.submit(endless, got.append)
    thread.close(5)
    assert not thread.busy
    assert len(got) == 1 and isinstance(got[0], QueueFull)
    with pytest.raises(QueueFull):
        thread.submit(endless, got.append)


class WatchedSession(FakeSession):
    """An endless fake that records, per token, whether it was asked to stop already."""

    def __init__(self):
        super().__init__("fake.gguf", REPLY, endless=True)
        self.after_stop = 0
        self.finished = threading.Event()

    def stream(self, request, should_stop, progress):
        try:
            for item in super().stream(request, should_stop, progress):
                if should_stop() and getattr(item, "token", None) is not None:
                    self.after_stop += 1
                yield item
        finally:
            self.finished.set()


def test_a_client_that_disconnects_mid_stream_cancels_within_one_token(threads):
    session = WatchedSession()
    with BackgroundServer(create_app(ServedModel(session, "m"), threads())) as server:
        with httpx.Client(timeout=10) as http, http.stream(
            "POST", f"{server.base_url}/chat/completions", json={"messages": HELLO, "stream": True}
        ) as r:
            lines = r.iter_lines()
            got = [line for _, line in zip(range(8), lines, strict=False)]
            assert any('"content"' in line for line in got)
        assert session.finished.wait(10), "the endless reply went on after its client left"
    assert session.after_stop <= 1


def test_a_client_that_gives_up_on_a_whole_answer_cancels_it(threads):
    session = WatchedSession()
    with BackgroundServer(create_app(ServedModel(session, "m"), threads())) as server:
        with pytest.raises(httpx.TimeoutException), httpx.Client(timeout=0.5) as http:
            http.post(f"{server.base_url}/chat/completions", json={"messages": HELLO})
        assert session.finished.wait(10), "the endless reply went on after its client left"


def test_the_openapi_schema_describes_the_endpoints(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/models", "/v1/chat/completions", "/v1/completions"} <= set(paths)


def test_listening_beyond_this_machine_needs_an_api_key():
    assert listen_settings("127.0.0.1", 8321, None).api_key is None
    assert listen_settings("localhost", 8321, None).host == "localhost"
    assert listen_settings("::1", 0, None).port == 0
    with pytest.raises(UnsafeListen):
        listen_settings("0.0.0.0", 8321, None)
    with pytest.raises(UnsafeListen):
        listen_settings("192.168.1.5", 8321, "")
    assert listen_settings("0.0.0.0", 8321, "k" * 8).api_key == "k" * 8
    with pytest.raises(UnsafeListen, match="at least 8"):
        listen_settings("0.0.0.0", 8321, "k")
    with pytest.raises(ValueError, match="not an IP address"):
        listen_settings("my laptop", 8321, None)
    with pytest.raises(ValueError):
        listen_settings("127.0.0.1", 70000, None)


def test_glassbox_serve_imports_no_qt_and_refuses_an_open_bind():
    code = ("import sys; from ui.entry import main; rc = main(['serve', '--host', '0.0.0.0']); "
            "print(rc, any(m.startswith('PySide6') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["2", "False"], out.stderr
    assert "API key" in out.stderr
