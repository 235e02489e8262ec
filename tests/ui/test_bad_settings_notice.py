"""Values in settings.json that cannot be used are named on screen with the default used instead
(trial 5: "hot", -5 and "purple" were replaced without a word); the good values are kept."""

from __future__ import annotations

import json

from app.main import parse_args
from tests.app.fakes import FakeBackend
from ui.main import launch


def test_bad_values_in_the_settings_file_are_named_in_a_banner(qtbot, tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.json").write_text(json.dumps({
        "schema_version": 3, "sampling": {"temperature": "hot"},
        "app": {"max_new_tokens": -5, "theme": "purple", "system_prompt": "Answer like a pirate.", "zoom_percent": 110},
    }), encoding="utf-8")
    args = parse_args(["--data-dir", str(tmp_path / "data"), "--config-dir", str(config)])
    _qt_app, core, window = launch(args, FakeBackend(), start=False)
    qtbot.addWidget(window)
    try:
        text = window.notice.text()
        assert window.notice.isVisible() and str(config / "settings.json") in text
        assert 'temperature "hot" (now 0.7)' in text and "max_new_tokens -5 (now 512)" in text
        assert 'theme "purple" (now "system")' in text
        app = core.controller.settings.app
        assert (app.system_prompt, app.zoom_percent) == ("Answer like a pirate.", 110)  # the good ones stay
    finally:
        window.close()
        core.shutdown()
