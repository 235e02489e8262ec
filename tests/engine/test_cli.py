"""The headless CLI contract (DESIGN.md): tokenize, logprobs, generate; JSON fields and errors.

Most tests call `engine.cli.main` in-process with the session's already-loaded default model (the
CLI's `_load` is swapped for it); a few run `python -m engine` for real.
"""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from engine import cli
from engine.next_token import next_token_logprobs

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def call(default_lm, monkeypatch, capsys):
    """call(*argv, stdin=None) -> (exit status, stdout, stderr), in-process, default model preloaded."""
    monkeypatch.setattr(cli, "_load", lambda spec: default_lm)

    def invoke(*argv: str, stdin: str | None = None):
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin or ""))
        status = cli.main(list(argv))
        out, err = capsys.readouterr()
        return status, out, err

    return invoke


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err
    return lines[0]


def run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "engine", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


# ---------------------------------------------------------------------------------------------
# tokenize


def test_tokenize_json(call, default_lm):
    status, out, _ = call("tokenize", "--json", "Hello, world")
    data = json.loads(out)
    tok = default_lm.tokenizer
    assert status == 0 and set(data) == {"ids", "pieces"}
    assert data["ids"] == tok.encode("Hello, world") and data["pieces"] == ["Hello", ",", " world"]


def test_tokenize_special_flag(call):
    assert json.loads(call("tokenize", "--json", "--special", "<|im_start|>")[1])["ids"] == [1]
    assert 1 not in json.loads(call("tokenize", "--json", "<|im_start|>")[1])["ids"]


def test_tokenize_reads_stdin_without_text(call):
    status, out, _ = call("tokenize", "--json", stdin="Hello")
    assert status == 0 and json.loads(out)["pieces"] == ["Hello"]


def test_tokenize_jsonl_batch_answers_each_line(call):
    texts = ["Hello", "日本語 🙂", "<|im_end|>"]
    stdin = "\n".join(json.dumps(t) for t in texts[:2]) + "\n\n" + json.dumps(texts[2]) + "\n"
    status, out, _ = call("tokenize", "--jsonl", "--special", stdin=stdin)
    rows = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and len(rows) == 3  # the blank line is skipped
    for text, row in zip(texts, rows, strict=True):
        assert row == json.loads(call("tokenize", "--json", "--special", text)[1])
    assert rows[2]["ids"] == [2]


@pytest.mark.parametrize(
    "stdin,expected",
    [('"ok"\n[1, 2]\n', "line 2 must be a JSON string"), ('"ok"\nnot json\n', "line 2 is not JSON")],
)
def test_jsonl_refuses_bad_lines(call, stdin, expected):
    status, _, err = call("tokenize", "--jsonl", stdin=stdin)
    assert status == 2 and expected in one_error_line(err)


def test_jsonl_with_a_positional_text_is_refused(call):
    status, _, err = call("tokenize", "--jsonl", "hello")
    assert status == 2 and "--jsonl reads from stdin" in one_error_line(err)


# ---------------------------------------------------------------------------------------------
# logprobs


def test_logprobs_json_fields(call, default_lm):
    status, out, _ = call("logprobs", "--json", "--top", "5", "The capital of France is")
    data = json.loads(out)
    assert status == 0 and set(data) == {"ids", "top"}
    assert data["ids"] == default_lm.tokenizer.encode("The capital of France is")
    assert len(data["top"]) == 5 and all(len(pair) == 2 for pair in data["top"])
    values = [lp for _, lp in data["top"]]
    assert values == sorted(values, reverse=True) and all(lp <= 0 for lp in values)
    assert sum(math.exp(lp) for lp in values) <= 1.0 + 1e-5
    expected = next_token_logprobs(default_lm.model, data["ids"], 5)
    assert [i for i, _ in data["top"]] == [i for i, _ in expected]
    assert default_lm.tokenizer.piece(data["top"][0][0]) == " Paris"


