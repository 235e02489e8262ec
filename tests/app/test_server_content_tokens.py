"""Logprobs list the answer's content tokens only, as OpenAI's do: never the end-of-turn token the
reply ended on, never the tokens a stop string cut; a token whose text was held back (it might have
begun a stop string) comes with the chunk that carries its text. Chat and plain completions, whole
and streamed, with a fake session that ends its replies on an end-of-turn token of its own and
cuts stop strings with the engine's ReplyText, as the engine does."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from app.server.model_thread import ModelThread
from app.server.routes import ServedModel, create_app
from tests.app.fakes import EOS_PIECE, REPLY, FakeSession, byte_pieces, split_tokens

CHAT, TEXT = "/v1/chat/completions", "/v1/completions"
WORDS = split_tokens(REPLY)  # Hello | ␣**world**, | ␣this | ␣is | ␣a | ␣*fake* | ␣reply.


def serve(reply=REPLY):
    session = FakeSession("fake.gguf", reply, endless=False)
    thread = ModelThread()
    return TestClient(create_app(ServedModel(session, "fake-model"), thread)), thread


@pytest.fixture
def client():
    test_client, thread = serve()
    with test_client as c:
        yield c
    thread.close()


def chat(client, stop=None, **fields):
    body = {"messages": [{"role": "user", "content": "Hi"}], "logprobs": True, "top_logprobs": 2, **fields}
    if stop is not None:
        body["stop"] = stop
    r = client.post(CHAT, json=body)
    assert r.status_code == 200, r.text
    return r.json()


def stream(client, path, body) -> list[dict]:
    with client.stream("POST", path, json={**body, "stream": True, "stream_options": {"include_usage": True}}) as r:
        assert r.status_code == 200
        data = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
    assert data[-1] == "[DONE]"
    return [json.loads(d) for d in data[:-1]]


def chat_chunks(client, stop=None) -> list[tuple[str, list[str]]]:
    """(text, logprob tokens) of each chunk that carries a token."""
    body = {"messages": [{"role": "user", "content": "Hi"}], "logprobs": True}
    if stop is not None:
        body["stop"] = stop
    chunks = stream(client, CHAT, body)
    return [(c["choices"][0]["delta"]["content"], [e["token"] for e in c["choices"][0]["logprobs"]["content"]])
            for c in chunks if c["choices"] and c["choices"][0]["logprobs"] is not None]


# (stop strings, the answer's text, its content tokens, tokens the model generated)
CASES = [
    # ends by itself: the end-of-turn token is generated (and counted) but is not content
    (None, REPLY, WORDS, len(WORDS) + 1),
    # " is" is held (it may begin " is a"), " a" completes the stop string: both are cut
    ([" is a"], "Hello **world**, this", WORDS[:3], 5),
    # the stop string begins inside " **world**,": that token is partly content, so it is listed
    (["world"], "Hello **", WORDS[:2], 2),
    # " is" is held (it may begin " is not") and released with " a": nothing is cut
    ([" is not"], REPLY, WORDS, len(WORDS) + 1),
    # "reply." is held (it may begin "reply.!") and released by the end of the turn
    (["reply.!"], REPLY, WORDS, len(WORDS) + 1),
    # the last word's "." is cut: the reply never reached its end-of-turn token
    (["."], REPLY[:-1], WORDS, len(WORDS)),
]


@pytest.mark.parametrize(("stop", "text", "tokens", "generated"), CASES)
def test_chat_logprobs_are_the_contents_tokens(client, stop, text, tokens, generated):
    body = chat(client, stop)
    (choice,) = body["choices"]
    assert choice["message"]["content"] == text and choice["finish_reason"] == "stop"
    content = choice["logprobs"]["content"]
    assert [e["token"] for e in content] == tokens
    assert EOS_PIECE not in [e["token"] for e in content]
    assert body["usage"]["completion_tokens"] == generated  # what the model generated, cut tokens too
    assert b"".join(bytes(e["bytes"]) for e in content).decode().startswith(text)


@pytest.mark.parametrize(("stop", "text", "tokens", "generated"), CASES)
def test_a_streams_chunks_carry_the_tokens_of_their_own_text(client, stop, text, tokens, generated):
    chunks = chat_chunks(client, stop)
    assert "".join(t for t, _ in chunks) == text
    assert [tok for _, toks in chunks for tok in toks] == tokens
    assert all(piece for piece, toks in chunks if toks)  # a token comes with (the start of) its text


def test_a_held_token_comes_with_the_chunk_that_releases_its_text(client):
    chunks = chat_chunks(client, [" is not"])
    assert ("", []) in chunks  # " is" might have begun the stop string: nothing yet
    assert (" is a", [" is", " a"]) in chunks
    # " reply." is listed with its " "; the end of the turn releases the rest ("reply." might have begun
    # "reply.!") and adds no token of its own
    assert chat_chunks(client, ["reply.!"])[-2:] == [(" ", [" reply."]), ("reply.", [])]


@pytest.mark.parametrize(("stop", "text", "tokens", "generated"), CASES)
def test_completion_logprobs_and_offsets_are_the_contents(client, stop, text, tokens, generated):
    body = {"prompt": "Once", "logprobs": 2, "max_tokens": 50} | ({} if stop is None else {"stop": stop})
    r = client.post(TEXT, json=body).json()
    (choice,) = r["choices"]
    assert choice["text"] == text and r["usage"]["completion_tokens"] == generated
    lp = choice["logprobs"]
    assert lp["tokens"] == tokens and len(lp["token_logprobs"]) == len(lp["top_logprobs"]) == len(tokens)
    assert lp["text_offset"] == [len("".join(WORDS[:i])) for i in range(len(tokens))]  # where each one starts

    chunks = [c["choices"][0] for c in stream(client, TEXT, body) if c["choices"] and c["choices"][0]["logprobs"]]
    assert "".join(c["text"] for c in chunks) == text
    assert [t for c in chunks for t in c["logprobs"]["tokens"]] == tokens
    assert [o for c in chunks for o in c["logprobs"]["text_offset"]] == lp["text_offset"]


def test_a_character_split_across_tokens_lists_every_token_of_it():
    reply = byte_pieces("naïve", cut=[2, 3])  # "na" | the first byte of "ï" | its second byte + "ve"
    assert [text for text, _ in reply] == ["na", "", "ïve"]
    test_client, thread = serve(reply)
    try:
        with test_client as c:
            content = chat(c)["choices"][0]["logprobs"]["content"]
            chunks = chat_chunks(c)
    finally:
        thread.close()
    assert [e["token"] for e in content] == [piece for _, piece in reply]
    assert b"".join(bytes(e["bytes"]) for e in content) == "naïve".encode()
    assert chunks == [("na", ["na"]), ("", []), ("ïve", [reply[1][1], reply[2][1]])]
