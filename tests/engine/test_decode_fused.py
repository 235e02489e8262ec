"""The fused decode step (engine/models/base.py:rotary_attention, engine/kernels.py:project and
swiglu, the kernels of engine/native.py): the same numbers as the general path, a graph of a few
operations per layer, and cache buffers written in place.

Tiny random-weight models quantized to 4 bits and put on the kernels as the loader does
(`use_native_kernels`); bounds relative to the largest logit, as in test_native.py.
"""

from __future__ import annotations

import collections

import mlx.core as mx
import mlx.nn as nn
import pytest

from engine import kernels, native
from engine.cache import KVCache, make_cache
from engine.generate import decode_steps, prefill
from engine.models import qwen3
from engine.native_modules import use_native_kernels
from engine.sampling import GREEDY, Sampler
from scripts.decode_profile import graph_nodes
from tests.engine.tiny import VOCAB, random_tokens, tiny_args, tiny_model

needs_kernels = pytest.mark.skipif(not native.available(), reason="Glassbox's CPU kernels are not built here")
REL = 2e-5


def rel_err(out: mx.array, ref: mx.array) -> float:
    return (mx.abs(out - ref).max() / mx.maximum(mx.abs(ref).max(), 1e-30)).item()


def on_kernels(model: nn.Module) -> nn.Module:
    """The model as the loader holds a quantized file on a machine with the kernels."""
    nn.quantize(model, group_size=32, bits=4)
    use_native_kernels(model)
    mx.eval(model.parameters())
    return model


def llama_model() -> nn.Module:
    return on_kernels(tiny_model(seed=11, hidden_size=128, num_hidden_layers=3))  # head_dim 32


def qwen3_model() -> nn.Module:
    mx.random.seed(12)
    return on_kernels(qwen3.Model(tiny_args(model_type="qwen3", hidden_size=128, num_hidden_layers=2)))


def graph_ops(out: mx.array) -> collections.Counter:
    """Operations per name in the graph that computes `out`, counted as scripts/decode_profile.py does."""
    return graph_nodes(out)[1]


@needs_kernels
@pytest.mark.parametrize("make", [llama_model, qwen3_model], ids=["llama", "qwen3"])
def test_decoding_step_by_step_on_the_fused_path_equals_the_full_forward_pass(make):
    model = make()
    tokens = random_tokens(40, seed=2, vocab=VOCAB)
    full = model(tokens, make_cache(len(model.layers)))
    cache = make_cache(len(model.layers))
    mx.eval(model(tokens[:, :5], cache))  # a prefix, then one token a step (past the 256-row growth? no: 40)
    steps = [model(tokens[:, i : i + 1], cache) for i in range(5, 40)]
    assert rel_err(mx.concatenate(steps, axis=1), full[:, 5:]) <= REL


@needs_kernels
def test_the_fused_path_grows_the_cache_past_its_preallocated_rows():
    model = llama_model()
    n = KVCache.step + 20
    tokens = random_tokens(n, seed=4, vocab=VOCAB)
    full = model(tokens, make_cache(len(model.layers)))
    cache = make_cache(len(model.layers))
    mx.eval(model(tokens[:, :2], cache))
    last = []
    for i in range(2, n):
        out = model(tokens[:, i : i + 1], cache)
        mx.eval(out)
        last.append(out)
    assert cache[0].keys.shape[2] == 2 * KVCache.step
    assert rel_err(mx.concatenate(last, axis=1), full[:, 2:]) <= REL


@needs_kernels
def test_a_decoding_step_is_a_few_fused_operations_per_layer():
    """The proof that the fast path is taken: no reshapes, transposes, RoPE or slice updates, and
    per layer: norm, QKV, two cache writes, attention, output projection, add, norm, SwiGLU, down,
    add (11)."""
    model = llama_model()
    cache = make_cache(len(model.layers))
    mx.eval(model(random_tokens(6, seed=1, vocab=VOCAB), cache))
    ops = graph_ops(model(mx.array([[7]]), cache))
    layers = len(model.layers)
    assert ops["GlassboxRotaryDecodeAttention"] == layers and ops["GlassboxKVWrite"] == 2 * layers
    assert ops["GlassboxQuantizedMatmuls"] == layers and ops["GlassboxQuantizedSwiGLU"] == layers
    for general in ("Transpose", "SliceUpdate", "GlassboxRoPE", "GlassboxDecodeAttention", "Concatenate"):
        assert ops[general] == 0, ops
    assert sum(ops.values()) <= 11 * layers + 6, ops


