"""Loading a GGUF holds one copy of the model: tensors are converted one at a time and each source
buffer is gone before the next (MLX's own peak-memory counter, so the numbers are exact, not timed)."""

import gc

import mlx.core as mx

from engine.loading import WeightPolicy, load


def test_loading_the_default_model_as_stored_never_holds_a_second_copy(default_model_path, monkeypatch):
    """The weights as the file stores them (the policy named: the default one holds them as float32
    on a CPU without Glassbox's kernels, ~5 times the memory, where these bounds mean nothing),
    converted from the file (weights kept converted are mapped, not MLX's memory: test_weights_cache)."""
    monkeypatch.setenv("GLASSBOX_WEIGHTS_CACHE", "off")
    gc.collect()
    mx.clear_cache()
    before = mx.get_active_memory()
    mx.reset_peak_memory()
    lm = load(default_model_path, WeightPolicy("stored"))
    held = mx.get_active_memory() - before
    peak = mx.get_peak_memory() - before
    assert held > 50 * 2**20  # the model itself (~110 MB at 4 bits with float32 scales)
    # the largest single tensor (the 49152 x 576 8-bit embedding) is ~32 MB: a copy of it may be
    # alive while it is converted, a second copy of the model may not
    assert peak <= held + 40 * 2**20, (peak / 2**20, held / 2**20)
    del lm


def test_gemma_k_quants_load_without_a_float32_detour(monkeypatch):
    """Gemma 3 270M Q4_K_M where the CPU kernels are built: every matrix (Q6_K too) goes from the
    file's blocks straight into its compact layout, so MLX's peak during the load is the model
    itself (on main before this, Q6_K passed through float32: peak = model + 45 MB)."""
    import pytest

    from engine import model_catalog, native

    path = model_catalog.path_of(model_catalog.GEMMA3_270M)
    if not (native.available() and path.is_file()):
        pytest.skip("needs Glassbox's CPU kernels and `python -m engine fetch gemma3-270m`")
    monkeypatch.setenv("GLASSBOX_WEIGHTS_CACHE", "off")  # converted from the file
    gc.collect()
    mx.clear_cache()
    before = mx.get_active_memory()
    mx.reset_peak_memory()
    lm = load(path)
    held = mx.get_active_memory() - before
    peak = mx.get_peak_memory() - before
    assert held < 300 * 2**20  # the 262,144 x 640 tied table at 8 bits, never a float32 copy (671 MB)
    assert peak <= held + 4 * 2**20, (peak / 2**20, held / 2**20)
    del lm
