"""The official `openai` client against the real server (uvicorn on 127.0.0.1, a free port) and the
real default model: chat, stream, logprobs with top_logprobs, stop strings, seeds, a cancelled
stream, the prompt cache, and numbers equal to the engine's own for the same request."""

from __future__ import annotations

import pytest

from app.backend import EngineSession, ReplyDone
from app.server import translate
from app.server.background import BackgroundServer
from app.server.model_thread import ModelThread
from app.server.routes import ServedModel, create_app
from app.server.schemas import ChatCompletionRequest, CompletionRequest
from app.settings import CacheConfig
from engine import default_model

openai = pytest.importorskip("openai")
pytestmark = pytest.mark.slow

QUESTION = [{"role": "user", "content": "Name three colours of the rainbow."}]


@pytest.fixture(scope="module")
def served(default_lm):
    return ServedModel(EngineSession(default_lm, "glassbox-default", "default"), "glassbox-default")


@pytest.fixture(scope="module")
def server(served):
    thread = ModelThread()
    with BackgroundServer(create_app(served, thread)) as running:
        yield running
    thread.close()


@pytest.fixture(scope="module")
def client(server):
    with openai.OpenAI(base_url=server.base_url, api_key="not-needed", max_retries=0, timeout=120) as c:
        yield c


def engine_reply(served: ServedModel, messages=QUESTION, **fields):
    """The same request straight through the session (what the window's worker does): tokens, stats."""
    call = translate.chat_call(ChatCompletionRequest(messages=messages, **fields), CacheConfig())
    request = translate.fit_context(call, served.prompt_tokens(call.messages), served.context_length)
    items = list(served.session.stream(request, lambda: False, lambda _d, _t: None))
    return [i for i in items if not isinstance(i, ReplyDone) and i.token is not None], items[-1].stats


def test_models(client):
    assert [m.id for m in client.models.list()] == ["glassbox-default"]


def test_a_chat_equals_the_engines_reply(client, served):
    r = client.chat.completions.create(model="anything", messages=QUESTION, temperature=0, max_tokens=12,
                                       logprobs=True, top_logprobs=5)
    choice = r.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason in ("stop", "length")
    assert r.usage.completion_tokens == len(choice.logprobs.content) <= 12
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    tokens, stats = engine_reply(served, temperature=0, max_tokens=12, logprobs=True, top_logprobs=5)
    assert "".join(t.text for t in tokens) == choice.message.content
    assert r.usage.prompt_tokens == stats["prompt_tokens"]
    for event, entry in zip(tokens, choice.logprobs.content, strict=True):
        assert entry.token == event.piece
        assert entry.logprob == pytest.approx(event.logprob, abs=1e-5)
        assert len(entry.top_logprobs) == 5
        assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob, abs=1e-6)  # greedy: the best
        assert [a.token for a in entry.top_logprobs] == [a[1] for a in event.top_raw[:5]]
    data = b"".join(bytes(e.bytes) for e in choice.logprobs.content)
    assert data.decode("utf-8") == choice.message.content


SHORT = [{"role": "user", "content": "Say hello."}]  # the default model answers in a few words and ends


def streamed_logprobs(client, **fields):
    """(text, logprob entries) of a streamed chat, gathered from its chunks."""
    text, entries = [], []
    with client.chat.completions.create(model="m", stream=True, **fields) as stream:
        for chunk in stream:
            for choice in chunk.choices:
                text.append(choice.delta.content or "")
                entries += choice.logprobs.content if choice.logprobs and choice.logprobs.content else []
    return "".join(text), entries


def test_the_end_of_turn_token_is_counted_but_not_content(client, served):
    """A reply that ends by itself ends on <|im_end|>: the window shows it as the reply's last token
    and usage counts it, but OpenAI's logprobs list the content's tokens only."""
    ask = {"messages": SHORT, "temperature": 0, "max_tokens": 60, "logprobs": True, "top_logprobs": 3}
    r = client.chat.completions.create(model="m", **ask)
    (choice,) = r.choices
    tokens, stats = engine_reply(served, **ask)  # what the window shows for the same request
    eos = tokens[-1]
    assert eos.finish_reason == "eos" and eos.token in served.session.lm.tokenizer.eos_ids, "did not end by itself"
    assert choice.finish_reason == "stop" and choice.message.content == "".join(t.text for t in tokens)
    assert [e.token for e in choice.logprobs.content] == [t.piece for t in tokens[:-1]]
    assert eos.piece not in [e.token for e in choice.logprobs.content]
    for event, entry in zip(tokens, choice.logprobs.content, strict=False):
        assert entry.logprob == pytest.approx(event.logprob, abs=1e-5)
        assert [a.logprob for a in entry.top_logprobs] == pytest.approx([a[2] for a in event.top_raw[:3]], abs=1e-5)
    assert r.usage.completion_tokens == stats["generated_tokens"] == len(tokens) == len(choice.logprobs.content) + 1
    assert b"".join(bytes(e.bytes) for e in choice.logprobs.content).decode() == choice.message.content
    text, entries = streamed_logprobs(client, **ask)
    assert text == choice.message.content
    assert [(e.token, e.logprob) for e in entries] == [(e.token, e.logprob) for e in choice.logprobs.content]
    plain = client.completions.create(model="m", prompt="Hello", temperature=0, max_tokens=60, logprobs=1)
    if plain.choices[0].finish_reason == "stop":  # a plain completion that reached an end-of-text token
        assert plain.usage.completion_tokens == len(plain.choices[0].logprobs.tokens) + 1


