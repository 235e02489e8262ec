"""The main window driven as a user drives it, end to end with the real default model."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QToolTip

from app.settings import SettingsFile
from tests.ui.driver import LOAD_TIMEOUT_MS, REPLY_TIMEOUT_MS, ask, type_and_send

pytestmark = pytest.mark.slow
QUESTION = "What is the capital of France?"


def test_opens_ready_to_type_and_loads_the_default_model(qtbot, launch):
    app = launch(wait_for_model=False, max_new_tokens=8)
    window = app.window
    assert window.windowTitle() == "Glassbox"
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.composer.box)
    with qtbot.waitSignal(app.controller.model_loaded, timeout=LOAD_TIMEOUT_MS):
        app.core.start()
        assert window.status.progress.isVisible()  # loading shows while the window is usable
    assert "SmolLM2" in window.status.model_label.text()
    assert not window.status.progress.isVisible()
    assert window.status.context_label.text() == "context 0 / 8,192"


def test_enter_sends_and_the_reply_streams_in(qtbot, launch):
    app = launch(max_new_tokens=8)
    window = app.window
    batches = []
    app.controller.reply_tokens.connect(lambda index, records: batches.append(len(records)))
    reply = ask(qtbot, app, QUESTION)
    assert window.composer.box.toPlainText() == ""
    user_view, reply_view = window.transcript.views
    assert user_view.text.toPlainText() == QUESTION
    assert reply.text.strip() and reply_view.text.toPlainText().strip()
    assert reply.finish_reason in ("eos", "length")
    assert sum(batches) == len(reply.tokens) >= 1
    assert "tok" in window.status.prompt_label.full_text()
    assert "context" in window.status.context_label.full_text() and "KV cache" in window.status.kv_label.full_text()
    assert window.composer.button.text() == "Send"


def test_shift_enter_adds_a_line_instead_of_sending(qtbot, launch):
    app = launch(max_new_tokens=4)
    box = app.window.composer.box
    box.setFocus()
    with qtbot.assertNotEmitted(app.controller.message_added):
        QTest.keyClicks(box, "first line")
        QTest.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
        QTest.keyClicks(box, "second line")
    assert box.toPlainText() == "first line\nsecond line"


def test_blank_messages_are_not_sent(qtbot, launch):
    app = launch(max_new_tokens=4)
    with qtbot.assertNotEmitted(app.controller.message_added):
        type_and_send(qtbot, app.window, "   ")
        QTest.mouseClick(app.window.composer.button, Qt.MouseButton.LeftButton)
    assert app.window.transcript.views == []
    assert not app.window.composer.button.isEnabled()


def test_escape_stops_a_long_reply_and_keeps_the_partial_text(qtbot, launch):
    app = launch(max_new_tokens=400)
    type_and_send(qtbot, app.window, "Write a very long story about a dragon who learns to bake bread.")
    reply = app.controller.message(1)
    qtbot.waitUntil(lambda: len(reply.tokens) >= 3, timeout=REPLY_TIMEOUT_MS)
    assert app.window.composer.button.text() == "Stop"
    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        QTest.keyClick(app.window.composer.box, Qt.Key.Key_Escape)
    assert reply.finish_reason == "cancelled"
    assert 3 <= len(reply.tokens) < 400 and reply.text.strip()
    view = app.window.transcript.views[1]
    assert view.text.toPlainText().strip() and "stopped" in view.meta_label.text()
    # the app is ready for the next message
    assert app.window.composer.button.text() == "Send"


def test_hover_shows_the_token_and_click_fills_the_panel(qtbot, launch):
    app = launch(max_new_tokens=12)
    reply = ask(qtbot, app, QUESTION)
    view = app.window.transcript.views[1]
    # a visible token the sampler drew from among the model's top 10 (at temperature 0.7 one can come
    # from further down; then the panel has no row to highlight, which is right but not this test)
    index = next(
        i for i, t in enumerate(reply.tokens)
        if t.text.strip() and t.token in [c[0] for c in t.top_raw[:10]]
    )
    token = reply.tokens[index]
    point = view.text.token_point(index)
    assert point is not None and view.text.token_at(point) == index

    QTest.mouseMove(view.text.viewport(), point + QPoint(1, 0))  # a move: the pointer may rest on the point already
    QTest.mouseMove(view.text.viewport(), point)
    qtbot.waitUntil(lambda: f"token id {token.token}" in QToolTip.text())
    tip = QToolTip.text()
    assert "%" in tip and "top 5 candidates" in tip and "after your settings" in tip

    QTest.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    panel = app.window.panel
    assert panel.record is token
    assert panel.subtitle.text().startswith("Selected")
    assert panel.values["id"].text() == str(token.token)
    assert len(panel.raw_bars.rows) == 10  # the panel's top-k from the settings
    chosen = panel.raw_bars.chosen_row()
    assert chosen is not None and panel.raw_bars.rows[chosen][0] == token.token
    assert panel.final_bars.chosen_row() is not None
    assert [r[0] for r in panel.raw_bars.rows] == [t[0] for t in token.top_raw[:10]]


def test_a_corrupt_model_shows_an_error_and_the_previous_model_keeps_working(qtbot, launch, tmp_path):
    app = launch(max_new_tokens=6)
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\x03\x00\x00\x00" + b"\x00" * 64)
    with qtbot.waitSignal(app.controller.model_failed, timeout=LOAD_TIMEOUT_MS):
        app.window.choose_model(str(corrupt))  # what Model > Open Model File… does with the choice
    notice = app.window.notice.text()
    assert "Could not load the model" in notice and "corrupt.gguf" in notice and "Still using" in notice
    assert "SmolLM2" in app.window.status.model_label.text()
    reply = ask(qtbot, app, QUESTION)
    assert reply.text.strip() and reply.error is None
    # the saved choice is the model that works
    assert SettingsFile(tmp_path / "config").load().app.model == "default"


def test_settings_and_geometry_survive_a_restart(qtbot, launch, tmp_path):
    first = launch(max_new_tokens=4)
    first.window.tint_action.trigger()  # View > Probability Tint off
    first.window.resize(720, 520)  # within the offscreen screen (800x600)
    first.close()
    second = launch(wait_for_model=False)
    assert not second.window.tint_action.isChecked()
    assert second.controller.settings.app.probability_tint is False
    assert (second.window.width(), second.window.height()) == (720, 520)
