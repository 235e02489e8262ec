"""What a cached token costs, as the loaded model's architecture lays its cache out: Preferences and
the status bar with DeepSeek's multi-head latent attention (a tiny random-weight checkpoint), whose
cache holds a compressed latent and one RoPE key per layer instead of per-head keys and values."""

from __future__ import annotations

import pytest

from tests.engine.checkpoints import write_hf
from tests.ui.driver import ask
from tests.ui.test_cache_preferences import choose_kind
from tests.ui.test_preferences import open_preferences
from ui.text_format import byte_size

LATENT_BYTES = 3 * (64 + 32) * 4  # layers × (kv_lora_rank + qk_rope_head_dim) × float32
FULL_KV_BYTES = 2 * 3 * 4 * 64 * 4  # what 2 × layers × heads × head_dim would claim


@pytest.fixture
def deepseek(tmp_path):
    return write_hf("deepseek_v3", tmp_path / "tiny-deepseek")


def test_preferences_and_status_bar_count_the_latent(qtbot, launch, deepseek):
    app = launch(model=str(deepseek), max_new_tokens=4)
    dialog = open_preferences(qtbot, app.window)
    labels = [dialog.kv_kind_combo.itemText(i) for i in range(dialog.kv_kind_combo.count())]
    assert f"{LATENT_BYTES:,} B/token" in labels[0] and f"{FULL_KV_BYTES:,}" not in labels[0]
    choose_kind(dialog, "plain")
    assert dialog.kv_cost.text().endswith(f"{LATENT_BYTES:,} bytes per token = 3 layers × (64 latent + 32 RoPE key) × 4 bytes")
    choose_kind(dialog, "quantized8")
    quantized = int(dialog.kv_cost.text().split(". ")[-1].split(" bytes")[0].replace(",", ""))
    assert 0 < quantized < LATENT_BYTES
    dialog.reject()

    ask(qtbot, app, "Hi")
    session = app.core.worker_thread.worker._session
    (held,) = session.cache.memory.keys()
    tokens = session.cache.memory.peek(held)[0].offset
    assert app.window.status.kv_label.full_text() == f"KV cache {byte_size(tokens * LATENT_BYTES)}"
