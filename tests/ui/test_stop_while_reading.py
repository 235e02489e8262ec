"""Stop while the model reads a long prompt frees it at once: the reading ends at the next chunk
(not after the whole prompt), the next message is answered, and Regenerate shows its reading too."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.backend import PREFILL_STEP
from tests.ui.driver import REPLY_TIMEOUT_MS, ask

pytestmark = pytest.mark.slow


def test_stop_during_a_long_prompt_ends_the_reading_at_the_next_chunk(qtbot, launch):
    app = launch(max_new_tokens=3)
    window, controller = app.window, app.controller
    progress: list[tuple[int, int]] = []
    controller.prefill_progress.connect(lambda done, total: progress.append((done, total)))
    # the reading waits after its first chunk until Stop is clicked: a chunk can take less time
    # than a busy machine's GUI thread takes to hear that the reading began
    worker = app.core.worker_thread.worker
    stopped, stream = threading.Event(), worker._session.stream

    def held(request, should_stop, report):
        def reported(done, total):
            report(done, total)
            if done > 0:
                stopped.wait(REPLY_TIMEOUT_MS / 1000)

        return stream(request, should_stop, reported)

    worker._session.stream = held
    long_text = " ".join(f"word{i}" for i in range(1500))  # ~3,000 tokens: many chunks
    window.composer.box.setPlainText(long_text)
    with qtbot.waitSignal(controller.prefill_progress, timeout=REPLY_TIMEOUT_MS):
        QTest.keyClick(window.composer.box, Qt.Key.Key_Return)
    assert progress[0][0] == 0 and "reading the prompt" in window.transcript.views[-1].meta_label.text()
    with qtbot.waitSignal(controller.reply_finished, timeout=REPLY_TIMEOUT_MS) as done:
        window.composer.button.click()  # Stop
        stopped.set()
    total = progress[-1][1]
    assert done.args[1]["finish_reason"] == "cancelled"
    # it stopped within a chunk or two of the Stop, far from the end (one chunk may be under way)
    assert progress[-1][0] <= 2 * PREFILL_STEP < total
    # the numbers say what happened: the tokens read, no first-token time (no token came)
    stats = done.args[1]
    read = stats["cached_tokens"] + stats["computed_tokens"]
    assert progress[-1][0] <= read <= 2 * PREFILL_STEP < stats["prompt_tokens"] == total
    assert stats["ttft_s"] is None and stats["context_used"] == read
    status = window.status
    assert status.prompt_label.full_text().startswith(f"prompt {read:,} of {total:,} tok read")
    assert status.ttft_label.full_text() == "" and "first token" not in status.ttft_label.text()
    stored = app.controller.conversation.messages[-1].stats
    assert stored["computed_tokens"] == stats["computed_tokens"] and stored["ttft_s"] is None

    window.new_chat()
    reply = ask(qtbot, app, "Hi")
    assert reply.finish_reason in ("eos", "length", "stop") and reply.tokens


def test_regenerate_shows_the_prompt_being_read(qtbot, launch):
    app = launch(max_new_tokens=2)
    window, controller = app.window, app.controller
    ask(qtbot, app, "Tell me a short fact about " + "cats and dogs " * 40)
    progress: list[tuple[int, int]] = []
    controller.prefill_progress.connect(lambda done, total: progress.append((done, total)))
    with qtbot.waitSignal(controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        window.regenerate_action.trigger()
    assert progress  # the reading is shown (here mostly from the cache, still counted)
