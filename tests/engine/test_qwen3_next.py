"""Qwen3-Next beyond what every architecture is checked for (tests/engine/test_architectures.py):
the state kind of cache (a recurrent state cannot be rewound, so the prompt cache reuses only a
prefix the prompt extends exactly and computes anything else from scratch; saved and restored it
continues exactly), the layouts of mlx-lm's folders (fused in_proj_qkvz, A_log, quantized), and the
Inspector on linear-attention layers."""

from __future__ import annotations

import mlx.core as mx
import mlx.nn as nn
import pytest
from mlx.utils import tree_flatten

from engine.cache import RecurrentState, cache_nbytes, trim_cache
from engine.generate import GenerationConfig, generate
from engine.loading import WeightPolicy, load
from engine.models.base import GGUFLayout
from engine.models.qwen3_next import ModelArgs, fuse_qkvz, split_qkvz
from engine.prompt_cache import PromptCache, load_entry, save_entry
from engine.sampling import GREEDY
from tests.engine.checkpoints import PROBE_TOKENS, tiny_config, tiny_model, write_gguf, write_hf

FLOAT32 = WeightPolicy("float32")
TOKENS = mx.array([PROBE_TOKENS])
ARGS = ModelArgs.from_dict(tiny_config("qwen3_next"))


def logits(model, tokens=TOKENS, cache=None):
    out = model(tokens, model.make_cache() if cache is None else cache)
    mx.eval(out)
    return out


def max_diff(a, b) -> float:
    return mx.max(mx.abs(a - b)).item()


@pytest.fixture(scope="module")
def lm(tmp_path_factory):
    return load(write_hf("qwen3_next", tmp_path_factory.mktemp("hf") / "qwen3_next"), FLOAT32)


def run(lm, ids, caches, n=6):
    config = GenerationConfig(max_tokens=n, stop_ids=set())
    return [e.token for e in generate(lm.model, lm.tokenizer, ids, caches, GREEDY, config) if e.token is not None]


def test_linear_layers_get_a_recurrent_state_of_fixed_size_whatever_the_kind():
    model = tiny_model("qwen3_next")
    for kind in ("plain", "rotating", "quantized"):
        caches = model.make_cache(kind, window=64 if kind == "rotating" else None)
        assert [type(c).__name__ == "RecurrentState" for c in caches] == [True, False, True, False]
    short, long = model.make_cache(), model.make_cache()
    logits(model, TOKENS[:, :4], short)
    logits(model, TOKENS, long)
    assert short[0].nbytes == long[0].nbytes > 0 and short[0].bytes_per_token == 0
    assert long[1].nbytes > short[1].nbytes  # the full-attention layer's keys and values grow
    assert [c.offset for c in long] == [TOKENS.shape[1]] * 4


def test_a_recurrent_state_is_never_rewound_and_no_layer_is_trimmed_alone():
    model = tiny_model("qwen3_next")
    caches = model.make_cache()
    logits(model, TOKENS, caches)
    assert not caches[0].is_trimmable() and caches[1].is_trimmable()
    assert trim_cache(caches, 5) == 0
    assert [c.offset for c in caches] == [TOKENS.shape[1]] * 4  # the attention layers kept theirs too
    assert trim_cache(caches, 0) == 0


def test_prompt_cache_reuses_an_extended_prefix_and_recomputes_anything_else(lm):
    """Served an entry the prompt extends, the reply equals the one from scratch; a prompt that
    leaves an entry partway (an edit, a regeneration) cannot be served by a rewound memory, so it is
    computed from the start, and its reply equals the one from scratch too."""
    first = PROBE_TOKENS[:12]
    pc = PromptCache(lm.model.make_cache)
    caches, reused = pc.checkout(first)
    out = run(lm, first, caches)
    held = (first + out)[: caches[0].offset]
    pc.checkin(held, caches)

    extended = held + PROBE_TOKENS[12:18]
    caches, reused = pc.checkout(extended)
    assert reused == len(held)
    assert run(lm, extended, caches) == run(lm, extended, lm.model.make_cache())

    edited = first[:8] + PROBE_TOKENS[18:24]  # shares 8 tokens with the entry, then leaves it
    caches, reused = pc.checkout(edited)
    assert reused == 0 and all(c.offset == 0 for c in caches)
    assert run(lm, edited, caches) == run(lm, edited, lm.model.make_cache())
    assert pc.peek(first[:8]) is None  # nor is a shorter prefix handed out (to the Inspector, to disk)


def test_a_saved_state_restored_from_disk_continues_exactly(tmp_path):
    model = tiny_model("qwen3_next")
    whole = logits(model)
    caches = model.make_cache()
    logits(model, TOKENS[:, :10], caches)
    path = tmp_path / "entry.safetensors"
    save_entry(path, PROBE_TOKENS[:10], caches, "sha")
    tokens, restored = load_entry(path, "sha")
    assert tokens == PROBE_TOKENS[:10] and [type(c) for c in restored] == [type(c) for c in caches]
    assert cache_nbytes(restored) == cache_nbytes(caches)
    assert max_diff(logits(model, TOKENS[:, 10:], restored), whole[:, 10:]) < 1e-4


