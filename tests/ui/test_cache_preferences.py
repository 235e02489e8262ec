"""The Cache tab of Preferences: what the user picks is saved and reaches the next request."""

from __future__ import annotations

import re

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.settings import CacheConfig, SettingsFile
from engine.cache import QuantizedKVCache
from tests.app.fakes import FakeBackend
from tests.ui.driver import ask
from tests.ui.test_preferences import open_preferences, set_field


def choose_kind(dialog, kind: str) -> None:
    dialog.tabs.setCurrentIndex([dialog.tabs.tabText(i) for i in range(dialog.tabs.count())].index("Cache"))
    dialog.kv_kind_combo.setCurrentIndex(dialog.kv_kind_combo.findData(kind))


def test_the_chosen_cache_settings_persist_and_reach_the_next_request(qtbot, launch, tmp_path):
    backend = FakeBackend()
    app = launch(backend)
    dialog = open_preferences(qtbot, app.window)
    choose_kind(dialog, "rotating")
    assert dialog.fields["kv_window"].isEnabled()
    set_field(dialog, "kv_window", "32")
    assert not dialog.save_button.isEnabled() and "Cache ⚠" in [dialog.tabs.tabText(i) for i in range(5)]
    set_field(dialog, "kv_window", "256")
    choose_kind(dialog, "quantized8")
    assert not dialog.fields["kv_window"].isEnabled()
    set_field(dialog, "prompt_cache_entries", "3")
    dialog.disk_cache_check.setChecked(False)
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.isVisible())

    stored = SettingsFile(tmp_path / "config").load().app
    assert stored.cache_config == CacheConfig("quantized8", 256, 3, 1024, False)
    ask(qtbot, app, "Hello")
    assert backend.sessions[-1].requests[-1].cache == CacheConfig("quantized8", 256, 3, 1024, False)

    dialog = open_preferences(qtbot, app.window)  # reopened: shows what was saved
    assert dialog.kv_kind_combo.currentData() == "quantized8" and not dialog.disk_cache_check.isChecked()
    dialog.reject()


@pytest.mark.slow
def test_quantized_cache_chosen_in_preferences_serves_the_conversation(qtbot, launch):
    app = launch(max_new_tokens=8)
    dialog = open_preferences(qtbot, app.window)
    labels = [dialog.kv_kind_combo.itemText(i) for i in range(dialog.kv_kind_combo.count())]
    assert "46,080 B/token" in labels[0] and "12,960 B/token" in labels[2]  # the default model's costs
    choose_kind(dialog, "quantized8")
    assert "3.6× less than plain" in dialog.kv_cost.text()
    QTest.mouseClick(dialog.save_button, Qt.MouseButton.LeftButton)

    first = ask(qtbot, app, "Name a colour.")
    second = ask(qtbot, app, "Name another one.")

    assert first.text.strip() and second.text.strip()
    shown = re.fullmatch(r"prompt ([\d,]+) tok \(([\d,]+) cached · ([\d,]+) computed\)",
                         app.window.status.prompt_label.full_text())
    total, cached, computed = (int(g.replace(",", "")) for g in shown.groups())
    assert cached > 0 and cached + computed == total
    session = app.core.worker_thread.worker._session
    # Every entry is 8-bit. There may be two: a sampled reply's ids need not be the ids its text
    # tokenizes to in the next prompt, and then the first entry is copied rather than extended.
    held = session.cache.memory.keys()
    assert held and all(
        isinstance(c, QuantizedKVCache) and c.bits == 8 for tokens in held for c in session.cache.memory.peek(tokens)
    )


def test_status_bar_says_how_much_of_the_prompt_came_from_the_cache(qtbot):
    from ui.status_bar import StatusBar

    bar = StatusBar()
    qtbot.addWidget(bar)
    bar.show_stats({"prompt_tokens": 2173, "cached_tokens": 2146, "ttft_s": 1.0451, "cache_source": "disk",
                    "context_used": 2200, "kv_bytes": 0})
    # what the label says in full (at a narrow width or a larger text size it shows a shorter form)
    assert bar.prompt_label.full_text() == "prompt 2,173 tok (2,146 cached · 27 computed)"
    assert "prompt cache" in bar.prompt_label.toolTip() and "from disk" in bar.prompt_label.toolTip()
    assert bar.ttft_label.text() == "first token 1.0 s"