def test_logprobs_jsonl_batch(call):
    status, out, _ = call("logprobs", "--jsonl", "--top", "2", stdin='"Hello"\n"One, two,"\n')
    rows = [json.loads(line) for line in out.splitlines()]
    assert status == 0 and len(rows) == 2 and all(len(r["top"]) == 2 for r in rows)


@pytest.mark.parametrize("argv", [("logprobs", "--json", ""), ("logprobs", "--top", "0", "hi")])
def test_logprobs_bad_input(call, argv):
    status, out, err = call(*argv)
    assert status == 2 and out == ""
    one_error_line(err)


# ---------------------------------------------------------------------------------------------
# generate


def test_generate_json_greedy_is_deterministic(call, default_lm):
    argv = ("generate", "--json", "--max-tokens", "5", "Once upon a time")
    runs = [json.loads(call(*argv)[1]) for _ in range(2)]
    assert runs[0] == runs[1]
    data = runs[0]
    assert set(data) == {"ids", "text", "finish_reason"}
    assert len(data["ids"]) == 5 and data["finish_reason"] == "length"
    assert data["text"] == default_lm.tokenizer.decode(data["ids"])


def test_generate_with_a_seed_is_reproducible(call):
    argv = ("generate", "--json", "--max-tokens", "6", "--temperature", "1.0", "--seed", "7", "Hi")
    assert json.loads(call(*argv)[1]) == json.loads(call(*argv)[1])


def test_generate_chat_stops_at_the_end_of_turn(call):
    status, out, _ = call("generate", "--json", "--chat", "--max-tokens", "16", "Say hi.")
    data = json.loads(out)
    assert status == 0 and data["finish_reason"] in ("eos", "length") and data["text"]
    assert "<|im_end|>" not in data["text"]


def test_generate_streams_plain_text_without_json(call):
    status, out, _ = call("generate", "--max-tokens", "3", "Once upon a time")
    assert status == 0 and out.endswith("\n") and not out.startswith("{")


@pytest.mark.parametrize(
    "argv,expected",
    [
        (("generate", "--json", ""), "the prompt is empty"),
        (("generate", "--json", "   "), "the prompt is empty"),
        (("generate", "--top-p", "7", "hi"), "top-p"),
        (("generate", "--temperature", "-1", "hi"), "temperature"),
        (("generate", "--max-tokens", "0", "hi"), "--max-tokens"),
    ],
)
def test_generate_bad_input_is_one_clear_line(call, argv, expected):
    status, out, err = call(*argv)
    assert status == 2 and out == ""
    assert expected in one_error_line(err)


def test_generate_at_a_vanishing_temperature_is_greedy(call):
    greedy = json.loads(call("generate", "--json", "--max-tokens", "4", "The capital of France is")[1])
    _, out, _ = call("generate", "--json", "--max-tokens", "4", "--temperature", "1e-45", "--seed", "3",
                     "The capital of France is")
    assert json.loads(out)["ids"] == greedy["ids"] and len(set(greedy["ids"])) > 1


@pytest.mark.parametrize(
    "argv,stdin,expected",
    [
        (("tokenize", "a\udc80"), None, "error: the text is not valid UTF-8: byte 0x80 at character 2"),
        (("logprobs", "\udcff"), None, "error: the prompt is not valid UTF-8: byte 0xFF at character 1"),
        (("generate", "hi\udced"), None, "error: the prompt is not valid UTF-8: byte 0xED at character 3"),
        (("tokenize", "--jsonl"), '"ok"\n"a\\ud800"\n', "error: stdin line 2 holds a lone surrogate \\ud800 at character 2"),
        (("logprobs", "--jsonl"), '"\\udfff"\n', "error: stdin line 1 holds a lone surrogate \\udfff at character 1"),
    ],
)
def test_text_that_is_not_text_is_named_in_one_line(call, argv, stdin, expected):
    status, _, err = call(*argv, stdin=stdin)
    assert status == 2 and one_error_line(err).startswith(expected)
    assert "TypeError" not in err


