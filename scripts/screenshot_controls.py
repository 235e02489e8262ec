"""Screenshots of the window's controls in a real window (Xvfb when there is no display):

    python scripts/screenshot_controls.py docs/

writes `window-640px.png` (a 640 px wide window: the side panes folded, the chat keeps the width),
`window-panes-collapsed.png` (a wide window with both panes collapsed from the View menu),
`preferences-decoding.png` (spin boxes, one problem shown in place of its hint, stop strings),
`preferences-chat.png` (system prompt presets, the re-read warning) and `preferences-display.png`.
A real question goes to the default model in a temporary profile; the user's own data is untouched.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from screenshot import ROOT, on_a_display, pump, wait  # noqa: E402

sys.path.insert(0, str(ROOT))

QUESTION = "Write a haiku about the sea."


def take(out: Path) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from app.backend import EngineBackend
    from app.main import parse_args
    from app.settings import Settings, SettingsFile
    from ui.main import launch

    profile = tempfile.mkdtemp(prefix="glassbox-shot-")
    base = Settings()
    app = replace(base.app, max_new_tokens=48, stop_strings=("\n\nUser:",),
                  system_prompt_presets=(("Pirate", "Answer like a pirate."), ("Brief", "Answer in one sentence.")))
    SettingsFile(f"{profile}/config").save(Settings(replace(base.sampling, seed=7), app))
    args = parse_args(["--data-dir", f"{profile}/data", "--config-dir", f"{profile}/config"])
    _qt_app, core, window = launch(args, EngineBackend())
    if core.controller.model_info is None and not wait(core.controller.model_loaded, 120):
        sys.exit("the default model did not load")
    window.resize(1280, 800)
    pump(0.3)
    QTest.keyClicks(window.composer.box, QUESTION)
    QTest.keyClick(window.composer.box, Qt.Key.Key_Return)
    if not wait(core.controller.reply_finished, 300):
        sys.exit("no reply within 5 minutes")
    pump(0.3)
    out.mkdir(parents=True, exist_ok=True)

    def save(widget, name: str) -> None:
        pump(0.4)
        path = out / name
        if not widget.grab().save(str(path)):
            sys.exit(f"could not write {path}")
        print(f"wrote {path} ({widget.width()}x{widget.height()})")

    window.resize(640, 640)
    save(window, "window-640px.png")
    window.resize(1280, 800)
    pump(0.3)
    window.sidebar_action.trigger()
    window.panel_action.trigger()
    save(window, "window-panes-collapsed.png")
    window.sidebar_action.trigger()
    window.panel_action.trigger()

    window.open_preferences()
    dialog = window.preferences
    pump(0.3)
    context = dialog.fields["context_length"]
    dialog.tabs.setCurrentIndex(0)
    dialog.fields["temperature"].spin.setValue(0.9)
    save(dialog, "preferences-decoding.png")
    dialog.tabs.setCurrentIndex(2)
    context.edit.setFocus()
    context.edit.selectAll()
    QTest.keyClicks(context.edit, "100")
    save(dialog, "preferences-model-problem.png")
    context.edit.selectAll()
    QTest.keyClicks(context.edit, "0")
    dialog.tabs.setCurrentIndex(1)
    dialog.system_prompt.setPlainText("Answer like a pirate.")
    save(dialog, "preferences-chat.png")
    dialog.tabs.setCurrentIndex(4)
    save(dialog, "preferences-display.png")
    dialog.reject()
    window.close()
    core.shutdown()
    shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    with on_a_display():
        take(args.out)


if __name__ == "__main__":
    main()
