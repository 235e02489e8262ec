"""Every architecture, on tiny random-weight checkpoints written by the tests in each format.

The same random model written as a Hugging Face folder and as a GGUF (llama.cpp's writer) must
give the same logits; incremental decoding with every cache kind must equal the full forward
pass; a prompt cache must give the same tokens as computing from scratch.
"""

from __future__ import annotations

import gguf
import mlx.core as mx
import pytest
from mlx.utils import tree_flatten

from engine.generate import GenerationConfig, generate
from engine.loading import WeightPolicy, load
from engine.models import get_architecture
from engine.prompt_cache import PromptCache
from engine.sampling import GREEDY
from tests.engine.checkpoints import (
    ARCHITECTURES,
    PROBE_TOKENS,
    tiny_config,
    tiny_model,
    write_gguf,
    write_hf,
)

FLOAT32 = WeightPolicy("float32")
TOKENS = mx.array([PROBE_TOKENS])


def logits(model, tokens=TOKENS, cache=None):
    out = model(tokens, model.make_cache() if cache is None else cache)
    mx.eval(out)
    return out


def stepwise(model, cache, tokens=TOKENS):
    return mx.concatenate([logits(model, tokens[:, i : i + 1], cache) for i in range(tokens.shape[1])], axis=1)


def max_diff(a, b) -> float:
    return mx.max(mx.abs(a - b)).item()


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_hf_folder_and_gguf_give_the_same_logits(name, tmp_path):
    reference = logits(tiny_model(name))
    folder = load(write_hf(name, tmp_path / "hf"), FLOAT32)
    from_gguf = load(write_gguf(name, tmp_path / "tiny.gguf"), FLOAT32)
    assert folder.info.architecture == name and from_gguf.info.architecture == name
    assert max_diff(logits(folder.model), reference) < 1e-4
    assert max_diff(logits(from_gguf.model), reference) < 1e-4


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize("kind", ["Q5_0", "Q4_0", "Q4_1", "Q8_0"])
def test_quantized_gguf_is_read_exactly(name, kind, tmp_path):
    """Quantized matrices (read by our own reader) against gguf's own dequantization of the same file."""
    kind = gguf.GGMLQuantizationType[kind]
    path = write_gguf(name, tmp_path / "q.gguf", tensor_type=kind)
    ours = load(path, FLOAT32)
    layout = get_architecture(name).gguf
    params = dict(tree_flatten(ours.model.parameters()))
    quantized = [t for t in gguf.GGUFReader(str(path)).tensors if t.tensor_type == kind]
    assert quantized
    for t in quantized:
        expected = gguf.quants.dequantize(t.data, t.tensor_type)  # llama.cpp's definition
        ((key, value),) = layout.to_model({t.name: mx.array(expected)}, ours.info.config).items()
        assert max_diff(params[key], value) == 0.0, key


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_a_quantized_gguf_held_as_stored_equals_it_expanded(name, tmp_path):
    """Every matrix Q5_0, stacked experts and MoE routers too (llama.cpp keeps a router in float,
    another writer may not: a router has no quantized form, so it is expanded)."""
    path = write_gguf(name, tmp_path / "q5.gguf", tensor_type=gguf.GGMLQuantizationType.Q5_0)
    stored, expanded = load(path, WeightPolicy("stored")), load(path, FLOAT32)
    assert stored.info.held_as.startswith("as stored")
    assert max_diff(logits(stored.model), logits(expanded.model)) < 1e-4


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize("kind", ["plain", "rotating", "quantized"])
def test_incremental_decoding_equals_the_full_pass(name, kind):
    model = tiny_model(name)
    make = lambda: model.make_cache(kind, window=64 if kind == "rotating" else None, bits=8)  # noqa: E731
    full = logits(model, cache=make())
    assert max_diff(stepwise(model, make()), full) < 1e-4
    chunked = make()
    parts = [logits(model, TOKENS[:, :10], chunked), logits(model, TOKENS[:, 10:], chunked)]
    assert max_diff(mx.concatenate(parts, axis=1), full) < 1e-4
    if kind != "quantized":  # the quantized cache differs from float keys by design
        assert max_diff(full, logits(model)) < 1e-4


