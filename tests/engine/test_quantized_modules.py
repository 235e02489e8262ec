"""The loader builds quantized layers holding the file's arrays (loading._quantized_module) instead
of `nn.quantize`'s random placeholders: the same modules as MLX's own conversion gives."""

import mlx.core as mx
import mlx.nn as nn
import pytest

from engine.loading import _quantized_module


def state(module: nn.Module) -> dict:
    return {
        "class": type(module),
        "attrs": {k: getattr(module, k) for k in ("group_size", "bits", "mode", "num_embeddings", "dims")
                  if hasattr(module, k)},
        "frozen": sorted(module._no_grad),
        "trainable": sorted(k for k, _ in nn.utils.tree_flatten(module.trainable_parameters())),
        "params": {k: v for k, v in nn.utils.tree_flatten(module.parameters())},
    }


@pytest.mark.parametrize("make, convert", [
    (lambda: nn.Linear(64, 32, bias=True), nn.QuantizedLinear.from_linear),
    (lambda: nn.Linear(64, 32, bias=False), nn.QuantizedLinear.from_linear),
    (lambda: nn.Embedding(10, 64), nn.QuantizedEmbedding.from_embedding),
])
@pytest.mark.parametrize("group, bits", [(32, 4), (64, 8), (32, 5)])
def test_a_quantized_module_is_what_mlx_converts(make, convert, group, bits):
    plain = make()
    ours_arrays = dict(zip(("x.weight", "x.scales", "x.biases"), mx.quantize(plain.weight, group, bits), strict=True))
    ours = state(_quantized_module(plain, ours_arrays, "x", group, bits))
    theirs = state(convert(plain, group, bits))
    params = ours.pop("params"), theirs.pop("params")
    assert ours == theirs
    assert params[0].keys() == params[1].keys()
    for k in params[0]:
        assert mx.array_equal(params[0][k], params[1][k]).item(), k
    x = mx.random.normal((3, 64))
    if convert is nn.QuantizedLinear.from_linear:
        mine, mlx_own = _quantized_module(plain, ours_arrays, "x", group, bits), convert(plain, group, bits)
        assert mx.array_equal(mine(x), mlx_own(x)).item()
