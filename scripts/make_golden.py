"""Write golden fixtures from llama.cpp, the independent reference our engine is tested against.

Run it with the reference venv's python (llama-cpp-python lives there and nowhere else; it is
never installed in .venv or in CI), from the repository root:

    /tmp/glassbox-peers/ref/bin/python scripts/make_golden.py \
        --model "$(.venv/bin/python -m engine fetch)"

It writes, under tests/fixtures/golden/:

- tokens.json: llama.cpp's token ids for a wide set of strings, tokenized with special=False and
  special=True (no BOS: the default model's `add_bos_token` is false).
- logprobs.json: for a dozen prompts (plain and ChatML-formatted with the GGUF's own template as
  llama-cpp-python renders it, short and several hundred tokens long) the prompt ids and llama.cpp's
  top-100 next-token log-probabilities (a float64 log-softmax over the full vocabulary) and the
  probability mass outside them, from two references (see REFERENCES): "stored", the file as
  llama.cpp runs it (its CPU kernels quantize activations to 8 bits against the Q4_1/Q8_0
  weights), and "f32", the same weights expanded to F32 by llama.cpp's quantize tool, which is the
  arithmetic our engine does.
- greedy.json: greedy continuations (32 tokens) of a few of those prompts from the "f32" reference,
  token by token, each step's logprob and its margin over the runner-up: the one-token decoding
  path with a growing KV cache, which the next-token fixtures (one prefill each) do not reach.

All files record the llama-cpp-python version and the GGUF's sha256; tests/engine/test_golden.py
skips when the default model on disk is not that file. Only numpy, jinja2 (both in the reference
venv) and llama_cpp are used here: nothing from engine/, so the reference stays independent.
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import tempfile
from pathlib import Path

import llama_cpp
import numpy as np
from llama_cpp import Llama
from llama_cpp.llama_chat_format import Jinja2ChatFormatter

OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "golden"
TOP_K = 100  # stored per prompt; tests compare the top 10 and compute KL over all TOP_K + the rest
N_CTX = 1024
GREEDY_PROMPTS = ("plain_capital", "plain_code", "chat_short", "chat_long", "plain_two_chunks")
GREEDY_TOKENS = 32

REFERENCES = {
    "stored": "the GGUF as stored (Q4_1, embedding Q8_0); llama.cpp's CPU kernels quantize the "
    "activations to 8 bits for these dot products; float32 KV cache",
    "f32": "the same GGUF expanded to F32 by llama.cpp's llama_model_quantize (ftype ALL_F32); "
    "float32 matmuls and KV cache: the same arithmetic as our engine, up to float rounding",
}

LONG_PROSE = (
    "The lighthouse keeper had kept a log for thirty-one years. Every evening at dusk he climbed the "
    "ninety-six steps, trimmed the wick, wound the clockwork that turned the lens, and wrote three "
    "lines in the ledger: the weather, the ships he had seen, and one thing he had noticed that "
    "nobody else would have cared about. On the fourth of March it was a gull with one grey foot. "
    "On the ninth of June, a fishing boat whose crew sang in a language he did not know. When the "
    "lighthouse was automated in the autumn, the engineers who came to install the new lamp found "
    "the ledgers stacked in the storeroom, forty-two of them, each bound in the same dark green "
    "cloth. They did not know what to do with them, so they sent them to the museum in the town, "
    "where a young archivist spent a winter reading every page. She found that the keeper had "
    "recorded the arrival of the swallows each spring, to the day, for three decades; that the "
    "date had crept earlier by almost two weeks; and that nobody had ever written this down "
    "anywhere else. Her short article about the ledgers was read by a climate scientist, who "
    "wrote to her asking whether the keeper had also noted the sea temperature. He had, every "
    "Sunday, with a thermometer lowered on a string from the jetty. The numbers filled a gap in "
    "the record that the scientist had been trying to close for years. The keeper himself never "
    "knew any of this. He had moved inland to live with his sister, and he spent his evenings "
    "writing three lines in a new ledger: the weather, the birds at the feeder, and one thing he "
    "had noticed that nobody else would have cared about."
)

CODE_PY = '''def fibonacci(n: int) -> list[int]:
    """Return the first n Fibonacci numbers."""
    if n <= 0:
        return []
    seq = [0, 1]
    while len(seq) < n:
        seq.append(seq[-1] + seq[-2])
    return seq[:n]


if __name__ == "__main__":
    for i, x in enumerate(fibonacci(10)):
        print(f"{i:>2}: {x}")
'''

CODE_C = """#include <stdio.h>