@needs_kernels
def test_a_capture_that_wants_the_weights_takes_the_written_out_path():
    """The Inspector's explicit attention still sees keys and values (and gives the same output)."""
    from engine.capture import Recorder

    model = llama_model()
    tokens = random_tokens(9, seed=6, vocab=VOCAB)
    plain = make_cache(len(model.layers))
    mx.eval(model(tokens[:, :8], plain))
    captured = make_cache(len(model.layers))
    mx.eval(model(tokens[:, :8], captured))
    recorder = Recorder(offset=8, rows=[0], weight_layers=frozenset({1}))
    with_capture = model(tokens[:, 8:], captured, recorder)
    recorder.evaluate()
    assert recorder.layers[1].weights.shape == (4, 1, 9)
    assert abs(recorder.layers[1].weights.sum(axis=-1) - 1).max().item() < 1e-5
    assert rel_err(with_capture, model(tokens[:, 8:], plain)) <= REL


@needs_kernels
def test_decoding_writes_the_cache_in_place():
    model = llama_model()
    cache = make_cache(len(model.layers))
    last = prefill(model, random_tokens(30, seed=3, vocab=VOCAB)[0].tolist(), cache)
    before = native.kv_write_copies()
    list(decode_steps(model, cache, Sampler(GREEDY), last, mx.array([1]), 12))
    assert native.kv_write_copies() == before  # every step wrote one row into the buffers


@needs_kernels
def test_a_snapshot_of_the_cache_is_not_changed_by_later_steps():
    """What the prompt cache keeps (`copy`) shares nothing the in-place writes touch."""
    model = llama_model()
    cache = make_cache(len(model.layers))
    last = prefill(model, random_tokens(30, seed=3, vocab=VOCAB)[0].tolist(), cache)
    snapshot = [c.copy() for c in cache]
    kept = [mx.array(a) for c in snapshot for a in c.state]
    mx.eval(kept)
    tokens = [d.token for d in decode_steps(model, cache, Sampler(GREEDY), last, mx.array([1]), 12)]
    assert all(mx.array_equal(a, b).item() for a, b in zip(kept, [a for c in snapshot for a in c.state], strict=True))
    again = [d.token for d in decode_steps(model, snapshot, Sampler(GREEDY), last, mx.array([1]), 12)]
    assert again == tokens


@needs_kernels
def test_a_buffer_held_elsewhere_is_copied_not_overwritten():
    buf = mx.random.normal((1, 2, 8, 32), key=mx.random.key(1))
    mx.eval(buf)
    held = mx.array(buf)  # same values, independent
    x = mx.random.normal((1, 1, 64), key=mx.random.key(2))
    before = native.kv_write_copies()
    out = native.kv_write(buf, x, 3)
    mx.eval(out)
    assert native.kv_write_copies() == before + 1  # `buf` is still referenced here
    assert mx.array_equal(buf, held).item()
    expected = mx.array(held)
    expected[:, :, 3, :] = x.reshape(1, 2, 32)
    assert mx.array_equal(out, expected).item()


@needs_kernels
@pytest.mark.parametrize("traditional", [False, True])
def test_kv_write_turns_a_key_as_rope_does(traditional):
    rope = nn.RoPE(32, traditional=traditional, base=10000.0)
    from engine.native_modules import NativeRoPE

    rope.__class__ = NativeRoPE
    buf = mx.zeros((1, 3, 16, 32))
    x = mx.random.normal((1, 1, 96), key=mx.random.key(3))
    out = native.kv_write(buf, x, 9, rope.rotation, position=41)
    ref = mx.fast.rope(x.reshape(1, 1, 3, 32).transpose(0, 2, 1, 3), 32, traditional=traditional, base=10000.0,
                       scale=1.0, offset=41)
    assert rel_err(out[:, :, 9:10], ref) <= 1e-6
    assert mx.abs(out[:, :, :9]).max().item() == 0 and mx.abs(out[:, :, 10:]).max().item() == 0


@needs_kernels
@pytest.mark.parametrize(("heads", "kv_heads", "first", "rows"), [(4, 2, 0, 7), (9, 3, 5, 60), (2, 2, 0, 1)])
def test_rotary_decode_attention_equals_rope_then_softmax_attention(heads, kv_heads, first, rows):
    from engine.native_modules import NativeRoPE

    rope = nn.RoPE(32, base=10000.0)
    rope.__class__ = NativeRoPE
    k_buf = mx.random.normal((1, kv_heads, 80, 32), key=mx.random.key(4))
    v_buf = mx.random.normal((1, kv_heads, 80, 32), key=mx.random.key(5))
    q = mx.random.normal((1, 1, heads * 32), key=mx.random.key(6))
    out = native.rotary_decode_attention(q, k_buf, v_buf, rope.rotation, 77, first, rows, 0.2)
    qr = mx.fast.rope(q.reshape(1, 1, heads, 32).transpose(0, 2, 1, 3), 32, traditional=False, base=10000.0,
                      scale=1.0, offset=77)
    k, v = k_buf[:, :, first : first + rows], v_buf[:, :, first : first + rows]
    ref = mx.fast.scaled_dot_product_attention(qr, k, v, scale=0.2).transpose(0, 2, 1, 3).reshape(1, 1, -1)
    assert rel_err(out, ref) <= 1e-5


