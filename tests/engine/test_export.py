"""Export round trip: the default GGUF, exported to a folder (`python -m engine convert` /
`export_folder`) and loaded back, is the same model: same token ids, same chat template, same
next-token log-probabilities, and still within the llama.cpp bounds of test_golden.py."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from engine import native
from engine.export import export_folder
from engine.loading import WeightPolicy, load
from tests.engine.test_golden import BOUNDS, CASES, SHORT, TOKENS, compare, full_logprobs

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi 👋"}]
SHORTEST = sorted(SHORT, key=lambda n: len(CASES[n]["ids"]))[:3]
SAME_SHAPE = ("architecture", "n_params", "context_length", "n_layers", "n_heads", "n_kv_heads",
              "head_dim", "vocab_size")


@pytest.fixture(scope="module")
def stored_lm(default_model_path):
    return load(default_model_path, WeightPolicy("stored"))


@pytest.fixture(scope="module")
def float32_folder(default_model_path, tmp_path_factory):
    """The CLI's `convert`, as a user runs it, asking for float32 weights."""
    out = tmp_path_factory.mktemp("export") / "smollm2-f32"
    done = subprocess.run(
        [sys.executable, "-m", "engine", "convert", "--model", str(default_model_path), "--weights",
         "float32", str(out)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"wrote {out}"
    return out


@pytest.fixture(scope="module")
def quantized_folder(stored_lm, tmp_path_factory):
    """An MLX-quantized folder: the GGUF's 4-bit layers and 8-bit embedding, as held."""
    return export_folder(stored_lm, tmp_path_factory.mktemp("export") / "smollm2-q4")


def assert_same_tokenizer(tok, reference):
    for case in TOKENS["cases"]:
        for special, key in ((False, "ids"), (True, "ids_special")):
            assert tok.encode(case["text"], special=special) == case[key], case["text"]
    assert tok.apply_chat_template(MESSAGES) == reference.apply_chat_template(MESSAGES)
    assert tok.encode_chat(MESSAGES) == reference.encode_chat(MESSAGES)
    assert (tok.eos_ids, tok.bos_id, tok.add_bos) == (reference.eos_ids, reference.bos_id, reference.add_bos)
    assert tok.token_bytes == reference.token_bytes


def assert_same_logprobs(lm, reference, atol: float, names=SHORT):
    for name in names:
        ours, theirs = full_logprobs(lm, CASES[name]["ids"]), full_logprobs(reference, CASES[name]["ids"])
        assert np.abs(ours - theirs).max() <= atol, name
        c = compare(ours, CASES[name], "f32")
        assert c.top1_same and c.gap <= BOUNDS["f32"].gap and c.kl <= BOUNDS["f32"].kl, name


def test_float32_folder_is_the_same_model(float32_folder, float32_lm):
    config = json.loads((float32_folder / "config.json").read_text())
    assert "quantization" not in config
    back = load(float32_folder)
    assert back.info.format == "safetensors" and back.info.held_as == "float32"
    assert [getattr(back.info, f) for f in SAME_SHAPE] == [getattr(float32_lm.info, f) for f in SAME_SHAPE]
    assert_same_tokenizer(back.tokenizer, float32_lm.tokenizer)
    # The same float32 weights through the same code: measured bit-identical (0.0).
    assert_same_logprobs(back, float32_lm, atol=1e-6)


def test_quantized_folder_keeps_the_quantization(quantized_folder, stored_lm):
    config = json.loads((quantized_folder / "config.json").read_text())
    assert config["quantization"] == {"group_size": 32, "bits": 4, "embed_tokens": {"group_size": 32, "bits": 8}}
    back = load(quantized_folder, WeightPolicy("stored"))
    assert back.info.held_as == "as stored (MLX 4/8-bit, group 32)"
    assert [getattr(back.info, f) for f in SAME_SHAPE] == [getattr(stored_lm.info, f) for f in SAME_SHAPE]
    assert_same_tokenizer(back.tokenizer, stored_lm.tokenizer)
    # measured 0.0; MLX's 4-bit matmul is slow on a CPU: the three shortest prompts
    assert_same_logprobs(back, stored_lm, atol=1e-6, names=SHORTEST)


def test_quantized_folder_expands_to_the_gguf_float32_model(quantized_folder, float32_lm):
    # The MLX affine 4-bit layout holds a Q4_1 block exactly: expanding either gives the same weights.
    back = load(quantized_folder, WeightPolicy("float32"))
    assert back.info.held_as.startswith("float32 (expanded from MLX 4/8-bit")
    assert_same_logprobs(back, float32_lm, atol=1e-6)


@pytest.mark.skipif(not native.available(), reason="group-16 layouts exist only where Glassbox's CPU kernels run")
def test_a_layer_only_the_kernels_read_is_exported_in_a_layout_mlx_reads(default_model_path, tmp_path):
    """GGUF Q6_K is held exactly as 6-bit codes in groups of 16, which MLX's own operations refuse:
    the export re-quantizes such a layer to 8 bits in groups of 32, so the folder loads in MLX and
    mlx-lm, and the layer it holds is the held one within 8-bit rounding (0.5 % of its output)."""
    import mlx.core as mx

    from engine import gguf
    from engine.native_modules import NativeQuantizedLinear
    from tests.engine.test_native_load import _random_k_blocks

    lm = load(default_model_path, WeightPolicy("stored"))
    layer = lm.model.layers[0].mlp.down_proj
    rows, cols = layer.weight.shape[0], layer.weight.shape[1] * 32 // layer.bits
    w, scales, biases = native.loaded_module().blocks_to_affine(
        _random_k_blocks(gguf.Q6_K, rows, cols, seed=7), gguf.Q6_K, rows, cols)
    held = NativeQuantizedLinear(cols, rows, bias=False, group_size=32, bits=6)  # as the loader holds Q6_K
    held.weight, held.scales, held.biases, held.group_size = w, scales / 4096, biases / 4096, gguf.Q6_K_GROUP
    lm.model.layers[0].mlp.down_proj = held
    before = full_logprobs(lm, CASES[SHORTEST[0]]["ids"])

    out = export_folder(lm, tmp_path / "q6k")
    config = json.loads((out / "config.json").read_text())
    assert config["quantization"]["layers.0.mlp.down_proj"] == {"group_size": 32, "bits": 8}
    saved = mx.load(str(out / "model.safetensors"))
    exact = native.dequantize(w, scales / 4096, biases / 4096, gguf.Q6_K_GROUP, 6)
    readable = mx.dequantize(saved["model.layers.0.mlp.down_proj.weight"], saved["model.layers.0.mlp.down_proj.scales"],
                             saved["model.layers.0.mlp.down_proj.biases"], group_size=32, bits=8)
    step = (mx.max(exact, axis=-1, keepdims=True) - mx.min(exact, axis=-1, keepdims=True)) / 255
    assert mx.all(mx.abs(readable - exact) <= step).item()  # within one 8-bit step of the row's range
    back = load(out, WeightPolicy("stored"))
    down = back.model.layers[0].mlp.down_proj
    assert (down.group_size, down.bits) == (32, 8)
    assert mx.array_equal(mx.dequantize(down.weight, down.scales, down.biases, group_size=32, bits=8), readable).item()
    x = mx.random.normal((4, cols), key=mx.random.key(1))
    held_out, back_out = held(x), down(x)
    assert (mx.linalg.norm(back_out - held_out) / mx.linalg.norm(held_out)).item() < 5e-3
    after = full_logprobs(back, CASES[SHORTEST[0]]["ids"])
    assert np.argmax(after) == np.argmax(before)  # (a random layer: its logprobs move by up to 0.3 here)