int main(void) {
    int counts[256] = {0};
    int c;
    while ((c = getchar()) != EOF) {
        counts[(unsigned char)c]++;
    }
    for (int i = 0; i < 256; i++) {
        if (counts[i]) { printf("%3d %d\\n", i, counts[i]); }
    }
    return 0;
}
"""

CODE_JSON = '{"name": "Glassbox", "version": [0, 1, 0], "tags": ["llm", "mlx"], "nested": {"ok": true, "n": null, "pi": 3.14}}'

TOKEN_STRINGS = [
    # whitespace runs and near-empty strings
    " ", "  ", "   ", "\n", "\n\n\n", "\t", "\t x  y", " \n \n ", "a\r\nb\r\n", "trailing   ",
    "  leading", "a  b   c    d", "\u00a0non-breaking\u00a0space", "ideographic\u3000space",
    "zero\u200bwidth", "x\x00y\x7fz",
    # plain English, contractions, case
    "Hello, world!", "I'm sure they'll say we've done what you'd've done, don't you?",
    "DON'T SHOUT. It's OK.", "The quick brown fox jumps over the lazy dog.",
    # code
    CODE_PY, CODE_C, CODE_JSON, "for (i = 0; i < n; ++i) { a[i] = b[i] << 2 | c; }",
    "x = {'a': [1, 2, 3], **kw}  # comment", "SELECT id, name FROM users WHERE age >= 18;",
    r"^\s*(\d{3})-(\d{4})$", "    return self._cache[key]\n\n\n",
    # numbers, including non-ASCII numerals (the "smollm" pre-tokenizer splits every \p{N})
    "12345", "3.14159", "1,000,000", "-42e-7", "0x1F 0b1010", "2026-11-28T19:25:46Z",
    "٣ ½ ² Ⅻ ①", "١٢٣٤٥", "१२३", "１２３", "𝟙𝟚𝟛", "x² + y³ = z⁴", "¼ cup, ¾ tsp", "Ⅰ Ⅱ Ⅲ Ⅳ",
    "room 101, floor 7", "v1.2.3-rc4",
    # emoji: single, skin tone, ZWJ sequences, flags, variation selectors
    "😀", "👍🏽 nice", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷🇯🇵🇧🇷", "❤️ ♥ ☺︎", "I 💖 🦙 and 🐍!",
    # CJK, Korean, RTL, Indic, Cyrillic, Greek, Thai
    "你好，世界！", "日本語のテキストです。カタカナとひらがな。", "漢字", "안녕하세요, 세계!",
    "مرحبا بالعالم", "שלום עולם", "नमस्ते दुनिया", "Привет, мир!", "Γειά σου Κόσμε",
    "สวัสดีครับ",
    # accented Latin, composed and decomposed
    "café naïve façade résumé", "Zürich, Ærøskøbing, Łódź, İstanbul", "e\u0301 vs \u00e9",
    "straße STRASSE",
    # mixed scripts
    "Hello 世界 مرحبا 🌍 Привет", "价格: $12.50 (≈ ¥90)", "العدد 42 هو الجواب",
    # URLs, paths, e-mail
    "https://example.com/path?q=1&lang=en#frag", "user.name+tag@example.co.uk",
    "C:\\Users\\me\\file.txt", "/usr/local/bin/python3.11",
    # special-token text (tokenized both ways below)
    "<|im_start|>user\nhi<|im_end|>",
    "<|im_start|>system\nYou are kind.<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>", "<|im_end|><|im_end|>", " <|im_start|> spaced ", "<|im_start", "a<|im_end|>b",
    # bytes with no token in this vocabulary (0x04, 0x13, 0x1D, lead byte 0xF1): llama.cpp drops them
    "a\x04b", "\x13", "é\x1d", "x\U00040000y",
    # long text
    LONG_PROSE,
]

SYSTEM = "You are a concise assistant."
PROMPTS = [
    {"name": "plain_capital", "text": "The capital of France is"},
    {"name": "plain_counting", "text": "One, two, three, four,"},
    {"name": "plain_code", "text": CODE_PY + "\n\nprint(fibonacci("},
    {"name": "plain_c_code", "text": CODE_C[: CODE_C.index("return 0;")]},
    {"name": "plain_long_prose", "text": LONG_PROSE + "\n\nThe keeper's name was"},
    # longer than one 512-token prefill chunk: the KV cache carries across chunks
    {"name": "plain_two_chunks", "text": LONG_PROSE + "\n\n" + CODE_PY + "\n\n" + CODE_C + "\n\n" + LONG_PROSE
     + "\n\nQuestion: how many ledgers were there? Answer:"},
    {"name": "plain_multilingual", "text": "English: Good morning. Français: Bonjour. Español:"},
    {"name": "plain_numbers", "text": "1, 1, 2, 3, 5, 8, 13, 21,"},
    {"name": "chat_short", "messages": [{"role": "user", "content": "What is the capital of France?"}]},
    {"name": "chat_system", "messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Name three primary colours."},
    ]},
    {"name": "chat_multiturn", "messages": [
        {"role": "user", "content": "Hi! Can you help me with maths?"},
        {"role": "assistant", "content": "Of course. What would you like to work on?"},
        {"role": "user", "content": "What is 12 times 12?"},
    ]},
    {"name": "chat_long", "messages": [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Summarise this story in one sentence:\n\n" + LONG_PROSE},
    ]},
    {"name": "chat_code", "messages": [
        {"role": "user", "content": "What does this function do?\n\n```python\n" + CODE_PY + "```"},
    ]},
    {"name": "chat_emoji_cjk", "messages": [
        {"role": "user", "content": "Translate 你好 into English, and explain 👨‍👩‍👧 in one word."},
    ]},
]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def header(model: Path, digest: str) -> dict:
    return {
        "generator": "scripts/make_golden.py",
        "reference": f"llama-cpp-python {llama_cpp.__version__}",
        "model_file": model.name,
        "model_sha256": digest,
    }


def make_tokens(model: Path) -> list[dict]:
    vocab = Llama(str(model), vocab_only=True, verbose=False)
    cases = []
    for text in TOKEN_STRINGS:
        data = text.encode("utf-8")
        cases.append({
            "text": text,
            "ids": vocab.tokenize(data, add_bos=False, special=False),
            "ids_special": vocab.tokenize(data, add_bos=False, special=True),
        })
    return cases


def log_softmax64(logits: np.ndarray) -> np.ndarray:
    x = logits.astype(np.float64)
    m = x.max()
    return x - (m + np.log(np.exp(x - m).sum()))


def expand_to_f32(model: Path, out: Path) -> None:
    """llama.cpp's own quantize tool, asked for F32: every weight dequantized as llama.cpp does."""
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_ALL_F32
    params.allow_requantize = True
    params.nthread = 2
    if llama_cpp.llama_model_quantize(str(model).encode(), str(out).encode(), ctypes.byref(params)):
        raise SystemExit(f"llama_model_quantize failed on {model}")