def test_tokens_cut_by_a_stop_string_are_not_listed(client, served):
    ask = {"messages": QUESTION, "temperature": 0, "max_tokens": 16, "logprobs": True}
    free = client.chat.completions.create(model="m", **ask).choices[0]
    tokens = free.logprobs.content
    assert len(tokens) >= 6, free.message.content
    cut = len(b"".join(bytes(e.bytes) for e in tokens[:4]).decode())  # a stop string starting the 5th token
    stop = free.message.content[cut:cut + 4]
    assert stop.strip() and free.message.content.index(stop) == cut, free.message.content
    r = client.chat.completions.create(model="m", stop=[stop], **ask)
    (choice,) = r.choices
    assert choice.finish_reason == "stop" and choice.message.content == free.message.content[:cut]
    assert [(e.token, e.logprob) for e in choice.logprobs.content] == [(e.token, e.logprob) for e in tokens[:4]]
    engine_tokens, stats = engine_reply(served, stop=[stop], **ask)
    assert r.usage.completion_tokens == stats["generated_tokens"] == len(engine_tokens) >= 5  # the cut ones too
    text, entries = streamed_logprobs(client, stop=[stop], **ask)
    assert text == choice.message.content and [e.token for e in entries] == [e.token for e in tokens[:4]]


def test_a_stream_equals_the_whole_answer(client):
    whole = client.chat.completions.create(messages=QUESTION, model="m", temperature=0, max_tokens=10)
    pieces, reasons, usage = [], [], None
    with client.chat.completions.create(messages=QUESTION, model="m", temperature=0, max_tokens=10, stream=True,
                                        stream_options={"include_usage": True}) as stream:
        for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
            for choice in chunk.choices:
                pieces.append(choice.delta.content or "")
                if choice.finish_reason:
                    reasons.append(choice.finish_reason)
    assert "".join(pieces) == whole.choices[0].message.content
    assert reasons == [whole.choices[0].finish_reason]
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_seeds_reproduce_a_sampled_reply(client):
    def ask(seed):
        r = client.chat.completions.create(messages=QUESTION, model="m", temperature=1.0, max_tokens=12, seed=seed)
        return r.choices[0].message.content

    first = ask(1234)
    assert ask(1234) == first
    assert any(ask(seed) != first for seed in (1, 2, 3))


def test_a_stop_string_ends_the_reply_before_it(client):
    free = client.chat.completions.create(messages=QUESTION, model="m", temperature=0, max_tokens=16)
    text = free.choices[0].message.content
    cut = len(text) // 2
    stop = text[cut:cut + 3]
    assert stop.strip(), text
    stopped = client.chat.completions.create(messages=QUESTION, model="m", temperature=0, max_tokens=16, stop=[stop])
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].message.content == text[: text.index(stop)]


def test_a_cancelled_stream_frees_the_model(client):
    stream = client.chat.completions.create(messages=QUESTION, model="m", max_tokens=400, stream=True)
    for n, _chunk in enumerate(stream):
        if n == 2:
            break
    stream.close()
    r = client.chat.completions.create(messages=QUESTION, model="m", temperature=0, max_tokens=2)
    assert r.choices[0].message.content is not None  # served after the cancelled one, not after 400 tokens


def test_a_resent_conversation_reuses_the_cached_prefix(client):
    first = client.chat.completions.create(messages=QUESTION, model="m", temperature=0, max_tokens=6)
    follow = [*QUESTION, {"role": "assistant", "content": first.choices[0].message.content},
              {"role": "user", "content": "And one more?"}]
    again = client.chat.completions.create(messages=follow, model="m", temperature=0, max_tokens=4)
    assert again.usage.prompt_tokens_details.cached_tokens > 0
    assert again.usage.prompt_tokens_details.cached_tokens < again.usage.prompt_tokens


