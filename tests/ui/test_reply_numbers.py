"""A reply's numbers are computed one way (`app.reply_numbers`) wherever they come from: the status
bar while it streams, a Stop, or a reply left behind when the app closes or the conversation
changes; so a reply cut short by closing the app reopens showing exactly what was shown."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from app.backend import finish_stats
from app.store import clean_stats
from tests.app.fakes import FakeBackend
from tests.ui.driver import REPLY_TIMEOUT_MS, type_and_send


def shown(status) -> dict[str, str]:
    """The status bar's numbers as the user reads them (the KV cache is held only while it runs)."""
    return {"speed": status.speed_label.text(), "first token": status.ttft_label.text(),
            "prompt": status.prompt_label.text(), "context": status.context_label.text()}  # fmt: skip


def test_a_reply_cut_short_by_closing_the_app_reopens_with_the_numbers_it_showed(qtbot, launch, tmp_path):
    app = launch(FakeBackend(endless=True))
    type_and_send(qtbot, app.window, "go on forever")
    qtbot.waitUntil(lambda: len(app.controller.message(1).tokens) >= 30, timeout=REPLY_TIMEOUT_MS)
    live = shown(app.window.status)  # nothing runs between reading the window and closing it
    reply = app.controller.message(1)
    tokens = list(reply.tokens)
    assert live["speed"].endswith("tok/s") and live["context"]
    app.close()

    again = launch(FakeBackend(), profile=tmp_path)
    view = again.window.transcript.views[1]
    assert view.message.text == "".join(t.text for t in tokens)  # every token shown is kept
    assert shown(again.window.status) == live  # the numbers shown when it was closed
    assert live["speed"] in view.meta_label.text() and "Glassbox was closed" in view.meta_label.text()
    # the same numbers a Stop saves (the backend's finished stats), plus why it stopped
    stopped = clean_stats(finish_stats(tokens[-1], len(tokens), 2048))
    stored = again.controller.store.message(view.message.id).stats
    assert stored == {**stopped, "finish_reason": "cancelled", "stopped_because": "Glassbox was closed"}


def test_while_a_continued_reply_streams_the_numbers_count_only_this_run(qtbot, launch):
    """Continue sends the reply so far inside the prompt: the context holds it once, and the speed
    is of the tokens this run made (not all of the reply's over this run's time)."""
    app = launch(FakeBackend(endless=True))
    type_and_send(qtbot, app.window, "go on forever")
    qtbot.waitUntil(lambda: len(app.controller.message(1).tokens) >= 20, timeout=REPLY_TIMEOUT_MS)
    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        QTest.keyClick(app.window.composer.box, Qt.Key.Key_Escape)  # Stop
    before = len(app.controller.message(1).tokens)
    with qtbot.waitSignal(app.controller.busy_changed, timeout=REPLY_TIMEOUT_MS):
        app.controller.continue_reply()
    qtbot.waitUntil(lambda: len(app.controller.message(1).tokens) >= before + 20, timeout=REPLY_TIMEOUT_MS)
    numbers = app.controller.live_numbers()
    run = len(app.controller.message(1).tokens) - before
    last = app.controller.message(1).tokens[-1]
    assert numbers["context_used"] == last.prompt_tokens + run  # the prompt already holds the first part
    assert numbers["tokens_per_s"] == (run - 1) / (last.elapsed_s - last.ttft_s)
    assert app.window.status.speed_label.text() == f"{numbers['tokens_per_s']:.1f} tok/s"
    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        QTest.keyClick(app.window.composer.box, Qt.Key.Key_Escape)


def test_while_a_reply_branched_from_an_alternative_streams_its_kept_start_is_counted_once(qtbot, launch):
    """Trial 4: "Continue with “ cats”" showed context = prompt (which holds the kept tokens) + all
    the reply's tokens again, and a speed over tokens this run never made."""
    app = launch(FakeBackend(endless=True))
    type_and_send(qtbot, app.window, "go on forever")
    qtbot.waitUntil(lambda: len(app.controller.message(1).tokens) >= 20, timeout=REPLY_TIMEOUT_MS)
    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        QTest.keyClick(app.window.composer.box, Qt.Key.Key_Escape)
    alternative = app.controller.message(1).tokens[10].top_raw[1][0]
    assert app.controller.continue_with(1, 10, alternative)
    qtbot.waitUntil(lambda: len(app.controller.message(1).tokens) >= 40, timeout=REPLY_TIMEOUT_MS)
    numbers = app.controller.live_numbers()
    tokens = app.controller.message(1).tokens
    run = len(tokens) - 10  # the ten kept tokens are in the prompt
    assert numbers["context_used"] == tokens[-1].prompt_tokens + run
    assert numbers["tokens_per_s"] == (run - 1) / (tokens[-1].elapsed_s - tokens[-1].ttft_s)
    assert app.window.status.context_label.text().startswith(f"context {numbers['context_used']:,} / ")
    with qtbot.waitSignal(app.controller.reply_finished, timeout=REPLY_TIMEOUT_MS):
        QTest.keyClick(app.window.composer.box, Qt.Key.Key_Escape)
