"""The memory intents the views get (`app.memories.Memories`): every change announced, a memory
deleted meanwhile handled as gone, a blank edit never saved."""

from app.memories import Memories
from app.store import Store


def test_changes_are_announced_and_a_blank_edit_keeps_the_text(qtbot):
    memories = Memories(Store(":memory:"))
    with qtbot.waitSignal(memories.saved) as saved:
        memory = memories.remember("  my name   is Ada ")
    assert saved.args == ["my name is Ada"]
    with qtbot.waitSignal(memories.changed):
        memories.update(memory.id, text="   ", pinned=True)
    again = memories.get(memory.id)
    assert again.text == "my name is Ada" and again.pinned


def test_a_memory_deleted_meanwhile_is_gone_not_an_error(qtbot):
    memories = Memories(Store(":memory:"))
    memory = memories.remember("I prefer metric units")
    memories.forget([memory.id])
    assert memories.get(memory.id) is None and memories.list() == []
    memories.update(memory.id, text="edited", pinned=True)  # a dialog still showing it
    assert memories.list() == []


def test_forget_candidates_only_for_a_forget_message():
    memories = Memories(Store(":memory:"))
    memories.remember("My cat is called Tom")
    assert memories.forget_candidates("what is my cat called?") is None
    assert [m.text for m in memories.forget_candidates("forget my cat")] == ["My cat is called Tom"]
