"""Golden fixtures for Gemma 3 270M (`python -m engine fetch gemma3-270m`) from llama.cpp.

Run with the reference venv's python (llama-cpp-python pinned there and nowhere else; made by
scripts/make_reference_venv.sh), from the repository root:

    "$(bash scripts/make_reference_venv.sh)" scripts/make_golden_gemma.py \
        --model "$(.venv/bin/python -m engine fetch gemma3-270m --accept-licence)"

It writes tests/fixtures/golden_gemma3/{tokens,logprobs,greedy}.json, as scripts/make_golden.py
does for the default model (same strings and helpers), with what differs for this file:
- BOS: the file's `add_bos_token` is true, so ids are recorded with BOS, as llama.cpp adds it.
- Special-token strings of Gemma's vocabulary (<start_of_turn>, <end_of_turn>, <bos>, runs of
  spaces, tabs and newlines, which are user-defined tokens matched even with special parsing off).
- Chat prompts: the file has no chat template, so llama.cpp's own built-in "gemma" template
  renders them (llama_chat_apply_template), independent of ours.
- Prompts reach past the 512-token sliding window of the local layers.
- Only the "f32" reference (the file's weights expanded to F32 by llama.cpp's quantize tool).
Only numpy and llama_cpp: nothing from engine/.
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import tempfile
from pathlib import Path

import llama_cpp
from llama_cpp import Llama

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_golden as base  # noqa: E402  (the shared strings, prompts and helpers)

OUT_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "golden_gemma3"
N_CTX = 2048
GREEDY_PROMPTS = ("plain_capital", "plain_code", "chat_short", "plain_past_window")

GEMMA_STRINGS = [
    "<start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n",
    "<bos>text", "<end_of_turn><end_of_turn>", " <start_of_turn> spaced ", "<start_of_turn", "a<eos>b",
    "two  spaces, three   spaces,\tone tab,\t\t\ttwo tabs", "\n\n\n\n\n\n\n\n", "x\n\n\ny",
    "<start_of_image>", "[multimodal]", "<unused0> <mask>",
]
TOKEN_STRINGS = base.TOKEN_STRINGS + GEMMA_STRINGS

PAST_WINDOW = base.LONG_PROSE + "\n\n" + base.CODE_PY + "\n\n" + base.CODE_C + "\n\n" + base.LONG_PROSE
PROMPTS = [p for p in base.PROMPTS if "text" in p] + [
    {"name": "plain_past_window", "text": PAST_WINDOW + "\n\nThe keeper recorded the arrival of the"},
] + [p for p in base.PROMPTS if "messages" in p and p["name"] != "chat_system"] + [
    {"name": "chat_system", "messages": [  # Gemma has no system role: it opens the user turn
        {"role": "system", "content": base.SYSTEM},
        {"role": "user", "content": "Name three primary colours."},
    ]},
]


def make_tokens(model: Path) -> list[dict]:
    vocab = Llama(str(model), vocab_only=True, verbose=False)
    return [
        {"text": t, "ids": vocab.tokenize(t.encode(), add_bos=True, special=False),
         "ids_special": vocab.tokenize(t.encode(), add_bos=True, special=True)}
        for t in TOKEN_STRINGS
    ]


def render_gemma(messages: list[dict]) -> str:
    """llama.cpp's built-in "gemma" chat template (its C++ code, not a Jinja file)."""
    chat = (llama_cpp.llama_chat_message * len(messages))(
        *[llama_cpp.llama_chat_message(role=m["role"].encode(), content=m["content"].encode()) for m in messages]
    )
    buf = ctypes.create_string_buffer(1 << 16)
    n = llama_cpp.llama_chat_apply_template(b"gemma", chat, len(messages), True, buf, len(buf))
    if n < 0 or n > len(buf):
        raise SystemExit("llama_chat_apply_template failed")
    return buf.raw[:n].decode()


def prompt_ids(vocab: Llama) -> list[dict]:
    cases = []
    for prompt in PROMPTS:
        special = "messages" in prompt
        text = render_gemma(prompt["messages"]) if special else prompt["text"]
        ids = vocab.tokenize(text.encode(), add_bos=True, special=special)
        if len(ids) >= N_CTX:
            raise SystemExit(f"prompt {prompt['name']} is {len(ids)} tokens; raise N_CTX")
        cases.append({**prompt, "text": text, "special": special, "ids": [int(i) for i in ids]})
    return cases


def reference(model: Path) -> Llama:
    return Llama(str(model), n_ctx=N_CTX, n_batch=512, logits_all=True, n_threads=2, seed=0,
                 type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32, verbose=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="gemma-3-270m-q4_k_m.gguf")
    ap.add_argument("--out", type=Path, default=OUT_DIR)
    args = ap.parse_args()
    model = Path(args.model)
    head = base.header(model, base.sha256(model)) | {"generator": "scripts/make_golden_gemma.py"}
    args.out.mkdir(parents=True, exist_ok=True)
    tokens = make_tokens(model)
    base.write_json(args.out / "tokens.json", {**head, "add_bos": True, "cases": tokens})
    cases = prompt_ids(Llama(str(model), vocab_only=True, verbose=False))
    base.GREEDY_PROMPTS = GREEDY_PROMPTS
    with tempfile.TemporaryDirectory() as tmp:
        f32 = Path(tmp) / "f32.gguf"
        base.expand_to_f32(model, f32)
        llm = reference(f32)
        base.next_token_top(llm, cases, "f32")
        greedy = base.greedy_steps(llm, cases)
    base.write_json(args.out / "logprobs.json", {
        **head, "top_k": base.TOP_K, "references": {"f32": base.REFERENCES["f32"]},
        "logprobs": "float64 log-softmax of llama.cpp's float32 logits over the full vocabulary",
        "cases": cases,
    })
    base.write_json(args.out / "greedy.json", {**head, "weights": base.REFERENCES["f32"], "cases": greedy})
    print(f"wrote {args.out}: {len(tokens)} strings, {len(cases)} prompts, {len(greedy)} greedy")


if __name__ == "__main__":
    main()
