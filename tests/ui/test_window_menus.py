"""Menus, copying, the tint toggle and the live panel, with a fake backend (fast)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QTextCursor
from PySide6.QtTest import QTest

from tests.app.fakes import REPLY, FakeBackend
from tests.ui.driver import REPLY_TIMEOUT_MS, ask, type_and_send, without_markup

CODE_REPLY = "Try this:\n\n```python\nprint('hi')\nx = 1\n```\n\nDone."


def background_at(view, token_index: int):
    """The background colour the document gives a token's first visible character."""
    first, _ = view.text._token_span[token_index]
    text = view.text.document().toRawText()
    while text[first].isspace():
        first += 1
    cursor = QTextCursor(view.text.document())
    cursor.setPosition(first + 1)
    return cursor.charFormat().background().color()


def test_the_reply_renders_markdown_and_copies_as_written(qtbot, launch):
    app = launch(FakeBackend())
    ask(qtbot, app, "hello")
    view = app.window.transcript.views[1]
    assert without_markup(view.text.document()) == "Hello world, this is a fake reply."  # ** and * rendered
    assert view.text.toPlainText() == REPLY  # their characters drawn faint
    QTest.mouseClick(view.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == REPLY
    app.window.transcript.views[0].copy_text()
    assert QGuiApplication.clipboard().text() == "hello"


def test_code_blocks_are_monospace_and_copyable(qtbot, launch):
    app = launch(FakeBackend(reply=CODE_REPLY))
    ask(qtbot, app, "code please")
    view = app.window.transcript.views[1]
    doc = view.text.document()
    block = doc.findBlock(doc.toPlainText().index("print"))
    cursor = QTextCursor(block)
    cursor.setPosition(block.position() + 1)
    families = [f.lower() for f in cursor.charFormat().fontFamilies() or []]
    assert families and "mono" in families[0]  # the system fixed font, then "monospace" and emoji
    prose = QTextCursor(doc.findBlock(0))
    prose.setPosition(1)
    assert "mono" not in " ".join(prose.charFormat().fontFamilies() or []).lower()
    point = view.text.cursorRect(cursor).center()
    assert view.text.code_block_at(point) == "print('hi')\nx = 1"
    menu = view.build_context_menu(point)
    actions = {a.text(): a for a in menu.actions()}
    actions["Copy Code Block"].trigger()
    assert QGuiApplication.clipboard().text() == "print('hi')\nx = 1"


def test_tint_toggle_removes_and_restores_the_colours(qtbot, launch):
    app = launch(FakeBackend())
    reply = ask(qtbot, app, "hello")
    view = app.window.transcript.views[1]
    unsure = next(i for i, t in enumerate(reply.tokens) if t.logprob < -0.5 and t.text.strip())
    assert background_at(view, unsure).alpha() > 0
    app.window.tint_action.trigger()
    assert background_at(view, unsure).alpha() == 0
    assert app.controller.settings.app.probability_tint is False
    app.window.tint_action.trigger()
    assert background_at(view, unsure).alpha() > 0


def test_the_panel_follows_the_stream_until_a_token_is_clicked(qtbot, launch):
    app = launch(FakeBackend(endless=True))
    panel = app.window.panel
    type_and_send(qtbot, app.window, "go on")
    qtbot.waitUntil(lambda: panel.record is not None and len(app.controller.message(1).tokens) > 3,
                    timeout=REPLY_TIMEOUT_MS)
    assert panel.subtitle.text().startswith("Live")
    view = app.window.transcript.views[1]
    qtbot.waitUntil(lambda: view.text.token_point(1) is not None)
    QTest.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     view.text.token_point(1))
    picked = panel.record
    assert picked is app.controller.message(1).tokens[1]
    count = len(app.controller.message(1).tokens)
    qtbot.waitUntil(lambda: len(app.controller.message(1).tokens) > count + 2, timeout=REPLY_TIMEOUT_MS)
    assert panel.record is picked and panel.subtitle.text().startswith("Selected")
    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        QTest.mouseClick(app.window.composer.button, Qt.MouseButton.LeftButton)  # Stop
    assert app.controller.message(1).finish_reason == "cancelled"


def test_new_chat_clears_the_transcript_and_the_panel(qtbot, launch):
    app = launch(FakeBackend())
    ask(qtbot, app, "hello")
    view = app.window.transcript.views[1]
    QTest.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     view.text.token_point(0))
    assert app.window.panel.record is not None
    QTest.keyClick(app.window.composer.box, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert app.window.transcript.views == [] and app.window.panel.record is None
    assert app.window.transcript.empty_label.isVisibleTo(app.window)


def test_switch_model_menu_lists_and_loads_models(qtbot, launch, tmp_path):
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")
    app = launch(FakeBackend())
    app.window._fill_models_menu()
    labels = {a.text(): a for a in app.window.models_menu.actions()}
    default = next(a for text, a in labels.items() if "(default)" in text)
    assert default.isChecked()
    with qtbot.waitSignal(app.controller.model_loaded, timeout=REPLY_TIMEOUT_MS):
        app.window.choose_model(str(other))
    app.window._fill_models_menu()
    checked = [a.text() for a in app.window.models_menu.actions() if a.isChecked()]
    assert checked == ["other"]  # the file's name as every view names a model (app.model_names)
    assert app.controller.settings.app.recent_models == (str(other),)
    assert "Fake" in app.window.status.model_label.text()


def test_a_failed_reply_shows_its_message_and_the_next_one_works(qtbot, launch):
    app = launch(FakeBackend())
    with qtbot.waitSignal(app.controller.reply_failed, timeout=REPLY_TIMEOUT_MS):
        type_and_send(qtbot, app.window, "explode")
    view = app.window.transcript.views[1]
    assert "exploded" in view.error_label.text() and not view.error_label.isHidden()
    assert "exploded" in app.window.notice.text()
    assert ask(qtbot, app, "hello").text == REPLY


def test_edit_menu_acts_on_the_focused_text(qtbot, launch):
    app = launch(FakeBackend())
    box = app.window.composer.box
    box.setFocus()
    qtbot.waitUntil(box.hasFocus)
    QTest.keyClicks(box, "some words")
    actions = {a.text().replace("&", ""): a for a in app.window.menuBar().actions()[1].menu().actions()}
    assert actions["Copy"].shortcut().toString() == "Ctrl+C"
    actions["Select All"].trigger()
    actions["Cut"].trigger()
    assert box.toPlainText() == "" and QGuiApplication.clipboard().text() == "some words"
    actions["Paste"].trigger()
    assert box.toPlainText() == "some words"


class SlowCpuBackend(FakeBackend):
    """A model loaded without the fast CPU path: its info carries the engine's advice."""

    def load(self, spec, report):
        session = super().load(spec, report)
        session.info["speed_advice"] = "MLX is using its slow reference BLAS; install OpenBLAS."
        return session


def test_missing_openblas_is_said_once_in_the_window(qtbot, launch):
    app = launch(SlowCpuBackend())
    assert app.window.notice.text().startswith("MLX is using its slow reference BLAS")
    app.window.notice.hide()
    with qtbot.waitSignal(app.core.controller.model_loaded, timeout=REPLY_TIMEOUT_MS):
        app.core.controller.load_model("default")
    assert app.window.notice.text() == ""  # not again for the next model
