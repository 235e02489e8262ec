"""Gemma 3 270M (the real Q4_K_M file) against llama.cpp, fixtures by scripts/make_golden_gemma.py.

- Token ids equal llama.cpp's (SentencePiece from GGUF metadata, BOS added) with special parsing
  on and off; chat prompts rendered by our Gemma template equal llama.cpp's built-in one.
- Next-token log-probabilities against llama.cpp running the same weights expanded to F32, for
  every prompt, one of them past the 512-token sliding window.
- Greedy decoding through `generate` follows llama.cpp F32 token by token.
Skipped when the file is not in the models dir (`python -m engine fetch gemma3-270m`).
"""

from __future__ import annotations

import json
from pathlib import Path

import mlx.core as mx
import mlx.nn as nn
import numpy as np
import pytest

from engine import model_catalog, native
from engine.loading import WeightPolicy, load
from engine.native_modules import NativeQuantizedEmbedding
from tests.engine.test_golden import Bounds, compare, full_logprobs, greedy_events

GOLDEN = Path(__file__).resolve().parent.parent / "fixtures" / "golden_gemma3"
MODEL = model_catalog.GEMMA3_270M
pytestmark = pytest.mark.skipif(
    not (GOLDEN / "logprobs.json").exists() or not model_catalog.path_of(MODEL).is_file(),
    reason="run `python -m engine fetch gemma3-270m` (and scripts/make_golden_gemma.py)",
)


def _fixture(name: str) -> dict:
    path = GOLDEN / name
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"cases": [], "model_sha256": None}


TOKENS, LOGPROBS, GREEDY = _fixture("tokens.json"), _fixture("logprobs.json"), _fixture("greedy.json")
CASES = {c["name"]: c for c in LOGPROBS["cases"]}
# Measured (docs/correctness.md) -> bound: a little above what was measured.
#  vs "f32": gap 5.6e-3, KL 3.5e-6 -> 7e-3, 5e-6. Looser than the default model's (1e-4, 5e-10) for a
#  reason of llama.cpp's, not ours: its CPU GELU looks the activation up in a float16 table
#  (ggml-cpu/vec.h, GGML_GELU_FP16), which Gemma's GeGLU MLP uses and SmolLM2's SwiGLU does not.
#  Our float32 pass equals a float64 numpy pass of the same weights to 2e-5
#  (scripts/gemma_float64_check.py); emulating the table there brings llama.cpp to 1.6e-3.
F32 = Bounds(gap=7e-3, kl=5e-6)
STORED = Bounds(gap=0.06, kl=3e-4)  # without the kernels: Q6_K re-quantized to 8 bits (measured 0.046, 1.65e-4)


@pytest.fixture(scope="module")
def gemma():
    """Float32, whatever this machine's default policy (with Glassbox's CPU kernels built it is
    "stored": see the last test)."""
    return load(model_catalog.path_of(MODEL), WeightPolicy("float32"))


def test_fixtures_belong_to_this_file_and_cover_enough():
    assert {TOKENS["model_sha256"], LOGPROBS["model_sha256"], GREEDY["model_sha256"]} == {MODEL.sha256}
    assert len(TOKENS["cases"]) >= 80 and len(CASES) >= 12 and len(GREEDY["cases"]) >= 3
    assert max(len(c["ids"]) for c in CASES.values()) > 512  # past the sliding window


def test_model_info_says_base_model_family_template_and_licence(gemma):
    info = gemma.info
    assert info.architecture == "gemma3" and info.base_model
    assert info.chat_template.startswith("Gemma") and info.license == "gemma"
    assert info.license_file and Path(info.license_file).read_text(errors="replace").count("Gemma") > 3


@pytest.mark.parametrize("special", [False, True], ids=["plain", "special"])
@pytest.mark.parametrize("case", TOKENS["cases"], ids=lambda c: repr(c["text"][:24]))
def test_token_ids_equal_llama_cpp(gemma, case, special):
    expected = case["ids_special" if special else "ids"]
    bos = gemma.tokenizer.bos_id
    if expected[:2] == [bos, bos]:
        # "<bos>text" with special parsing: llama.cpp adds a BOS before the one the text names
        # (and warns "the final prompt starts with 2 BOS tokens"); we deliberately add none
        # (tests/engine/test_tokenizer.py::test_eos_and_bos). Every other id must be equal.
        expected = expected[1:]
    assert gemma.tokenizer.encode(case["text"], special=special) == expected


@pytest.mark.parametrize("name", list(CASES))
def test_prompts_tokenize_like_llama_cpp(gemma, name):
    case = CASES[name]
    if "messages" in case:  # our Gemma template against llama.cpp's built-in one
        assert gemma.tokenizer.encode_chat(case["messages"]) == case["ids"]
    else:
        assert gemma.tokenizer.encode(case["text"]) == case["ids"]


@pytest.mark.parametrize("name", list(CASES))
def test_next_token_logprobs_equal_llama_cpp_f32(gemma, name):
    c = compare(full_logprobs(gemma, CASES[name]["ids"]), CASES[name], "f32")
    assert c.top1_same or c.ref_margin <= 2 * F32.gap
    assert c.gap <= F32.gap
    assert c.kl <= F32.kl


