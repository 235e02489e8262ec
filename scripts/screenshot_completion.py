"""Take docs/completion-gemma.png: Gemma 3 270M (the base model, `python -m engine fetch
gemma3-270m`) continuing a text in the completion view, a token of the continuation clicked.

    python scripts/screenshot_completion.py [docs/completion-gemma.png] [--text TEXT] [--max-tokens N]

Runs on a real X display (its own Xvfb when there is no $DISPLAY). A temporary profile holds the
settings, so the user's own are never touched; the window asks for Gemma's terms first, and this
script accepts them there as a user would (click Accept).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.screenshot import on_a_display, pump, wait  # noqa: E402

TEXT = "The three primary colours of light are"


def take(out: Path, text: str, max_tokens: int) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from app.backend import EngineBackend
    from app.main import parse_args
    from app.settings import Settings, SettingsFile
    from engine import model_catalog
    from ui.main import launch

    gemma = model_catalog.path_of(model_catalog.GEMMA3_270M)
    if not gemma.is_file():
        sys.exit("run `python -m engine fetch gemma3-270m` first")
    profile = tempfile.mkdtemp(prefix="glassbox-shot-")
    base = Settings()
    SettingsFile(f"{profile}/config").save(replace(
        base, sampling=replace(base.sampling, temperature=0.0),
        app=replace(base.app, model=str(gemma), max_new_tokens=max_tokens),
    ))
    args = parse_args(["--data-dir", f"{profile}/data", "--config-dir", f"{profile}/config"])
    qt_app, core, window = launch(args, EngineBackend())
    if core.controller.model_info is None and not wait(core.controller.model_loaded, 300):
        sys.exit("Gemma 3 270M did not load")
    pump(0.5)
    if window.licence_gate.dialog is None:
        sys.exit("the window did not ask for Gemma's terms")
    window.licence_gate.dialog.accept_button.click()
    if not window.completion.action.isChecked():
        sys.exit("the completion view is not on for the base model")
    box = window.composer.box
    box.setPlainText(text)
    QTest.keyClick(box, Qt.Key.Key_Return)
    if not wait(core.controller.reply_finished, 600):
        sys.exit("no continuation within 600 s")
    pump(0.3)
    view = window.transcript.views[-1]
    tokens = view.message.tokens
    shown = [i for i in range(len(tokens)) if view.text.token_span(i) is not None and tokens[i].text.strip()]
    unsure = [i for i in shown if tokens[i].logprob < -0.7]
    index = (unsure or shown or [0])[0]
    point = view.text.token_point(index)
    if point is not None:
        QTest.mouseClick(view.text.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, point)
    pump(0.5)
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        sys.exit(f"could not write {out}")
    print(f"wrote {out} ({window.width()}x{window.height()}): {view.message.text!r}")
    window.close()
    core.shutdown()
    shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, nargs="?", default=ROOT / "docs" / "completion-gemma.png")
    parser.add_argument("--text", default=TEXT)
    parser.add_argument("--max-tokens", type=int, default=40)
    args = parser.parse_args()
    with on_a_display():
        take(args.out, args.text, args.max_tokens)


if __name__ == "__main__":
    main()