@pytest.mark.parametrize("name", ["gemma3", "mistral", "phi3"])
def test_sliding_window_layers_see_only_their_window(name):
    """Position 23 must not depend on tokens more than the window (8) behind it, in any layer
    that has one; Gemma's global layers do see them, so there the output must move."""
    model = tiny_model(name)
    changed = TOKENS.tolist()[0]
    changed[0] = (changed[0] + 1) % 256
    a, b = logits(model), logits(model, mx.array([changed]))
    moved = max_diff(a[:, -1], b[:, -1])
    if name == "gemma3":
        assert moved > 1e-5  # layer 6 is global
    else:
        assert moved == 0.0
    caches = model.make_cache("quantized")
    assert any(type(c).__name__ == "RotatingKVCache" for c in caches)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_prompt_cache_reuse_gives_the_same_tokens(name, tmp_path):
    lm = load(write_hf(name, tmp_path / "hf"), FLOAT32)
    model, tok = lm.model, lm.tokenizer
    config = GenerationConfig(max_tokens=6, stop_ids=set())
    first, second = TOKENS.tolist()[0][:12], TOKENS.tolist()[0]

    def run(ids, caches):
        return [e.token for e in generate(model, tok, ids, caches, GREEDY, config) if e.token is not None]

    pc = PromptCache(model.make_cache)
    caches, reused = pc.checkout(first)
    out = run(first, caches)
    pc.checkin((first + out)[: caches[0].offset], caches)
    caches, reused = pc.checkout(second)
    # a rotated window, or a recurrent state (qwen3_next), reuses only a prefix the prompt extends exactly
    assert reused > 0 or name in ("gemma3", "mistral", "phi3", "qwen3_next")
    assert run(second, caches) == run(second, model.make_cache())


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize("bits", [4, 8])
def test_mlx_quantized_folder_loads_as_stored_and_expanded(name, bits, tmp_path):
    """An MLX 4/8-bit folder (what mlx-lm writes): held as stored, or expanded to float32."""
    import json

    import mlx.nn as nn

    folder = write_hf(name, tmp_path / "hf")
    model = tiny_model(name)
    nn.quantize(model, group_size=32, bits=bits)
    reference = logits(model)
    weights = {k if k.startswith("lm_head") else f"model.{k}": v for k, v in tree_flatten(model.parameters())}
    mx.save_safetensors(str(folder / "model.safetensors"), weights)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "quantization": {"group_size": 32, "bits": bits}}))
    stored, expanded = load(folder, WeightPolicy("stored")), load(folder, FLOAT32)
    assert stored.info.held_as.startswith("as stored") and expanded.info.held_as.startswith("float32")
    assert max_diff(logits(stored.model), reference) < 1e-4
    assert max_diff(logits(expanded.model), reference) < 1e-4


# What Hugging Face calls each architecture's causal-LM class (written here, not read from the files)
HF_CLASSES = {
    "llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM", "qwen2": "Qwen2ForCausalLM",
    "qwen3": "Qwen3ForCausalLM", "phi3": "Phi3ForCausalLM", "gemma3": "Gemma3ForCausalLM",
    "qwen3_moe": "Qwen3MoeForCausalLM", "deepseek_v3": "DeepseekV3ForCausalLM",
    "deepseek_v2": "DeepseekV2ForCausalLM", "gpt_oss": "GptOssForCausalLM", "qwen3_next": "Qwen3NextForCausalLM",
}


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize("source", ["hf", "gguf"])
def test_export_writes_the_architecture_and_loads_back(name, source, tmp_path):
    """Exported from either format, the folder names the checkpoint's own class and type (a
    DeepSeek V2 checkpoint is not written as V3) and loads back as the same model."""
    import json

    from engine.export import export_folder

    path = write_hf(name, tmp_path / "hf") if source == "hf" else write_gguf(name, tmp_path / "m.gguf")
    lm = load(path, FLOAT32)
    out = export_folder(lm, tmp_path / "out")
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == [HF_CLASSES[name]] and config["model_type"] == name
    back = load(out, FLOAT32)
    assert back.info.architecture == name
    assert max_diff(logits(back.model), logits(lm.model)) < 1e-5


def test_an_architecture_file_names_no_class_for_a_type_it_does_not_build():
    with pytest.raises(ValueError, match="names no exported class for 'deepseek2'"):
        get_architecture("deepseek2").hf_class("deepseek2")


@pytest.mark.parametrize("name", ARCHITECTURES)
@pytest.mark.parametrize("kind,bits", [("plain", 8), ("quantized", 8), ("quantized", 4)])
def test_the_architecture_says_what_a_cached_token_costs(name, kind, bits):
    """`Architecture.cached_token` (config values only, as Manage Models has before loading) equals
    what the model's own caches hold after reading tokens: per token while no window is full; in
    total, at most `held_bytes` once the sliding windows (8 here) are passed, and exactly that
    without windows."""
    from engine.cache import cache_nbytes

    model = tiny_model(name)
    token = get_architecture(name).cached_token(tiny_config(name))
    try:
        caches = model.make_cache(kind, bits=bits)
        short = logits(model, TOKENS[:, :4], caches)
    except ValueError:  # a quantized cache needs widths divisible by 32: the estimate refuses too
        with pytest.raises(ValueError):
            token.bytes(kind, bits)
        return
    # a recurrent layer (qwen3_next) holds its fixed state from the first token: in held_bytes only
    assert short.shape[1] == 4 and cache_nbytes(caches) == 4 * token.bytes(kind, bits) + token.state_bytes > 0
    assert token.held_bytes(4, kind, bits) == cache_nbytes(caches)
    caches = model.make_cache(kind, bits=bits)
    logits(model, TOKENS, caches)
    held, bound = cache_nbytes(caches), token.held_bytes(TOKENS.shape[1], kind, bits)
    assert held == bound if not token.windowed else 4 * token.bytes(kind, bits) < held <= bound
    assert bool(token.state_bytes) == (name == "qwen3_next")


def test_the_latent_cache_costs_what_deepseek_says_not_full_keys_and_values():
    token = get_architecture("deepseek_v3").cached_token(tiny_config("deepseek_v3"))
    assert token.bytes() == 3 * (64 + 32) * 4  # layers × (latent + RoPE key) × float32
    assert token.formula == "3 layers × (64 latent + 32 RoPE key)"