def chat_formatter(llm: Llama) -> Jinja2ChatFormatter:
    """The GGUF's own chat template, rendered by llama-cpp-python (not by our engine)."""
    meta = llm.metadata
    text = llm._model.token_get_text
    return Jinja2ChatFormatter(
        meta["tokenizer.chat_template"],
        eos_token=text(int(meta["tokenizer.ggml.eos_token_id"])),
        bos_token=text(int(meta["tokenizer.ggml.bos_token_id"])),
    )


def prompt_ids(llm: Llama, chat: Jinja2ChatFormatter) -> list[dict]:
    cases = []
    for prompt in PROMPTS:
        special = "messages" in prompt
        text = chat(messages=prompt["messages"]).prompt if special else prompt["text"]
        ids = llm.tokenize(text.encode("utf-8"), add_bos=False, special=special)
        if len(ids) >= N_CTX:
            raise SystemExit(f"prompt {prompt['name']} is {len(ids)} tokens; raise N_CTX")
        cases.append({**prompt, "text": text, "special": special, "ids": [int(i) for i in ids]})
    return cases


def reference(model: Path) -> Llama:
    # float32 KV cache: the reference's only approximations are then the ones in its matmuls
    return Llama(str(model), n_ctx=N_CTX, n_batch=512, logits_all=True, n_threads=2, seed=0,
                 type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32, verbose=False)


