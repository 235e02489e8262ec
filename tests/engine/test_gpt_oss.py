"""gpt-oss beyond equal logits (those are checked against mlx-lm in test_mlxlm_reference.py, and
across formats and cache kinds in test_architectures.py): Hugging Face's fused expert layout loads
as the same model, and the sinks take part (a model whose sinks are moved answers differently,
and the Inspector's written-out attention equals the cache's fused one with them)."""

from __future__ import annotations

import json

import mlx.core as mx
from mlx.utils import tree_flatten

from engine.capture import explicit_attention
from engine.kernels import attention
from engine.loading import WeightPolicy, load
from tests.engine.checkpoints import PROBE_TOKENS, tiny_config, tiny_model, write_hf

TOKENS = mx.array([PROBE_TOKENS])


def _logits(model):
    out = model(TOKENS, model.make_cache())
    mx.eval(out)
    return out


def test_hugging_face_fused_experts_load_as_the_split_model(tmp_path):
    """transformers' GptOssExperts: gate_up_proj (E, in, 2·hidden), gate and up interleaved on the
    last axis, its bias likewise; down_proj (E, hidden, in)."""
    model = tiny_model("gpt_oss")
    params = dict(tree_flatten(model.parameters()))
    fused = {}
    for name, value in params.items():
        if ".mlp.experts.gate_proj." in name:
            up = params[name.replace("gate_proj", "up_proj")]
            base = name.split(".mlp.experts.")[0] + ".mlp.experts."
            if name.endswith(".weight"):  # (E, hidden, in) each -> (E, in, 2·hidden) interleaved
                pair = mx.stack([value.swapaxes(-1, -2), up.swapaxes(-1, -2)], axis=-1)
                fused[base + "gate_up_proj"] = pair.reshape(*pair.shape[:-2], -1)
            else:
                fused[base + "gate_up_proj_bias"] = mx.stack([value, up], axis=-1).reshape(value.shape[0], -1)
        elif ".mlp.experts.down_proj.weight" in name:
            fused[name.removesuffix(".weight")] = value.swapaxes(-1, -2)
        elif ".mlp.experts.down_proj.bias" in name:
            fused[name.removesuffix(".bias") + "_bias"] = value
        elif ".mlp.experts.up_proj." not in name:
            fused[name] = value
    folder = write_hf("gpt_oss", tmp_path / "split")  # tokenizer and config; the weights replaced
    mx.save_safetensors(str(folder / "model.safetensors"),
                        {k if k.startswith("lm_head") else f"model.{k}": v for k, v in fused.items()})
    assert json.loads((folder / "config.json").read_text())["model_type"] == "gpt_oss"
    loaded = load(folder, WeightPolicy("float32"))
    assert mx.max(mx.abs(_logits(loaded.model) - _logits(model))).item() < 1e-5


def test_the_sinks_take_part():
    model = tiny_model("gpt_oss")
    before = _logits(model)
    model.layers[0].self_attn.sinks = model.layers[0].self_attn.sinks + 3.0
    assert mx.max(mx.abs(_logits(model) - before)).item() > 1e-2


def test_written_out_attention_with_sinks_equals_the_fused_op():
    mx.random.seed(1)
    q, k, v = mx.random.normal((1, 4, 5, 32)), mx.random.normal((1, 2, 5, 32)), mx.random.normal((1, 2, 5, 32))
    sinks = mx.array([0.5, -1.0, 2.0, 0.0])
    out, weights = explicit_attention(q, k, v, 32**-0.5, "causal", sinks)
    assert mx.max(mx.abs(out - attention(q, k, v, 32**-0.5, "causal", sinks))).item() < 1e-5
    assert (weights.sum(-1) < 1).all().item()  # the sink takes its share of every row
    assert tiny_config("gpt_oss")["sliding_window"] == 8


def test_mxfp4_experts_in_a_gguf_are_read_as_llama_cpp_defines_them(tmp_path):
    """The released GGUFs keep the experts in MXFP4 (e2m1 values, one power-of-two scale per 32):
    read exactly as the `gguf` package dequantizes them; held "as stored" they are re-quantized to
    MLX's 8-bit affine layout (not compared by logits: on random tiny weights that rounding flips
    expert choices, measured up to 0.7 in a logit)."""
    import gguf

    from engine.models import get_architecture
    from tests.engine.checkpoints import write_gguf

    kind = gguf.GGMLQuantizationType.MXFP4
    path = write_gguf("gpt_oss", tmp_path / "mxfp4.gguf", tensor_type=kind)
    lm = load(path, WeightPolicy("float32"))
    params = dict(tree_flatten(lm.model.parameters()))
    layout = get_architecture("gpt_oss").gguf
    tensors = [t for t in gguf.GGUFReader(str(path)).tensors if t.tensor_type == kind]
    assert any("exps" in t.name for t in tensors)
    for t in tensors:
        ((key, value),) = layout.to_model({t.name: mx.array(gguf.quants.dequantize(t.data, kind))}, lm.info.config).items()
        assert mx.max(mx.abs(params[key] - value)).item() == 0.0, key
    stored = load(path, WeightPolicy("stored"))  # Metal's policy: MLX has no MXFP4 layout, so 8-bit affine
    assert "re-quantized to MLX's affine layout" in stored.info.held_as
    assert _logits(stored.model).shape == _logits(lm.model).shape  # (a rounding can flip an expert choice)
