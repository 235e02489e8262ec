"""The Inspector on a hybrid model (a tiny random-weight qwen3_next) driven like a user: a
linear-attention layer is named as such, with no heads or weights claimed, its map is refused with
the reason (the button comes back), and a full-attention layer's map is drawn."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from tests.engine.checkpoints import write_hf
from tests.ui.driver import ask, clickable_token
from tests.ui.test_inspector import TIMEOUT_MS, _click_step


def test_a_linear_attention_layer_says_it_has_no_map(qtbot, launch, tmp_path):
    app = launch(model=str(write_hf("qwen3_next", tmp_path / "tiny-qwen3-next")), max_new_tokens=4)
    window = app.window
    ask(qtbot, app, "Hi")
    view = window.transcript.views[1]
    menu = view.build_context_menu(view.text.token_point(clickable_token(view.text)))
    service = window.inspector.inspector.service
    with qtbot.waitSignal(service.step_ready, timeout=TIMEOUT_MS):
        next(a for a in menu.actions() if a.text() == "Inspect").trigger()
    attention = _click_step(qtbot, window.inspector.inspector, "6 ·")

    attention.layer_box.setValue(0)
    text = attention.kind_label.text()
    assert "linear attention" in text and "no attention weights" in text and "KV head" not in text
    assert attention.table.rowCount() == 0 and "no weight per position to list" in attention.summary.text()
    with qtbot.waitSignal(service.failed, timeout=TIMEOUT_MS) as failed:
        QTest.mouseClick(attention.map_button, Qt.MouseButton.LeftButton)
    assert "linear-attention layer" in failed.args[0] and "no attention map" in failed.args[0]
    qtbot.waitUntil(lambda: "linear-attention layer" in window.inspector.inspector.status_label.text(), timeout=TIMEOUT_MS)
    assert attention.map_button.isEnabled() and not attention.map_label.isVisible()

    attention.layer_box.setValue(1)
    assert "full causal attention" in attention.kind_label.text() and "share KV head" in attention.kind_label.text()
    assert attention.table.rowCount() > 0 and "the rows below are its weights" in attention.summary.text()
    with qtbot.waitSignal(service.map_ready, timeout=TIMEOUT_MS):
        QTest.mouseClick(attention.map_button, Qt.MouseButton.LeftButton)
    assert attention.map_label.isVisible() and not attention.map_label.image().isNull()