def quantized(layer: nn.Module, bits: int = 4) -> tuple[nn.Module, nn.Module]:
    """`layer` quantized (group 32) as MLX's own module, and a twin on the kernels."""
    cls = nn.QuantizedEmbedding.from_embedding if isinstance(layer, nn.Embedding) else nn.QuantizedLinear.from_linear
    mlx_layer = cls(layer, group_size=32, bits=bits)
    ours = cls(layer, group_size=32, bits=bits)
    use_native_kernels(ours)
    return mlx_layer, ours


@needs_kernels
@pytest.mark.parametrize("bits", [4, 8])
def test_fused_projections_swiglu_and_lookup_equal_mlx(bits):
    x = mx.random.normal((1, 1, 128), key=mx.random.key(7))
    pairs = [quantized(nn.Linear(128, n, bias=False), bits) for n in (96, 32, 32)]
    for got, (ref_layer, _) in zip(kernels.project(x, *[p[1] for p in pairs]), pairs, strict=True):
        assert rel_err(got, ref_layer(x)) <= 1e-5
    (gate_ref, gate), (up_ref, up) = (quantized(nn.Linear(128, 96, bias=False), bits) for _ in range(2))
    assert rel_err(kernels.swiglu(x, gate, up), nn.silu(gate_ref(x)) * up_ref(x)) <= 1e-5
    for spread in (1.0, 30.0):  # gate outputs of a few units, then of hundreds (GELU's far tails)
        xs = x * spread
        assert rel_err(kernels.geglu(xs, gate, up), nn.gelu_approx(gate_ref(xs)) * up_ref(xs)) <= 1e-5
        assert graph_ops(kernels.geglu(xs, gate, up))["GlassboxQuantizedGeGLU"] == 1
    emb_ref, emb = quantized(nn.Embedding(VOCAB, 64), bits)
    ids = mx.array([[3, 299, 0, 17]])
    assert rel_err(emb(ids), emb_ref(ids)) <= 1e-6


@needs_kernels
def test_projections_with_a_bias_or_mixed_layouts_go_one_by_one():
    x = mx.random.normal((1, 1, 64), key=mx.random.key(9))
    (_, a), (_, b) = quantized(nn.Linear(64, 32, bias=True)), quantized(nn.Linear(64, 32, bias=False))
    (_, c) = quantized(nn.Linear(64, 32, bias=False), bits=8)
    for pair in ((a, b), (b, c)):
        ops = graph_ops(mx.concatenate(kernels.project(x, *pair), axis=-1))
        assert ops["GlassboxQuantizedMatmuls"] == 0 and ops["GlassboxQuantizedMatmul"] == 2


@needs_kernels
def test_prefill_sized_inputs_keep_the_separate_products():
    """More rows than the kernel takes: each projection on its own (dequantize + BLAS)."""
    lin = [quantized(nn.Linear(64, 32, bias=False))[1] for _ in range(2)]
    x = mx.random.normal((1, native.MAX_KERNEL_ROWS + 1, 64), key=mx.random.key(8))
    ops = graph_ops(kernels.project(x, *lin)[0])
    assert ops["GlassboxQuantizedMatmuls"] == 0 and ops["GlassboxDequantize"] == 1


@needs_kernels
@pytest.mark.parametrize("step", [4, 256])
def test_a_rotating_cache_decodes_on_the_fused_path_as_a_sliding_window(step):
    """Window 16: each query sees its last 16 positions, through compactions (every `step`
    tokens) and growth of the buffer, which stays within window + step rows."""
    model = llama_model()
    window, n = 16, 60
    tokens = random_tokens(n, seed=9, vocab=VOCAB)
    whole = make_cache(len(model.layers), "rotating", window=window)
    full = model(tokens, whole)  # one pass: the sliding-window mask
    cache = make_cache(len(model.layers), "rotating", window=window)
    for c in cache:
        c.step = step
    mx.eval(model(tokens[:, :3], cache))
    steps, rows = [], []
    for i in range(3, n):
        steps.append(model(tokens[:, i : i + 1], cache))
        mx.eval(steps[-1])
        rows.append(cache[0].keys.shape[2])
    ops = graph_ops(model(tokens[:, :1], cache))
    assert ops["GlassboxRotaryDecodeAttention"] == len(model.layers) and ops["Concatenate"] <= 2 * len(model.layers)
    assert rel_err(mx.concatenate(steps, axis=1), full[:, 3:]) <= REL
    assert max(rows) <= window + step and (step > n or cache[0].start > 0)
