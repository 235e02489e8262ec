"""A model's licence before first use, in the window: a tiny Gemma 3 GGUF that declares Gemma's
terms (general.license "gemma", the terms' HTML copy beside it, as `fetch` keeps them) asks once;
Accept is remembered for that file across launches, Decline goes back to the default model and
says so; Help → About names the licence in full."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QTimer

from app.settings import SettingsFile
from tests.engine.checkpoints import write_gguf
from tests.ui.driver import LOAD_TIMEOUT_MS
from ui.about_dialog import AboutDialog
from ui.licence_gate import LicenceDialog

TERMS_HTML = "<h1>Gemma Terms of Use</h1><p>Use &amp; <b>share</b> as <a href='https://x'>section 3</a> says.</p>"


@pytest.fixture
def gemma(tmp_path):
    (tmp_path / "models").mkdir()
    path = write_gguf("gemma3", tmp_path / "models" / "tiny-gemma.gguf", strings={"general.license": "gemma"})
    (path.parent / "tiny-gemma.gguf.license.html").write_text(TERMS_HTML)
    return path


def _shown_dialog(qtbot, window) -> LicenceDialog:
    qtbot.waitUntil(lambda: window.licence_gate.dialog is not None and window.licence_gate.dialog.isVisible(),
                    timeout=LOAD_TIMEOUT_MS)
    return window.licence_gate.dialog


def test_gemma_terms_are_shown_once_and_accepting_is_remembered(qtbot, launch, gemma, tmp_path):
    app = launch(model=str(gemma))
    dialog = _shown_dialog(qtbot, app.window)
    name = app.controller.model_info["display_name"]  # as the window names the model everywhere
    assert dialog.windowTitle() == f"Licence of {name}"
    assert dialog.intro.text().startswith(f"{name} is licensed under the Gemma Terms of Use (not Apache-2.0).")
    assert "The terms online: https://ai.google.dev/gemma/terms" in dialog.intro.text()
    assert dialog.text.toPlainText() == "Gemma Terms of Use\nUse & share as section 3 says."  # text, not markup
    assert dialog.isModal()
    dialog.accept_button.click()
    assert app.window.licence_gate.dialog is None
    stored = SettingsFile(tmp_path / "config").load().app.accepted_licences
    assert stored == (f"gemma {gemma.resolve()}",)

    shown = []
    QTimer.singleShot(200, lambda: (shown.append(app.window.findChild(AboutDialog).info.model_license),
                                    app.window.findChild(AboutDialog).reject()))
    app.window.show_about()
    assert shown == ["Gemma Terms of Use (not Apache-2.0)"]
    app.close()

    again = launch(profile=tmp_path)  # the same profile: the same file is not asked about again
    qtbot.wait(200)
    assert again.window.licence_gate.dialog is None
    assert again.controller.model_info["license"] == "gemma"


def test_declining_goes_back_to_the_default_model(qtbot, launch, gemma, tmp_path):
    app = launch(model=str(gemma))
    dialog = _shown_dialog(qtbot, app.window)
    name = app.controller.model_info["display_name"]
    with qtbot.waitSignal(app.controller.model_loaded, timeout=LOAD_TIMEOUT_MS) as loaded:
        dialog.decline_button.click()
        assert not app.window.composer.isEnabled()  # nothing goes to the declined model meanwhile
    assert loaded.args[0]["spec"] == "default" and app.controller.settings.app.model == "default"
    assert app.window.notice.text() == (
        f"You declined the Gemma Terms of Use (not Apache-2.0), so {name} is not used: going back to the "
        "default model.")
    assert SettingsFile(tmp_path / "config").load().app.accepted_licences == ()
    assert app.window.licence_gate.dialog is None  # the default model's Apache-2.0 asks nothing
    assert app.window.composer.isEnabled()