def next_token_top(llm: Llama, cases: list[dict], label: str) -> None:
    """Adds case["top"][label] (TOP_K [id, logprob], best first) and case["rest_mass"][label]."""
    for case in cases:
        llm.reset()
        llm.eval(case["ids"])
        logprobs = log_softmax64(np.asarray(llm.scores[len(case["ids"]) - 1]))
        order = np.argsort(-logprobs, kind="stable")
        top, rest = order[:TOP_K], order[TOP_K:]
        case.setdefault("top", {})[label] = [[int(i), round(float(logprobs[i]), 7)] for i in top]
        case.setdefault("rest_mass", {})[label] = float(np.exp(logprobs[rest]).sum())
        print(f"{label:>6} {case['name']:>20}: {len(case['ids']):4d} tokens, top-1 {int(top[0])} "
              f"{llm._model.token_get_text(int(top[0]))!r} {logprobs[top[0]]:.4f}")


def greedy_steps(llm: Llama, cases: list[dict]) -> list[dict]:
    """Greedy continuations token by token (the one-token decoding path, KV cache growing):
    per step [id, its logprob, its margin over the runner-up]."""
    eos = int(llm.metadata["tokenizer.ggml.eos_token_id"])
    out = []
    for case in cases:
        if case["name"] not in GREEDY_PROMPTS:
            continue
        llm.reset()
        llm.eval(case["ids"])
        steps = []
        for _ in range(GREEDY_TOKENS):
            logprobs = log_softmax64(np.asarray(llm.scores[llm.n_tokens - 1]))
            first, second = np.argsort(-logprobs, kind="stable")[:2]
            steps.append([int(first), round(float(logprobs[first]), 7),
                          round(float(logprobs[first] - logprobs[second]), 7)])
            if first == eos:
                break
            llm.eval([int(first)])
        out.append({"name": case["name"], "ids": case["ids"], "steps": steps})
        text = llm.detokenize([s[0] for s in steps]).decode("utf-8", "replace")
        print(f"greedy {case['name']:>20}: {text!r}")
    return out


def make_logprobs(model: Path) -> tuple[list[dict], list[dict]]:
    """The logprobs cases (both references) and the greedy cases (the F32 reference)."""
    vocab = Llama(str(model), vocab_only=True, verbose=False)
    cases = prompt_ids(vocab, chat_formatter(vocab))
    next_token_top(reference(model), cases, "stored")
    with tempfile.TemporaryDirectory() as tmp:
        f32 = Path(tmp) / "f32.gguf"
        expand_to_f32(model, f32)
        llm = reference(f32)
        next_token_top(llm, cases, "f32")
        greedy = greedy_steps(llm, cases)
    return cases, greedy


def write_json(path: Path, doc: dict) -> None:
    """Header fields one per line, then one case per line: small, and diffs stay readable."""
    head = {k: v for k, v in doc.items() if k != "cases"}
    lines = [f" {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}," for k, v in head.items()]
    cases = ",\n".join(f"  {json.dumps(c, ensure_ascii=False)}" for c in doc["cases"])
    path.write_text("{\n" + "\n".join(lines) + '\n "cases": [\n' + cases + "\n ]\n}\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="the default GGUF (`python -m engine fetch`)")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args()
    model = Path(args.model)
    digest = sha256(model)
    os.makedirs(args.out, exist_ok=True)
    tokens = {**header(model, digest), "add_bos": False, "cases": make_tokens(model)}
    write_json(args.out / "tokens.json", tokens)
    cases, greedy = make_logprobs(model)
    logprobs = {
        **header(model, digest),
        "top_k": TOP_K,
        "logprobs": "float64 log-softmax of llama.cpp's float32 logits over the full vocabulary",
        "references": REFERENCES,
        "cases": cases,
    }
    write_json(args.out / "logprobs.json", logprobs)
    write_json(args.out / "greedy.json", {**header(model, digest), "weights": REFERENCES["f32"], "cases": greedy})
    print(f"wrote {args.out}/tokens.json ({len(tokens['cases'])} strings), logprobs.json "
          f"({len(cases)} prompts) and greedy.json ({len(greedy)} prompts)")


if __name__ == "__main__":
    main()