@pytest.mark.parametrize(
    "argv,expected",
    [
        (("generate", "--temperature", "nan", "hi"), "temperature"),
        (("generate", "--repetition-penalty", "1e-45", "hi"), "repetition penalty"),
        (("generate", "--top-p", "inf", "hi"), "top-p"),
    ],
)
def test_generate_refuses_settings_the_app_refuses(call, argv, expected):
    from engine.sampling import SamplingSettings

    status, out, err = call(*argv)
    assert status == 2 and out == "" and expected in one_error_line(err)
    flag, value = argv[1].removeprefix("--").replace("-", "_"), float(argv[2])
    assert SamplingSettings(**{flag: value}).validate()  # the one validation the settings use too


# ---------------------------------------------------------------------------------------------
# the real entry point


def test_python_dash_m_engine_tokenize_and_empty_prompt():
    ok = run_module("tokenize", "--json", "Hello")
    assert ok.returncode == 0 and json.loads(ok.stdout)["pieces"] == ["Hello"]
    bad = run_module("generate", "--json", "")
    assert bad.returncode == 2 and bad.stdout == ""
    assert one_error_line(bad.stderr) == "error: the prompt is empty"


def test_unexpected_exceptions_are_still_one_line(call, monkeypatch):
    def explode(args):
        raise RuntimeError("something deep inside MLX")

    monkeypatch.setattr(cli, "cmd_tokenize", explode)
    status, _, err = call("tokenize", "hi")
    assert status == 2 and "RuntimeError: something deep inside MLX" in one_error_line(err)


@pytest.mark.skipif(sys.platform != "linux", reason="the OpenBLAS note is Linux's: on macOS MLX computes on Metal "
                    "(and Accelerate on the CPU), and never prints it")
def test_without_openblas_the_cli_says_once_how_to_get_the_speed():
    import os

    env = {**os.environ, "GLASSBOX_NO_OPENBLAS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "engine", "tokenize", "--model", "default", "--json", "hi"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env=env,
    )
    assert result.returncode == 0, result.stderr
    notes = [line for line in result.stderr.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and "libopenblas0-pthread" in notes[0]


# ---------------------------------------------------------------------------------------------
# inspect


def test_inspect_json_contract(call, default_lm):
    prompt = "The capital of France is"
    status, out, _ = call("inspect", "--json", "--layer", "29", "--head", "8", "--top", "5", prompt)
    data = json.loads(out)
    ids = default_lm.tokenizer.encode(prompt)
    T = len(ids)
    assert status == 0 and set(data) == {"ids", "attention", "logit_lens", "residual_norms", "next_token"}
    assert data["ids"] == ids
    att = data["attention"]
    assert (att["layer"], att["head"]) == (29, 8) and len(att["weights"]) == T
    for q, row in enumerate(att["weights"]):
        assert len(row) == T and abs(sum(row) - 1.0) < 1e-4 and all(w == 0.0 for w in row[q + 1 :])
    assert len(data["logit_lens"]) == 30 and len(data["residual_norms"]) == 31
    assert data["logit_lens"][-1] == data["next_token"] and len(data["next_token"]) == 5
    real = next_token_logprobs(default_lm.model, ids, 5)
    assert [i for i, _ in real] == [i for i, _ in data["next_token"]]
    assert all(abs(a[1] - b) < 1e-4 for a, (_, b) in zip(data["next_token"], real, strict=True))


def test_inspect_position_and_errors(call, default_lm):
    status, out, _ = call("inspect", "--json", "--position", "1", "--top", "3", "Hello there friend")
    data = json.loads(out)
    real = next_token_logprobs(default_lm.model, data["ids"][:2], 3)
    assert status == 0 and [i for i, _ in data["next_token"]] == [i for i, _ in real]
    for argv, needle in [
        (("--layer", "30"), "layer must be between 0 and 29"),
        (("--head", "9"), "head must be between 0 and 8"),
        (("--position", "99"), "position must be between 0 and"),
        (("--top", "0"), "--top must be at least 1"),
    ]:
        status, _, err = call("inspect", "--json", *argv, "Hello there")
        assert status != 0 and needle in one_error_line(err)
    status, _, err = call("inspect", "--json", "")
    assert status != 0 and "empty" in one_error_line(err)
