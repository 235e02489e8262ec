"""Take docs/inspector/*.png: each Inspector view on a real conversation with the default model.

    python scripts/inspector_screenshots.py docs/inspector [--question TEXT]

Like scripts/screenshot.py (which it reuses): a real X display (its own Xvfb when there is none),
a temporary profile, the real window. Asks the question, inspects the reply's " Paris" (else its
first capitalised word after the first token), opens every step in turn
(the attention view with one head's full map, the LM head with a typed-in token, the sampling
playground at temperature 0.8 / top-p 0.9) and grabs the floating Inspector window; then inspects
a position in the question itself (the training objective and the tokenization views on it).
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

from scripts.screenshot import SEED, on_a_display, pump, wait  # noqa: E402

QUESTION = "What is the capital of France?"


def slug(title: str) -> str:
    number, name = title.split(" · ")
    name = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    while "--" in name:
        name = name.replace("--", "-")
    return f"{int(number):02d}-{name}"


def take(out: Path, question: str) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    from app.backend import EngineBackend
    from app.main import parse_args
    from app.settings import Settings, SettingsFile
    from engine.sampling import SamplingSettings
    from ui.inspector.model_views import EmbeddingView
    from ui.main import launch

    profile = tempfile.mkdtemp(prefix="glassbox-inspector-shot-")
    base = Settings()
    settings = replace(base, sampling=replace(base.sampling, seed=SEED), app=replace(base.app, max_new_tokens=24))
    SettingsFile(f"{profile}/config").save(settings)
    args = parse_args(["--data-dir", f"{profile}/data", "--config-dir", f"{profile}/config"])
    qt_app, core, window = launch(args, EngineBackend())
    if core.controller.model_info is None and not wait(core.controller.model_loaded, 300):
        sys.exit("the default model did not load")
    QTest.keyClicks(window.composer.box, question)
    QTest.keyClick(window.composer.box, Qt.Key.Key_Return)
    if not wait(core.controller.reply_finished, 900):
        sys.exit("no reply within 15 minutes")
    pump(0.3)
    reply_index = len(core.controller.conversation.messages) - 1
    tokens = core.controller.message(reply_index).tokens
    named = [i for i, t in enumerate(tokens) if t.piece.strip() == "Paris"]
    words = named or [i for i, t in enumerate(tokens) if t.piece.strip()[:1].isupper() and i > 0]
    k = words[0] if words else min(3, len(tokens) - 1)

    dock = window.inspector
    inspector = dock.inspector
    service = inspector.service
    dock.setFloating(True)
    dock.resize(1180, 860)
    dock.inspect(reply_index, k)
    if not wait(service.step_ready, 600):
        sys.exit("the Inspector did not answer")
    out.mkdir(parents=True, exist_ok=True)
    for view in inspector.views:
        inspector.select_step(view.title.split(" · ")[0] + " ·")
        if view is inspector.attention:
            view.layer_box.setValue(15)
            view.head_box.setValue(4)
            view.map_button.click()
            wait(service.map_ready, 600)
        elif isinstance(view, EmbeddingView):
            view.analogy_button.click()
            wait(service.analogy_ready, 120)
        elif view is inspector.lm_head:
            view.lookup_box.setText(" London")
            view.lookup_box.returnPressed.emit()
            wait(service.lookup_ready, 120)
        elif view is inspector.sampling:
            view.set_settings(SamplingSettings(temperature=0.8, top_p=0.9, seed=SEED))
            view.settings_changed.emit(view.settings())
            wait(service.playground_ready, 120)
        pump(0.4)
        path = out / f"{slug(view.title)}.png"
        if not dock.grab().save(str(path)):
            sys.exit(f"could not write {path}")
        print(f"wrote {path}")
    # the training objective on the user's own words: a position in the question, inspected
    char = question.find("capital") + 2 if "capital" in question else len(question) // 2
    dock.inspect_message(reply_index - 1, char)
    if not wait(service.step_ready, 600):
        sys.exit("the Inspector did not answer for the user's message")
    for prefix, name in (("13 ·", "13-training-objective"), ("2 ·", "02-tokenization-your-message")):
        inspector.select_step(prefix)
        pump(0.4)
        path = out / f"{name}.png"
        if not dock.grab().save(str(path)):
            sys.exit(f"could not write {path}")
        print(f"wrote {path}")
    window.close()
    core.shutdown()
    shutil.rmtree(profile, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--question", default=QUESTION)
    args = parser.parse_args()
    with on_a_display():
        take(args.out, args.question)


if __name__ == "__main__":
    main()
