"""A model's licence before first use, in the window: a tiny Gemma 3 GGUF that declares Gemma's
terms (general.license "gemma", the terms' HTML copy beside it, as `fetch` keeps them) is asked
about *before* it loads: nothing of it is loaded or shown as in use until Accept, which is
remembered for that file across launches; Decline keeps the model in use (the default model when
none is loaded yet) and says so, and that notice goes once another model is chosen. The dialog
shows the terms themselves from their first line, never the page's menus; Help → About names the
licence in full."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QTimer

from app.model_names import display_name
from app.settings import SettingsFile
from tests.engine.checkpoints import write_gguf
from tests.ui.driver import LOAD_TIMEOUT_MS
from tests.ui.test_model_manager import _double_click, _open_dialog
from ui.about_dialog import AboutDialog
from ui.licence_gate import LicenceDialog

TERMS = "These terms govern the use of Gemma and every output it writes, as the sections below set out."
TERMS_HTML = f"""<html><body><nav><a href="/">Models</a> <a href="/docs">Docs</a> <a>Sign in</a></nav>
<ul class="languages" role="navigation"><li>English</li><li>한국어</li><li>ไทย</li></ul>
<article><div class="nocontent">Send feedback</div><h1>Gemma Terms of Use</h1><p>{TERMS}</p>
<h2>Section 1</h2><p>Use &amp; <b>share</b> as <a href='https://x'>section 3</a> says.</p></article>
<footer>Terms | Privacy</footer></body></html>"""
SHOWN = f"Gemma Terms of Use\n{TERMS}\nSection 1\nUse & share as section 3 says."


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


def _nothing_of(app, name: str) -> None:
    """Nothing of the model `name` is loaded, loading or shown as in use."""
    assert app.controller.model_info is None or app.controller.model_info["display_name"] != name
    assert not app.controller.model_loading_now
    assert name not in app.window.status.model_label.full_text()
    assert not app.window.completion.banner.isVisible() or name not in app.window.completion.banner.text()


def test_gemma_terms_are_asked_before_loading_and_accepting_is_remembered(qtbot, launch, gemma, tmp_path):
    app = launch(model=str(gemma), wait_for_model=False)
    app.core.start()
    dialog = _shown_dialog(qtbot, app.window)
    name = display_name(gemma)  # as the window names the model everywhere
    _nothing_of(app, name)
    assert app.controller.model_info is None  # not even the default model: the question comes first
    assert dialog.windowTitle() == f"Licence of {name}"
    assert dialog.intro.text().startswith(f"{name} is licensed under the Gemma Terms of Use (not Apache-2.0).")
    assert "The terms online: https://ai.google.dev/gemma/terms" in dialog.intro.text()
    assert dialog.text.toPlainText() == SHOWN  # the terms from their first line: no menu, text not markup
    assert dialog.isModal()
    with qtbot.waitSignal(app.controller.model_loaded, timeout=LOAD_TIMEOUT_MS) as loaded:
        dialog.accept_button.click()
    assert loaded.args[0]["display_name"] == name and app.window.licence_gate.dialog is None
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


def test_declining_at_start_loads_the_default_model(qtbot, launch, gemma, tmp_path):
    app = launch(model=str(gemma), wait_for_model=False)
    app.core.start()
    dialog = _shown_dialog(qtbot, app.window)
    name = display_name(gemma)
    with qtbot.waitSignal(app.controller.model_loaded, timeout=LOAD_TIMEOUT_MS) as loaded:
        dialog.decline_button.click()
        assert app.window.notice.text() == (
            f"You declined the Gemma Terms of Use (not Apache-2.0), so {name} was not loaded: loading the default "
            "model instead.")
    assert loaded.args[0]["spec"] == "default" and app.controller.settings.app.model == "default"
    assert SettingsFile(tmp_path / "config").load().app.accepted_licences == ()
    assert app.window.licence_gate.dialog is None  # the default model's Apache-2.0 asks nothing


def test_declining_a_switch_keeps_the_model_in_use_and_the_notice_goes_with_the_next_choice(
        qtbot, launch, gemma, tmp_path, monkeypatch):
    from app import model_library

    monkeypatch.setattr(model_library, "available_memory", lambda: 64 * 10**9)
    app = launch()
    default = app.controller.model_info["display_name"]
    loads = []
    app.controller.model_loading.connect(lambda *args: loads.append(args))
    manager = _open_dialog(qtbot, app)
    manager.add_folder(str(gemma.parent))  # Manage Models → Add Folder…
    qtbot.waitUntil(lambda: not manager.scanning, timeout=LOAD_TIMEOUT_MS)
    row = next(i for i, r in enumerate(manager.rows()) if r.spec == str(gemma))
    _double_click(manager, row)
    name = display_name(gemma)
    dialog = _shown_dialog(qtbot, app.window)
    _nothing_of(app, name)
    assert loads == []  # nothing is loading while the question is open
    dialog.decline_button.click()
    qtbot.wait(300)
    assert loads == [] and app.controller.model_info["display_name"] == default
    assert app.controller.settings.app.model == "default"  # the choice is taken back
    assert app.window.notice.text() == (
        f"You declined the Gemma Terms of Use (not Apache-2.0), so {name} was not loaded: {default} stays in use.")

    manager = _open_dialog(qtbot, app)  # the user changes their mind
    row = next(i for i, r in enumerate(manager.rows()) if r.spec == str(gemma))
    _double_click(manager, row)
    dialog = _shown_dialog(qtbot, app.window)
    assert app.window.notice.text() == ""  # "you declined" is no longer true: it went with the new choice
    with qtbot.waitSignal(app.controller.model_loaded, timeout=LOAD_TIMEOUT_MS) as loaded:
        dialog.accept_button.click()
    assert loaded.args[0]["display_name"] == name and app.controller.settings.app.model == str(gemma)
    assert app.window.notice.text() == ""  # and never comes back above the model now loaded


def test_a_page_with_no_readable_terms_says_so_and_where_to_read_them(qtbot, launch, gemma):
    (gemma.parent / "tiny-gemma.gguf.license.html").write_text("<nav>Models Docs Sign in</nav><script>x()</script>")
    app = launch(model=str(gemma), wait_for_model=False)
    app.core.start()
    dialog = _shown_dialog(qtbot, app.window)
    assert dialog.text.toPlainText() == (
        "Note: the copy of the terms (tiny-gemma.gguf.license.html) holds no readable terms. "
        "Read them at https://ai.google.dev/gemma/terms.")


def test_terms_only_loading_could_tell_are_asked_after_loading_and_declining_goes_back(
        qtbot, launch, gemma, monkeypatch):
    from app import session_settings

    monkeypatch.setattr(session_settings, "terms_before_loading", lambda spec, settings: None)
    app = launch(model=str(gemma))
    dialog = _shown_dialog(qtbot, app.window)
    name = app.controller.model_info["display_name"]
    with qtbot.waitSignal(app.controller.model_loaded, timeout=LOAD_TIMEOUT_MS) as loaded:
        dialog.decline_button.click()
        assert not app.window.composer.isEnabled()  # nothing goes to the declined model meanwhile
        assert app.window.notice.text() == (
            f"You declined the Gemma Terms of Use (not Apache-2.0), so {name} is not used: going back to the "
            "default model.")
    assert loaded.args[0]["spec"] == "default" and app.controller.settings.app.model == "default"
    assert app.window.composer.isEnabled() and app.window.licence_gate.dialog is None
