"""The message box counts the tokens of what is typed, with the loaded model's own tokenizer."""

from __future__ import annotations

import pytest
from PySide6.QtTest import QTest

pytestmark = pytest.mark.slow


def test_the_count_follows_the_typing(qtbot, launch, default_model_path):
    from engine.gguf import read_header
    from engine.tokenizer import tokenizer_from_gguf

    tokenizer = tokenizer_from_gguf(read_header(default_model_path).metadata)  # the model's own, read apart
    app = launch()
    composer = app.window.composer
    assert not composer.token_count.isVisible()
    text = "What is the capital of France? <|im_start|>🙂"
    QTest.keyClicks(composer.box, text.replace("🙂", ""))
    composer.box.textCursor().insertText("🙂")  # pasted: QTest types ASCII only
    n = len(tokenizer.encode(text, add_bos=False))  # special-token text counted as text
    qtbot.waitUntil(lambda: composer.token_count.text() == f"{n:,} tokens", timeout=10000)
    assert composer.token_count.isVisible()
    composer.box.clear()
    qtbot.waitUntil(lambda: not composer.token_count.isVisible(), timeout=10000)
    QTest.keyClicks(composer.box, "Hi")
    qtbot.waitUntil(lambda: composer.token_count.text() == "1 token", timeout=10000)
