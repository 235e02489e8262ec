"""What the composition root (ui/main.py) tells the user at start-up about damaged files."""

from __future__ import annotations

from app.main import parse_args
from tests.app.fakes import FakeBackend
from ui.main import launch


def test_unreadable_settings_are_kept_and_said_in_the_window(qtbot, tmp_path):
    config = tmp_path / "config"
    config.mkdir()
    (config / "settings.json").write_text("{ not json", encoding="utf-8")
    args = parse_args(["--data-dir", str(tmp_path / "data"), "--config-dir", str(config)])
    _qt_app, core, window = launch(args, FakeBackend(), start=False)
    qtbot.addWidget(window)
    try:
        assert "could not be read" in window.notice.text()
        assert list(config.glob("settings.json.unreadable-*"))
    finally:
        core.shutdown()