def test_a_copy_of_a_state_does_not_follow_the_original():
    model = tiny_model("qwen3_next")
    caches = model.make_cache()
    logits(model, TOKENS[:, :10], caches)
    snapshot = [c.copy() for c in caches]
    before = mx.array(snapshot[0].recurrent)
    logits(model, TOKENS[:, 10:], caches)
    assert snapshot[0].offset == 10 and max_diff(snapshot[0].recurrent, before) == 0.0
    assert max_diff(logits(model, TOKENS[:, 10:], snapshot), logits(model)[:, 10:]) < 1e-4


def test_the_conv_window_keeps_the_last_inputs_across_calls():
    state = RecurrentState()
    x = mx.arange(2 * 5 * 3, dtype=mx.float32).reshape(2, 5, 3)
    first = state.conv_window(x[:, :2], 4)
    assert first.shape == (2, 5, 3) and max_diff(first[:, :3], mx.zeros((2, 3, 3))) == 0.0
    second = state.conv_window(x[:, 2:], 4)
    assert max_diff(second, mx.concatenate([mx.zeros((2, 1, 3)), x], axis=1)) == 0.0


def mlxlm_layout(params: dict[str, mx.array]) -> dict[str, mx.array]:
    """What mlx-lm's converter writes from a Hugging Face checkpoint: experts stacked, norms as
    applied, but in_proj_qkvz fused (every quantized part too), A_log and a (C, K, 1) convolution."""
    out = {}
    for key, value in params.items():
        if ".linear_attn.in_proj_qkv." in key:
            z = params[key.replace("in_proj_qkv", "in_proj_z")]
            out[key.replace("in_proj_qkv", "in_proj_qkvz")] = fuse_qkvz(value, z, ARGS)
        elif ".linear_attn.in_proj_z." in key:
            continue
        elif key.endswith("linear_attn.A"):
            out[key + "_log"] = mx.log(-value)
        elif key.endswith("linear_attn.conv1d.weight"):
            out[key] = value[:, :, None]
        else:
            out[key] = value
    return {k if k.startswith("lm_head") else f"model.{k}": v for k, v in out.items()}


@pytest.mark.parametrize("bits", [None, 4])
def test_an_mlx_lm_folder_loads_as_the_same_model(bits, tmp_path):
    import json

    folder = write_hf("qwen3_next", tmp_path / "mlx")
    model = tiny_model("qwen3_next")
    config = json.loads((folder / "config.json").read_text())
    if bits:
        nn.quantize(model, group_size=32, bits=bits)
        config["quantization"] = {"group_size": 32, "bits": bits}
    mx.save_safetensors(str(folder / "model.safetensors"), mlxlm_layout(dict(tree_flatten(model.parameters()))))
    (folder / "config.json").write_text(json.dumps(config))
    reference = logits(model)
    for policy in (WeightPolicy("stored"), FLOAT32):
        assert max_diff(logits(load(folder, policy).model), reference) < 1e-4


def test_split_qkvz_undoes_fuse_qkvz_for_packed_rows():
    qkv = mx.random.normal((2 * 2 * 32 + 4 * 32, 8))
    z = mx.random.normal((4 * 32, 8))
    back_qkv, back_z = split_qkvz(fuse_qkvz(qkv, z, ARGS), ARGS)
    assert max_diff(back_qkv, qkv) == 0.0 and max_diff(back_z, z) == 0.0


def test_a_gguf_holding_the_fused_ssm_in_loads_as_the_same_model(tmp_path, monkeypatch):
    """llama.cpp's converter splits in_proj_qkvz into attn_qkv and attn_gate; a file holding the
    fused Hugging Face rows as `ssm_in` is read too."""
    to_gguf = GGUFLayout.to_gguf

    def fused(self, weights, config):
        out = to_gguf(self, weights, config)
        for name in [n for n in out if n.endswith("attn_qkv.weight")]:
            gate = out.pop(name.replace("attn_qkv", "attn_gate"))
            out[name.replace("attn_qkv", "ssm_in")] = fuse_qkvz(out.pop(name), gate, ARGS)
        return out

    monkeypatch.setattr(GGUFLayout, "to_gguf", fused)
    path = write_gguf("qwen3_next", tmp_path / "fused.gguf")
    monkeypatch.undo()
    assert max_diff(logits(load(path, FLOAT32).model), logits(tiny_model("qwen3_next"))) < 1e-4


def test_a_config_without_the_linear_attention_widths_is_refused_by_name(tmp_path):
    import json

    from engine.loading import ModelLoadError

    folder = write_hf("qwen3_next", tmp_path / "hf")
    config = json.loads((folder / "config.json").read_text())
    del config["linear_key_head_dim"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="'linear_key_head_dim'"):
        load(folder, FLOAT32)