def test_errors_reach_the_client_as_openai_errors(client, served):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(messages=QUESTION, model="m", n=2)
    assert e.value.param == "n"
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(messages=QUESTION, model="m", max_tokens=served.context_length)
    assert e.value.code == "context_length_exceeded" and "too many" in e.value.message


PROMPT = "The three primary colours are"


def engine_completion(served: ServedModel, **fields):
    """A plain completion straight through the session (the raw-prompt path the window would use)."""
    call = translate.completion_call(CompletionRequest(prompt=PROMPT, **fields), CacheConfig())
    request = translate.fit_context(call, served.raw_prompt_tokens(PROMPT), served.context_length)
    items = list(served.session.stream(request, lambda: False, lambda _d, _t: None))
    return [i for i in items if not isinstance(i, ReplyDone) and i.token is not None], items[-1].stats


def test_a_completion_equals_the_engines_on_the_raw_prompt(client, served):
    r = client.completions.create(model="base", prompt=PROMPT, temperature=0, max_tokens=10, logprobs=5)
    (choice,) = r.choices
    tokens, stats = engine_completion(served, temperature=0, max_tokens=10, logprobs=5)
    assert choice.text == "".join(t.text for t in tokens) and choice.text
    tok = served.session.lm.tokenizer
    assert r.usage.prompt_tokens == stats["prompt_tokens"] == len(tok.encode(PROMPT))
    assert r.usage.prompt_tokens < len(tok.encode_chat([{"role": "user", "content": PROMPT}]))  # no template
    lp = choice.logprobs
    assert lp.tokens == [t.piece for t in tokens]
    assert lp.token_logprobs == pytest.approx([t.logprob for t in tokens], abs=1e-5)
    assert [max(top.values()) for top in lp.top_logprobs] == pytest.approx(lp.token_logprobs, abs=1e-6)  # greedy
    assert [choice.text[o:] for o in lp.text_offset] == ["".join(t.text for t in tokens[i:]) for i in range(len(tokens))]


def test_a_streamed_completion_equals_the_whole_one(client):
    whole = client.completions.create(model="m", prompt=PROMPT, temperature=0, max_tokens=8)
    with client.completions.create(model="m", prompt=PROMPT, temperature=0, max_tokens=8, stream=True,
                                   stream_options={"include_usage": True}) as stream:
        chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == whole.choices[0].text
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


def test_completion_stop_seed_and_cache(client):
    free = client.completions.create(model="m", prompt=PROMPT, temperature=0, max_tokens=12).choices[0].text
    stop = free[len(free) // 2:len(free) // 2 + 2]
    assert stop.strip(), free
    stopped = client.completions.create(model="m", prompt=PROMPT, temperature=0, max_tokens=12, stop=stop)
    assert stopped.choices[0].finish_reason == "stop" and stopped.choices[0].text == free[: free.index(stop)]
    ask = lambda seed: client.completions.create(model="m", prompt=PROMPT, temperature=1.0, max_tokens=10,  # noqa: E731
                                                 seed=seed).choices[0].text
    first = ask(99)
    assert ask(99) == first and any(ask(s) != first for s in (1, 2, 3))
    again = client.completions.create(model="m", prompt=PROMPT + free, temperature=0, max_tokens=2)
    assert 0 < again.usage.prompt_tokens_details.cached_tokens < again.usage.prompt_tokens
    with pytest.raises(openai.BadRequestError) as e:
        client.completions.create(model="m", prompt=PROMPT, echo=True)
    assert e.value.param == "echo"


def test_glassbox_serve_serves_until_interrupted(tmp_path):
    """The headless entry point end to end: a subprocess on a free port, one chat, then Ctrl+C."""
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, "-m", "ui.entry", "serve", "--port", str(port), "--model", "default",
         "--data-dir", str(tmp_path / "data"), "--config-dir", str(tmp_path / "config")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0, timeout=60) as c:
            deadline = time.monotonic() + 180
            while True:
                try:
                    models = c.models.list()
                    break
                except openai.APIConnectionError:
                    assert process.poll() is None and time.monotonic() < deadline, "the server did not come up"
                    time.sleep(0.5)
            assert [m.id for m in models] == [default_model.DISPLAY_NAME]
            r = c.chat.completions.create(messages=QUESTION, model="m", temperature=0, max_tokens=3)
            assert r.usage.completion_tokens <= 3
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0, process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
