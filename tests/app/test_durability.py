"""A reply being streamed survives the process being killed (SIGKILL) in the middle of it."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.store import INTERRUPTED, Store

WRITER = Path(__file__).with_name("_crash_writer.py")


@pytest.mark.slow
@pytest.mark.parametrize("delay_before_kill_s", [0.0, 0.35])
def test_sigkill_mid_reply_keeps_the_question_and_a_prefix_of_the_reply(
    tmp_path, default_lm, delay_before_kill_s
):
    db, log = tmp_path / "glassbox.db", tmp_path / "streamed.txt"
    child = subprocess.Popen(
        [sys.executable, str(WRITER), str(db), str(log)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()  # blocks until the first flush with text (or the child dies)
        assert line.strip() == "FLUSHED", f"writer said {line!r}; stderr: {child.stderr.read()[-2000:]}"
        time.sleep(delay_before_kill_s)  # later kills land while further flushes are in flight
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    streamed = log.read_text(encoding="utf-8")

    conn = sqlite3.connect(db)  # before the store opens it: the raw file must be sound
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()

    store = Store(db)
    assert store.recovered_from is None
    (conversation,) = store.list_conversations()
    question, answer = store.active_path(conversation.id)
    assert question.role == "user" and question.text.startswith("Write a long, detailed story")
    assert answer.role == "assistant"
    assert answer.text and streamed.startswith(answer.text)  # non-empty, and only what was streamed
    assert answer.finish_reason == INTERRUPTED  # it never finished, and now says so
    tokens = store.tokens(answer.id)
    assert tokens and all(0.0 < t.prob <= 1.0 for t in tokens)
    # Text and tokens are flushed in one transaction: the stored tokens spell the stored text.
    assert default_lm.tokenizer.decode([t.token for t in tokens]) == answer.text == "".join(t.text for t in tokens)
    store.close()
