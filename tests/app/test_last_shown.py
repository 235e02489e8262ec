"""What `ChatController.reopen` opens at start: the conversation last on screen; the latest one
when nothing is remembered, the file cannot be read, or that conversation is gone."""

from __future__ import annotations

import pytest

from app.controller import ChatController
from app.last_shown import FILE_NAME, LastShown, Shown
from app.settings import Settings
from app.store import Store
from app.worker import Worker, WorkerThread
from tests.app.fakes import FakeBackend

TIMEOUT_MS = 20000


@pytest.fixture
def start(qtbot, tmp_path):
    """start() -> a controller over tmp_path's database, reopened as at start."""
    opened = []

    def make():
        thread = WorkerThread(Worker(FakeBackend()))
        store = Store(tmp_path / "glassbox.db")
        controller = ChatController(thread.worker, Settings(), store)
        opened.append((thread, controller, store))
        with qtbot.waitSignal(controller.model_loaded, timeout=TIMEOUT_MS):
            controller.load_model("default")
        controller.reopen()
        return controller

    def stop():
        thread, controller, store = opened.pop()
        controller.close()
        thread.stop()
        store.close()

    make.stop = stop
    yield make
    while opened:
        stop()


def two_conversations(qtbot, controller) -> tuple[int, int]:
    """(older, newer) ids, the older one on screen."""
    ids = []
    for text in ("older", "newer"):
        controller.new_chat()
        with qtbot.waitSignal(controller.reply_finished, timeout=TIMEOUT_MS):
            controller.send(text)
        ids.append(controller.conversation_id)
    controller.open_conversation(ids[0])
    return ids[0], ids[1]


def test_the_conversation_on_screen_is_remembered_as_it_changes(qtbot, start, tmp_path):
    controller = start()
    older, newer = two_conversations(qtbot, controller)
    assert LastShown(tmp_path / FILE_NAME).get() == Shown(older)  # saved before any close: a crash keeps it
    start.stop()
    assert start().conversation_id == older


@pytest.mark.parametrize("damage", ["not json", '{"conversation": "3"}', '{"conversation": 0}', "[]", None])
def test_an_unreadable_or_missing_file_opens_the_latest(qtbot, start, tmp_path, damage):
    controller = start()
    _older, newer = two_conversations(qtbot, controller)
    start.stop()
    path = tmp_path / FILE_NAME
    if damage is None:
        path.unlink()
    else:
        path.write_text(damage, encoding="utf-8")
    assert start().conversation_id == newer


def test_a_conversation_that_is_gone_opens_the_latest(qtbot, start, tmp_path):
    controller = start()
    older, newer = two_conversations(qtbot, controller)
    start.stop()
    store = Store(tmp_path / "glassbox.db")
    store.delete_conversation(older)  # gone behind Glassbox's back (another copy of the database)
    store.close()
    assert start().conversation_id == newer