def test_the_inspector_reads_every_layer_and_says_the_linear_ones_have_no_map():
    from engine.inspect import attention_map, inspect_prompt, inspect_step

    model = tiny_model("qwen3_next")
    step = inspect_step(model, PROBE_TOKENS)
    assert max_diff(step.logprobs, nn.log_softmax(logits(model)[0, -1])) < 1e-4
    linear, full = step.attention[0], step.attention[1]
    assert linear.weights == [] and linear.window is None and linear.kind.startswith("linear attention")
    assert len(full.weights) == 4 and abs(sum(full.weights[0]) - 1.0) < 1e-4 and full.kind == "full causal attention"
    assert len(step.residual_norms) == 5 and len(step.attn_norms) == 4  # every layer's update is reported
    assert inspect_prompt(model, PROBE_TOKENS, layer=3, head=1).weights
    assert attention_map(model, PROBE_TOKENS, 1, 0).weights.shape == (24, 24)
    for ask in (lambda: inspect_prompt(model, PROBE_TOKENS, layer=0), lambda: attention_map(model, PROBE_TOKENS, 2, 0)):
        with pytest.raises(ValueError, match="linear-attention layer.*no attention map"):
            ask()


def test_export_writes_mlx_lm_layout_and_keeps_differently_quantized_projections_split(tmp_path):
    """Checked by hand in mlx-lm 0.32.2 (docs/correctness.md): the exported float32 and 4-bit folders
    load there with Glassbox's logits. Here: the layout is the one written out above, and a model
    whose in_proj_qkv and in_proj_z are quantized differently (a GGUF's mix held as stored) keeps
    them split, which reads back as the same model."""
    model = tiny_model("qwen3_next")
    nn.quantize(model, group_size=32, bits=4)
    params = dict(tree_flatten(model.parameters()))
    exported = {f"model.{k}" if not k.startswith("lm_head") else k: v for k, v in model.export_weights(params).items()}
    expected = mlxlm_layout(params)
    assert exported.keys() == expected.keys()
    assert all(max_diff(exported[k], expected[k]) == 0.0 for k in expected)

    mixed = tiny_model("qwen3_next")
    nn.quantize(mixed, group_size=32, bits=4, class_predicate=lambda p, m: isinstance(m, nn.Linear) and "in_proj_z" not in p)
    nn.quantize(mixed, group_size=32, bits=8, class_predicate=lambda p, m: isinstance(m, nn.Linear) and "in_proj_z" in p)
    weights = mixed.export_weights(dict(tree_flatten(mixed.parameters())))
    assert "layers.0.linear_attn.in_proj_z.weight" in weights and "layers.0.linear_attn.A_log" in weights
    rebuilt = tiny_model("qwen3_next")
    nn.quantize(rebuilt, group_size=32, bits=4, class_predicate=lambda p, m: isinstance(m, nn.Linear) and "in_proj_z" not in p)
    nn.quantize(rebuilt, group_size=32, bits=8, class_predicate=lambda p, m: isinstance(m, nn.Linear) and "in_proj_z" in p)
    rebuilt.load_weights(list(rebuilt.sanitize(weights).items()))
    assert max_diff(logits(rebuilt), logits(mixed)) < 1e-5


@pytest.mark.parametrize("chunk", [16, 64])
def test_the_chunkwise_form_equals_the_token_by_token_recurrence(chunk):
    """Over several chunks and a ragged last one, from a memory that is not empty, with decays from
    nearly none to nearly total: the same outputs and final memory as stepping token by token."""
    from engine.models.qwen3_next import chunked_gated_delta_rule, gated_delta_rule

    mx.random.seed(3)
    B, L, H, Dk, Dv = 2, 150, 3, 16, 8
    q, k = (mx.random.normal((B, L, H, Dk)) for _ in range(2))
    q, k = q / mx.linalg.norm(q, axis=-1, keepdims=True), k / mx.linalg.norm(k, axis=-1, keepdims=True)
    v = mx.random.normal((B, L, H, Dv))
    log_alpha = -mx.exp(mx.random.normal((B, L, H)) * 2)  # α from ~1 to ~0
    beta = mx.random.uniform(shape=(B, L, H))
    S = mx.random.normal((B, H, Dv, Dk))
    outs, memory = [], S
    for t in range(L):
        step = slice(t, t + 1)
        out, memory = gated_delta_rule(q[:, step], k[:, step], v[:, step], log_alpha[:, step], beta[:, step], memory)
        outs.append(out)
    o, final = chunked_gated_delta_rule(q, k, v, log_alpha, beta, S, chunk=chunk)
    assert o.shape == (B, L, H, Dv)
    assert max_diff(o, mx.concatenate(outs, axis=1)) < 1e-4
    assert max_diff(final, memory) < 1e-4