@pytest.mark.parametrize("case", GREEDY["cases"], ids=lambda c: c["name"])
def test_greedy_generation_follows_llama_cpp_f32(gemma, case):
    events = greedy_events(gemma, case)
    for i, (ref_id, ref_lp, ref_margin) in enumerate(case["steps"]):
        if ref_margin <= 2 * F32.gap:
            break  # a tie within rounding: the continuations may part here, legitimately
        assert events[i].token == ref_id, f"step {i}"
        assert abs(events[i].logprob - ref_lp) <= F32.gap, f"step {i}"


@pytest.fixture(scope="module")
def gemma_kernels():
    """As the app holds it where Glassbox's CPU kernels are built: every tensor as stored, exactly
    (Q6_K as 6-bit codes in groups of 16), read by the kernels."""
    if not native.available():
        pytest.skip("Glassbox's CPU kernels are not built here")
    return load(model_catalog.path_of(MODEL))


def test_with_the_kernels_every_tensor_is_held_exactly_as_stored(gemma_kernels):
    info = gemma_kernels.info
    assert "re-quantized" not in info.held_as and info.held_as.startswith("as stored")
    assert "scalar" not in info.cpu_kernels  # Q5_0's 5 bits and Q6_K's 6 bits take the AVX2 kernel too
    layers = dict(gemma_kernels.model.named_modules())
    kinds = {(m.bits, m.group_size) for m in layers.values() if isinstance(m, nn.QuantizedLinear)}
    assert kinds == {(4, 32), (5, 32), (6, 16), (8, 32)}  # Q4_K, Q5_0, Q6_K, Q8_0
    emb = gemma_kernels.model.embed_tokens  # the tied head: one compact table, never float32
    assert isinstance(emb, NativeQuantizedEmbedding) and emb.weight.dtype == mx.uint32


@pytest.mark.parametrize("name", list(CASES))
def test_with_the_kernels_next_token_logprobs_meet_the_f32_bounds(gemma_kernels, name):
    """The weights are the file's numbers exactly, so the quantized path meets the bounds of the
    float32 one (only the order of float32 sums differs)."""
    c = compare(full_logprobs(gemma_kernels, CASES[name]["ids"]), CASES[name], "f32")
    assert c.top1_same or c.ref_margin <= 2 * F32.gap
    assert c.gap <= F32.gap
    assert c.kl <= F32.kl


@pytest.mark.parametrize("case", GREEDY["cases"], ids=lambda c: c["name"])
def test_with_the_kernels_greedy_generation_follows_llama_cpp_f32(gemma_kernels, case):
    events = greedy_events(gemma_kernels, case)
    for i, (ref_id, ref_lp, ref_margin) in enumerate(case["steps"]):
        if ref_margin <= 2 * F32.gap:
            break
        assert events[i].token == ref_id, f"step {i}"
        assert abs(events[i].logprob - ref_lp) <= F32.gap, f"step {i}"


def test_held_as_stored_without_the_kernels_the_k_quants_are_in_mlx_affine_layout_and_agree(monkeypatch):
    """The Metal path (MLX's own operations, as on a CPU without the kernels): Q4_K, Q5_0 and Q8_0
    matrices held exactly as stored (MLX's affine layout, group 32, holds them); only the 9 Q6_K
    matrices (16-value groups, which MLX does not take) are re-quantized, to 8 bits.
    Re-quantizing moves the numbers a little, not the answer."""
    monkeypatch.setenv("GLASSBOX_NO_NATIVE", "1")
    native._module.cache_clear()
    try:
        stored = load(model_catalog.path_of(MODEL), WeightPolicy("stored"))
        assert "9 matrices re-quantized" in stored.info.held_as
        case = CASES["plain_capital"]
        c = compare(full_logprobs(stored, case["ids"]), case, "f32")
    finally:
        monkeypatch.delenv("GLASSBOX_NO_NATIVE")
        native._module.cache_clear()
    assert c.top1_same and c.gap <= STORED.gap and c.kl <= STORED.kl


def measure() -> None:
    """Print what the bounds above are set from."""
    lm = load(model_catalog.path_of(MODEL), WeightPolicy("float32"))
    n_ok = sum(
        lm.tokenizer.encode(c["text"], special=s) == c["ids_special" if s else "ids"]
        for c in TOKENS["cases"] for s in (False, True)
    )
    print(f"token ids equal to llama.cpp's: {n_ok}/{2 * len(TOKENS['cases'])}")
    cs = {n: compare(full_logprobs(lm, c["ids"]), c, "f32") for n, c in CASES.items()}
    for n, c in cs.items():
        print(f"{n:>22} {len(CASES[n]['ids']):5d} tokens: top-1 {c.top1_same} gap {c.gap:.2e} kl {c.kl:.2e}")
    print(f"max gap {max(c.gap for c in cs.values()):.2e}, max kl {max(c.kl for c in cs.values()):.2e}, "
          f"median kl {float(np.median([c.kl for c in cs.values()])):.2e}")


if __name__ == "__main__":
    measure()
