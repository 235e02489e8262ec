"""What the cache costs with a hybrid model (qwen3_next, a tiny random-weight checkpoint): its
linear-attention layers hold a fixed recurrent state however long the conversation, its
full-attention layers keys and values per token. Preferences says both; the status bar's KV figure
counts both."""

from __future__ import annotations

import pytest

from tests.engine.checkpoints import write_hf
from tests.ui.driver import ask
from tests.ui.test_cache_preferences import choose_kind
from tests.ui.test_preferences import open_preferences
from ui.text_format import byte_size

PER_TOKEN = 2 * 2 * 2 * 32 * 4  # K and V × 2 full-attention layers × 2 KV heads × 32 dims × float32
STATE = 2 * ((2 * 2 * 32 + 4 * 32) * 3 + 4 * 32 * 32) * 4  # 2 layers × (conv inputs + memory S) × float32


@pytest.fixture
def hybrid(tmp_path):
    return write_hf("qwen3_next", tmp_path / "tiny-qwen3-next")


def test_preferences_and_status_bar_count_the_state_and_the_tokens(qtbot, launch, hybrid):
    app = launch(model=str(hybrid), max_new_tokens=4)
    dialog = open_preferences(qtbot, app.window)
    choose_kind(dialog, "plain")
    assert dialog.kv_cost.text().endswith(
        f"{STATE:,} bytes of recurrent state, whatever the length, and {PER_TOKEN:,} bytes per token "
        "= 2 × 2 full-attention layers × 2 KV heads × 32 dims × 4 bytes"
    )
    dialog.reject()

    ask(qtbot, app, "Hi")
    session = app.core.worker_thread.worker._session
    (held,) = session.cache.memory.keys()
    tokens = session.cache.memory.peek(held)[0].offset
    assert app.window.status.kv_label.full_text() == f"KV cache {byte_size(STATE + tokens * PER_TOKEN)}"
