"""`POST /v1/completions` (a raw prompt, no chat template) with a fake session: the request reaches
the engine as a raw prompt, the answer is a `text_completion` with logprobs in the completions
shape, whole and streamed, and what is not supported (echo, suffix, several prompts) is a 400."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from app.server.model_thread import ModelThread
from app.server.request_log import RequestLog
from app.server.routes import ServedModel, create_app
from tests.app.fakes import REPLY, FakeSession, split_tokens

TEXT = "/v1/completions"


@pytest.fixture
def session():
    return FakeSession("fake.gguf", REPLY, endless=False)


@pytest.fixture
def log():
    return RequestLog()


@pytest.fixture
def client(session, log):
    thread = ModelThread()
    with TestClient(create_app(ServedModel(session, "fake-model"), thread, requests=log)) as c:
        yield c
    thread.close()


def error_of(response, status: int, param: str | None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] == param
    return error


def test_a_completion_sends_the_prompt_as_it_is(client, session):
    prompt = "<|im_start|>user\nThe raw text"  # template syntax in a prompt is text, not a template
    r = client.post(TEXT, json={"model": "base", "prompt": prompt, "max_tokens": 50, "temperature": 0,
                                "stop": ["\n\n"], "seed": 3, "presence_penalty": 0.5, "frequency_penalty": -0.5})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["object"] == "text_completion" and body["id"].startswith("cmpl-") and body["model"] == "fake-model"
    (choice,) = body["choices"]
    assert choice["text"] == REPLY and choice["index"] == 0 and choice["finish_reason"] == "stop"
    assert choice["logprobs"] is None
    generated = len(split_tokens(REPLY)) + 1  # with the end-of-turn token (translate.usage)
    assert body["usage"] == {"prompt_tokens": 10, "completion_tokens": generated, "total_tokens": 10 + generated,
                             "prompt_tokens_details": {"cached_tokens": 0}}
    (request,) = session.requests
    assert request.raw_prompt == prompt and request.history == () and request.system_prompt == ""
    assert request.stop_strings == ("\n\n",) and request.sampling.seed == 3
    assert request.sampling.presence_penalty == 0.5 and request.sampling.frequency_penalty == -0.5
    assert request.max_new_tokens == 50 and request.context_length == 2048


def test_the_default_length_is_openais_16_tokens(client, session):
    assert client.post(TEXT, json={"prompt": "Once"}).status_code == 200
    assert session.requests[-1].max_new_tokens == 16
    assert client.post(TEXT, json={"prompt": ["Once"]}).status_code == 200  # a list of one prompt


def test_logprobs_have_the_completions_shape(client):
    r = client.post(TEXT, json={"prompt": "Once", "logprobs": 3, "max_tokens": 50}).json()
    (choice,) = r["choices"]
    lp = choice["logprobs"]
    words = split_tokens(REPLY)
    assert set(lp) == {"tokens", "token_logprobs", "top_logprobs", "text_offset"}
    assert lp["tokens"] == words
    assert lp["text_offset"] == [len("".join(words[:i])) for i in range(len(words))]
    assert [choice["text"][o:o + len(t)] for o, t in zip(lp["text_offset"], lp["tokens"], strict=True)] == words
    for i, (logprob, top) in enumerate(zip(lp["token_logprobs"], lp["top_logprobs"], strict=True)):
        assert logprob == pytest.approx(-0.1 - 0.3 * (i % 5))
        assert len(top) == 3 and list(top.values()) == sorted(top.values(), reverse=True)
    none = client.post(TEXT, json={"prompt": "Once", "logprobs": 0}).json()["choices"][0]["logprobs"]
    assert none["top_logprobs"][0] == {} and len(none["token_logprobs"]) == len(none["tokens"])


def test_a_stream_is_text_completion_chunks_ending_in_done(client, log):
    with client.stream("POST", TEXT, json={"prompt": "Once", "stream": True, "logprobs": 2, "max_tokens": 50,
                                           "stream_options": {"include_usage": True}}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        data = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    chunks = [json.loads(d) for d in data[:-1]]
    assert all(c["object"] == "text_completion" for c in chunks) and len({c["id"] for c in chunks}) == 1
    texts = [c["choices"][0] for c in chunks if c["choices"] and c["choices"][0]["text"]]
    assert "".join(t["text"] for t in texts) == REPLY
    offsets = [t["logprobs"]["text_offset"][0] for t in texts]
    assert offsets == [len("".join(split_tokens(REPLY)[:i])) for i in range(len(texts))]
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "stop"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == len(texts) + 1
    (served,) = log.recent()
    assert served.endpoint == "completions" and served.prompt == "Once" and served.done
    assert served.text == REPLY and served.finish_reason == "stop" and log.running == 0


@pytest.mark.parametrize(("change", "param", "words"), [
    ({"echo": True}, "echo", "echo is not supported"),
    ({"suffix": "end"}, "suffix", "suffix is not supported"),
    ({"prompt": ["a", "b"]}, "prompt", "one prompt per request"),
    ({"prompt": [1, 2, 3]}, "prompt", "prompt"),
    ({"best_of": 2}, "best_of", "best_of"),
    ({"n": 2}, "n", "n"),
    ({"logprobs": 21}, "logprobs", "logprobs"),
    ({"stop": ["x"] * 5}, "stop", "stop"),
    ({"temperature": -1}, "temperature", "temperature"),
])
def test_what_is_not_supported_is_a_400_naming_it(client, session, change, param, words):
    error = error_of(client.post(TEXT, json={"prompt": "Once"} | change), 400, param)
    assert words in error["message"]
    assert session.requests == []


def test_a_prompt_longer_than_the_context_says_by_how_much(client, session):
    long = " ".join(["word"] * 3000)  # the fake counts words; its window is 2048
    error = error_of(client.post(TEXT, json={"prompt": long}), 400, "prompt")
    assert error["code"] == "context_length_exceeded"
    assert "the prompt is 3,000 tokens" in error["message"] and "968 tokens too many" in error["message"]
    error = error_of(client.post(TEXT, json={"prompt": "Once", "max_tokens": 2048}), 400, "prompt")
    assert "1 tokens too many" in error["message"]
    assert session.requests == []
